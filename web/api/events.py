"""Typed events on batches: one route per type, corrections, and bulk upload.

POST /api/v1/batches/{batch}/events/{type} has its own documented body per type (the
domain's marshmallow schema of that type's payload), so the OpenAPI document says exactly
what each accepts. Lab results, certifications and conformity decisions need lab:write;
every other event needs events:write. The domain's rules decide the rest (who may record
what on which batch, in which order).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import SCHEMAS, validate_payload
from farmtrace.trace.events import types as t
from farmtrace.trace.events.fields import BatchRef, ClientId, Moment, Text
from farmtrace.trace.projections import require_batch_id
from farmtrace.trace.recorder import RecordedEvent
from farmtrace.trace.recorder_bulk import EventInput
from farmtrace.web.api.auth import check_scope, current_principal, requires
from farmtrace.web.api.bulk import MAX_BULK_ITEMS, Prepared, run_bulk
from farmtrace.web.api.common import actor, entry_id, envelope, json_object, request_body
from farmtrace.web.api.context import services
from farmtrace.web.api.schemas.batches import RecordedEventOut
from farmtrace.web.api.schemas.common import ProblemSchema
from farmtrace.web.db import get_session

bp = Blueprint("events", __name__, url_prefix="/api/v1", description="Record typed events on batches.")

LAB_TYPES = (t.LAB_TESTED, t.CERTIFICATION_ATTACHED, t.CONFORMITY_DECIDED)


def scope_for(event_type: str) -> str:
    return "lab:write" if event_type in LAB_TYPES else "events:write"


def _schema_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split(".")) + "Event"


def _location(result: RecordedEvent) -> dict[str, str]:
    return {"Location": f"/api/v1/batches/{result.batch}/entries/{result.seq}"}


def _add_event_route(event_type: str) -> None:
    body = Schema.from_dict(
        {
            "event_time": Moment(
                metadata={"description": "When it happened, RFC 3339 with offset (default: now)"}
            ),
            "payload": fields.Nested(SCHEMAS[event_type], required=True),
        },
        name=_schema_name(event_type),
    )

    def record(batch: str) -> Any:
        data = envelope()
        result = services().events.record(
            batch,
            event_type,
            data["payload"],
            actor=actor(),
            event_time=data.get("event_time"),
            client_id=entry_id(),
        )
        return result, 201 if result.created else 200, _location(result)

    record.__name__ = "record_" + event_type.replace(".", "_")
    record.__doc__ = f"Record a {event_type} event on the batch."
    view = bp.response(
        201, RecordedEventOut, description="Recorded (200: a retry returned the entry recorded before)"
    )(request_body(body)(record))
    view = requires(scope_for(event_type))(view)
    bp.route(f"/batches/<batch>/events/{event_type}", methods=["POST"], endpoint=record.__name__)(view)


for _type in t.RECORDABLE:
    _add_event_route(_type)


class CorrectionIn(Schema):
    class Meta:
        unknown = RAISE

    amends = fields.String(required=True, metadata={"description": "Hash (base64) of the entry corrected"})
    reason = Text(500, required=True)
    event_time = Moment()
    payload = fields.Dict(
        required=True, metadata={"description": "The corrected payload, of the original's type"}
    )


@bp.route("/batches/<batch>/corrections", methods=["POST"])
@requires("events:write", "lab:write")
@request_body(CorrectionIn)
@bp.response(201, RecordedEventOut)
def correct(batch: str) -> Any:
    """Correct an entry by restating its payload (its author only); the original stays."""
    data = envelope(schema=_CorrectionLoad)
    result = services().events.correct(
        batch,
        data["amends"],
        data["payload"],
        actor=actor(),
        reason=data["reason"],
        event_time=data.get("event_time"),
        client_id=entry_id(),
    )
    return result, 201 if result.created else 200, _location(result)


class _CorrectionLoad(Schema):
    class Meta:
        unknown = RAISE

    amends = fields.Raw(required=True)
    reason = fields.Raw(required=True)
    event_time = fields.Raw()
    payload = fields.Raw(required=True)


# -- bulk ---------------------------------------------------------------------------------


class BulkItemIn(Schema):
    class Meta:
        unknown = RAISE

    batch = BatchRef(required=True)
    type = fields.String(required=True, validate=validate.OneOf(t.RECORDABLE))
    event_time = Moment()
    payload = fields.Dict(
        required=True, metadata={"description": "The payload of `type` (see its event route)"}
    )
    id = ClientId(metadata={"description": "This item's own entry id (idempotency key); default: derived"})


class BulkIn(Schema):
    items = fields.List(
        fields.Nested(BulkItemIn), required=True, validate=validate.Length(min=1, max=MAX_BULK_ITEMS)
    )


class _BulkLoad(Schema):
    class Meta:
        unknown = RAISE

    items = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BULK_ITEMS))


class _ItemLoad(Schema):
    class Meta:
        unknown = RAISE

    batch = fields.Raw(required=True)
    type = fields.Raw(required=True)
    event_time = fields.Raw()
    payload = fields.Raw(required=True)
    id = fields.Raw()


class BulkItemOut(Schema):
    index = fields.Integer(required=True)
    status = fields.Integer(
        required=True, metadata={"description": "201 recorded, 200 recorded before, else refused"}
    )
    batch = fields.String()
    seq = fields.Integer()
    type = fields.String()
    hash = fields.String()
    created = fields.Boolean()
    flags = fields.List(fields.String())
    problem = fields.Nested(ProblemSchema)


class BulkOut(Schema):
    recorded = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    items = fields.List(fields.Nested(BulkItemOut), required=True)


@bp.route("/events/bulk", methods=["POST"])
@requires("events:write", "lab:write")
@request_body(BulkIn, f"Up to {MAX_BULK_ITEMS} events; each batch's items are recorded all or none.")
@bp.response(200, BulkOut)
def bulk_events() -> Any:
    """Record up to 1,000 events; the answer says per item what was recorded or why not."""
    items = envelope(json_object(), _BulkLoad)["items"]
    svc = services()
    who = actor()

    def prepare(index: int, item: Any) -> Prepared[dict[str, Any]]:
        if not isinstance(item, dict):
            raise InvalidInput("(item)", f"(item): expected an object, found {type(item).__name__}")
        data = _ItemLoad().load(item)
        event_type = data["type"]
        if event_type not in t.RECORDABLE:
            raise InvalidInput(
                "type", f"type: expected one of {', '.join(t.RECORDABLE)}, found {str(event_type)[:64]!r}"
            )
        check_scope(scope_for(event_type))
        batch = require_batch_id(data["batch"])
        validate_payload(event_type, data["payload"])
        if "id" not in data:
            data["id"] = entry_id(f".{index}")
        return Prepared(batch, data)

    def record(group: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        results = svc.events.record_many(
            [
                EventInput(d["batch"], d["type"], d["payload"], who, d.get("event_time"), d["id"])
                for d in group
            ]
        )
        answers = []
        for result in results:
            out = result.to_json()
            out.pop("entry")
            answers.append(((201 if result.created else 200), out))
        return answers

    current_principal()
    results = [r.to_json() for r in run_bulk(get_session(), items, prepare, record)]
    recorded = sum(1 for r in results if r["status"] < 300)
    return {"recorded": recorded, "refused": len(results) - recorded, "items": results}
