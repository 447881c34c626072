"""Batches: register, list, show; their entries, lineage, EPCIS export and proof bundle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, json
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import parse_stored_entry
from farmtrace.ledger.models import EntryRow
from farmtrace.trace.batches import summary
from farmtrace.trace.epcis_export import LINEAGE_SCOPES, export_batch
from farmtrace.trace.events.fields import Moment
from farmtrace.trace.events.lifecycle import BatchRegisteredSchema
from farmtrace.trace.models.projection import Batch, BatchFlag
from farmtrace.trace.projections import require_batch_id
from farmtrace.web.api.auth import requires
from farmtrace.web.api.common import actor, entry_id, json_object, request_body, row_number
from farmtrace.web.api.context import services, settings
from farmtrace.web.api.pagination import keyset_page, page, time_filters
from farmtrace.web.api.schemas.batches import BatchOut, BatchSummaryOut, LineageGraphOut, RecordedEventOut
from farmtrace.web.api.schemas.common import EntrySchema, TimeRangeQuerySchema, page_schema
from farmtrace.web.db import get_session

bp = Blueprint("batches", __name__, url_prefix="/api/v1", description="Batches and their record.")

# Chains of the registry (orgs, places, products, keys) are not batches; batch ids start "B".
BATCH_CHAIN_PREFIX = "B"


class BatchQuery(TimeRangeQuerySchema):
    owner = fields.String(validate=validate.Length(max=48))
    custodian = fields.String(validate=validate.Length(max=48))
    product = fields.String(validate=validate.Length(max=48))
    recalled = fields.Boolean()


class EntryQuery(TimeRangeQuerySchema):
    type = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Only entries of this type"}
    )
    batch = fields.String(validate=validate.Length(max=64))
    author = fields.String(validate=validate.Length(max=64))


class RegisterIn(Schema):
    event_time = Moment(metadata={"description": "When the batch came to be (default: now)"})
    payload = fields.Nested(BatchRegisteredSchema(exclude=("lineage",)), required=True)


class EpcisQuery(Schema):
    lineage = fields.String(
        load_default="both",
        validate=validate.OneOf(LINEAGE_SCOPES),
        metadata={"description": "Also export batches upstream, or upstream and downstream"},
    )


BatchPage = page_schema(BatchSummaryOut, "BatchPage")
EntryPage = page_schema(EntrySchema, "EntryPage")
EntryList = Schema.from_dict(
    {"items": fields.List(fields.Nested(EntrySchema), required=True)}, name="EntryList"
)


@bp.route("/batches", methods=["GET"])
@requires("batches:read")
@bp.arguments(BatchQuery, location="query")
@bp.response(200, BatchPage)
def list_batches(args: dict[str, Any]) -> Any:
    """Batches, newest first; filter by owner, custodian, product, recall and time."""
    session = get_session()
    query = time_filters(session, select(Batch), Batch.registered_at, args)
    for name, column in (
        ("owner", Batch.owner_org_id),
        ("custodian", Batch.custodian_org_id),
        ("product", Batch.product_id),
    ):
        if name in args:
            query = query.where(column == args[name])
    if "recalled" in args:
        query = query.where(Batch.recalled.is_(args["recalled"]))
    rows, cursor = keyset_page(
        session,
        query,
        (Batch.registered_at, Batch.id),
        (datetime, str),
        args["limit"],
        args.get("cursor"),
        lambda row: (row.registered_at, row.id),
    )
    flagged = set(
        session.scalars(select(BatchFlag.batch_id).where(BatchFlag.batch_id.in_([r.id for r in rows])))
    )
    return page([summary(row, row.id in flagged) for row in rows], cursor)


@bp.route("/batches", methods=["POST"])
@requires("batches:write")
@request_body(RegisterIn)
@bp.response(201, RecordedEventOut)
def register_batch() -> Any:
    """Register a batch owned by the acting producer; its chain opens with this entry.
    With an Idempotency-Key, the batch id is derived from it, so a retry names the same batch."""
    body = json_object()
    result = services().batches.register(
        actor(), body.get("payload"), event_time=body.get("event_time"), client_id=entry_id()
    )
    status = 201 if result.created else 200
    return result, status, {"Location": f"/api/v1/batches/{result.batch}"}


@bp.route("/batches/<batch>", methods=["GET"])
@requires("batches:read")
@bp.response(200, BatchOut)
def get_batch(batch: str) -> Any:
    """What the record says about the batch now, with links to its proof bundle and EPCIS export."""
    view = services().batches.get(batch)
    out = view.to_json()
    out["registered_at"] = view.summary.registered_at
    out["proof_bundle"] = f"/bundle/{view.id}.json"
    out["epcis"] = f"/api/v1/batches/{view.id}/epcis"
    return out


@bp.route("/batches/<batch>/entries", methods=["GET"])
@requires("batches:read")
@bp.response(200, EntryList)
def batch_entries(batch: str) -> Any:
    """The batch's chain: every entry in order, as signed, with its hash."""
    return {"items": services().batches.history(batch)}


