"""Operations across batches: split, merge, transform (lineage) and recalls."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields
from sqlalchemy import select

from farmtrace.trace.events.fields import BatchRef, ListOf, Moment, Text, WholeNumber
from farmtrace.trace.lineage import MakeSchema, TakeSchema
from farmtrace.trace.models.projection import Recall
from farmtrace.web.api.auth import requires
from farmtrace.web.api.common import actor, entry_id, envelope, request_body
from farmtrace.web.api.context import services
from farmtrace.web.api.schemas.batches import LineageResultOut, RecallOut, RecallResultOut
from farmtrace.web.db import get_session

bp = Blueprint("flows", __name__, url_prefix="/api/v1", description="Split, merge, transform; recalls.")


def _raw(*names: str, required: tuple[str, ...] = ()) -> type[Schema]:
    """A loading schema: these top-level names only (unknown refused), values left raw for
    the domain, which validates them and names every bad field."""
    attrs: dict[str, Any] = {name: fields.Raw(required=name in required) for name in names}
    attrs["Meta"] = type("Meta", (), {"unknown": RAISE})
    return type("RawBody", (Schema,), attrs)


class SplitIn(Schema):
    batch = BatchRef(required=True)
    outputs = ListOf(fields.Nested(MakeSchema), maximum=100, required=True)
    event_time = Moment()


class MergeIn(Schema):
    inputs = ListOf(fields.Nested(TakeSchema), maximum=50, required=True)
    output = fields.Nested(MakeSchema)
    event_time = Moment()


class TransformIn(Schema):
    inputs = ListOf(fields.Nested(TakeSchema), maximum=50, required=True)
    outputs = ListOf(fields.Nested(MakeSchema), maximum=100, required=True)
    event_time = Moment()


class RecallIn(Schema):
    reason = Text(500, required=True)
    level = WholeNumber(minimum=1, maximum=3, metadata={"description": "食品召回 level 1-3 (default 2)"})
    event_time = Moment()


class LiftIn(Schema):
    reason = Text(500, required=True)
    event_time = Moment()


RecallList = Schema.from_dict(
    {"items": fields.List(fields.Nested(RecallOut), required=True)}, name="RecallList"
)


def _answer(result: Any, location: str) -> Any:
    return result, 201 if result.created else 200, {"Location": location}


@bp.route("/lineage/split", methods=["POST"])
@requires("batches:write")
@request_body(SplitIn)
@bp.response(201, LineageResultOut)
def split() -> Any:
    """Split a batch into new batches of the same product."""
    data = envelope(schema=_raw("batch", "outputs", "event_time", required=("batch", "outputs")))
    result = services().lineage.split(
        actor(), data["batch"], data["outputs"], event_time=data.get("event_time"), client_id=entry_id()
    )
    return _answer(result, f"/api/v1/batches/{result.outputs[0]}")


@bp.route("/lineage/merge", methods=["POST"])
@requires("batches:write")
@request_body(MergeIn)
@bp.response(201, LineageResultOut)
def merge() -> Any:
    """Merge batches into one new batch."""
    data = envelope(schema=_raw("inputs", "output", "event_time", required=("inputs",)))
    result = services().lineage.merge(
        actor(), data["inputs"], data.get("output"), event_time=data.get("event_time"), client_id=entry_id()
    )
    return _answer(result, f"/api/v1/batches/{result.outputs[0]}")


@bp.route("/lineage/transform", methods=["POST"])
@requires("batches:write")
@request_body(TransformIn)
@bp.response(201, LineageResultOut)
def transform() -> Any:
    """Turn input batches into output batches of other products (e.g. rice into rice wine)."""
    data = envelope(schema=_raw("inputs", "outputs", "event_time", required=("inputs", "outputs")))
    result = services().lineage.transform(
        actor(), data["inputs"], data["outputs"], event_time=data.get("event_time"), client_id=entry_id()
    )
    return _answer(result, f"/api/v1/batches/{result.outputs[0]}")


@bp.route("/batches/<batch>/recalls", methods=["GET"])
@requires("batches:read")
@bp.response(200, RecallList)
def list_recalls(batch: str) -> Any:
    """Recalls that reached the batch (its own, or one of a batch upstream of it)."""
    services().batches.get(batch)
    return {"items": services().recalls.recalls_of(batch)}


@bp.route("/batches/<batch>/recalls", methods=["POST"])
@requires("batches:write")
@request_body(RecallIn)
@bp.response(201, RecallResultOut)
def issue_recall(batch: str) -> Any:
    """Recall the batch and everything made from it (the operator, or the batch's owner)."""
    data = envelope(schema=_raw("reason", "level", "event_time", required=("reason",)))
    result = services().recalls.issue(
        actor(),
        batch,
        data["reason"],
        data.get("level", 2),
        event_time=data.get("event_time"),
        client_id=entry_id(),
    )
    return _answer(result, f"/api/v1/recalls/{result.recall_id}")


@bp.route("/recalls/<recall_id>", methods=["GET"])
@requires("batches:read")
@bp.response(200, RecallList)
def get_recall(recall_id: str) -> Any:
    """The recall as it reached each batch."""
    rows = list(
        get_session().scalars(select(Recall).where(Recall.recall_id == recall_id).order_by(Recall.issue_seq))
    )
    if not rows:
        from farmtrace.trace.errors import NotFound

        raise NotFound("recall_id", f"recall_id: no recall {recall_id[:32]!r}")
    return {"items": rows}


@bp.route("/recalls/<recall_id>/lift", methods=["POST"])
@requires("batches:write")
@request_body(LiftIn)
@bp.response(201, RecallResultOut)
def lift_recall(recall_id: str) -> Any:
    """Lift a recall on every batch it reached (the operator, or whoever issued it)."""
    data = envelope(schema=_raw("reason", "event_time", required=("reason",)))
    result = services().recalls.lift(
        actor(), recall_id, data["reason"], event_time=data.get("event_time"), client_id=entry_id()
    )
    return _answer(result, f"/api/v1/recalls/{recall_id}")