@bp.route("/batches/<batch>/entries/<int:seq>", methods=["GET"])
@requires("batches:read")
@bp.response(200, EntrySchema)
def batch_entry(batch: str, seq: int) -> Any:
    """One entry of the batch's chain."""
    require_batch_id(batch)
    row_number(seq, "seq")
    row = get_session().scalars(select(EntryRow).where(EntryRow.batch == batch, EntryRow.seq == seq)).first()
    if row is None:
        from farmtrace.trace.errors import NotFound

        raise NotFound("seq", f"seq: {batch} has no entry {seq}")
    return _entry_json(row)


@bp.route("/events", methods=["GET"])
@requires("batches:read")
@bp.arguments(EntryQuery, location="query")
@bp.response(200, EntryPage)
def list_events(args: dict[str, Any]) -> Any:
    """Entries of every batch chain, newest first; filter by type, batch, author and time."""
    session = get_session()
    query = select(EntryRow).where(EntryRow.batch.startswith(BATCH_CHAIN_PREFIX, autoescape=True))
    query = time_filters(session, query, EntryRow.recorded_at, args)
    for name, column in (
        ("type", EntryRow.entry_type),
        ("batch", EntryRow.batch),
        ("author", EntryRow.author),
    ):
        if name in args:
            query = query.where(column == args[name])
    rows, cursor = keyset_page(
        session,
        query,
        (EntryRow.recorded_at, EntryRow.id),
        (datetime, int),
        args["limit"],
        args.get("cursor"),
        lambda row: (row.recorded_at, row.id),
    )
    return page([_entry_json(row) for row in rows], cursor)


@bp.route("/batches/<batch>/lineage", methods=["GET"])
@requires("batches:read")
@bp.response(200, LineageGraphOut)
def batch_lineage(batch: str) -> Any:
    """The batch with every batch upstream and downstream of it, as nodes and edges."""
    require_batch_id(batch)
    services().batches.get(batch)
    return services().lineage.graph(batch)


@bp.route("/batches/<batch>/epcis", methods=["GET"])
@requires("export:read")
@bp.arguments(EpcisQuery, location="query")
@bp.response(200, {"type": "object"}, content_type="application/ld+json", description="An EPCIS 2.0 document")
def batch_epcis(args: dict[str, Any], batch: str) -> Any:
    """The batch's record as an EPCIS 2.0 JSON-LD document (docs/epcis.md)."""
    svc = services()
    document = export_batch(
        get_session(),
        batch,
        public_base_url=settings().public_base_url,
        created_at=svc.ctx.now(),
        lineage=args["lineage"],
    )
    return Response(json.dumps(document, ensure_ascii=False), mimetype="application/ld+json")


def _entry_json(row: EntryRow) -> dict[str, Any]:
    entry = parse_stored_entry(row.canonical)
    return {"entry": entry.fields, "signature": b64encode(row.signature), "hash": b64encode(row.entry_hash)}
