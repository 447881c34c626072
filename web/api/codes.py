"""Codes: issue a range of item codes to a batch, look ranges up, void and reprint."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from farmtrace.ledger.encoding import b64encode
from farmtrace.trace.codes.issue import CodeService, IssuedRange, RangeEvent
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events.fields import Text
from farmtrace.web.api.auth import requires
from farmtrace.web.api.common import MAX_ROW_NUMBER, actor, entry_id, envelope, request_body, row_number
from farmtrace.web.api.context import services, settings

bp = Blueprint(
    "codes", __name__, url_prefix="/api/v1", description="Item codes (one code per item) and their ranges."
)

TIME = {"format": "date-time"}


class RangeEventOut(Schema):
    scope = fields.String(required=True, metadata={"description": "range or code"})
    serial = fields.String(required=True, allow_none=True)
    count = fields.Integer(required=True)
    reason = fields.String(required=True)
    org = fields.String(required=True)
    at = fields.String(required=True, metadata=TIME)
    entry_hash = fields.String(required=True)


class RangeOut(Schema):
    range = fields.Integer(required=True)
    batch = fields.String(required=True)
    count = fields.Integer(required=True)
    key_id = fields.Integer(required=True)
    station = fields.String(required=True)
    layout = fields.String(required=True, allow_none=True)
    first_serial = fields.String(required=True, allow_none=True)
    last_serial = fields.String(required=True, allow_none=True)
    entry_hash = fields.String(required=True)
    issued_at = fields.String(required=True, metadata=TIME)
    created = fields.Boolean(required=True)
    voided = fields.Boolean(required=True)
    voids = fields.List(fields.Nested(RangeEventOut), required=True)
    reprints = fields.List(fields.Nested(RangeEventOut), required=True)


class IssueIn(Schema):
    class Meta:
        unknown = RAISE

    count = fields.Integer(
        required=True, validate=validate.Range(min=1), metadata={"description": "How many codes"}
    )
    layout = fields.String(
        validate=validate.Length(max=32), metadata={"description": "Label layout, e.g. 70x50"}
    )


class RangeActionIn(Schema):
    class Meta:
        unknown = RAISE

    reason = Text(500, required=True)
    range = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ROW_NUMBER),
        metadata={"description": "A whole range; or give `code`"},
    )
    code = fields.String(
        validate=validate.Length(max=200), metadata={"description": "One code (serial or URI)"}
    )


class RangeEventResult(RangeEventOut):
    kind = fields.String(required=True, metadata={"description": "void or reprint"})


RangeList = Schema.from_dict({"items": fields.List(fields.Nested(RangeOut), required=True)}, name="RangeList")


def code_service() -> CodeService:
    return CodeService(services().ctx, max_count=settings().max_codes_per_request)


def _range_json(issued: IssuedRange) -> dict[str, Any]:
    return issued.to_json()


def _event_json(event: RangeEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "scope": event.scope,
        "serial": event.serial,
        "count": event.count,
        "reason": event.reason,
        "org": event.org,
        "at": event.at.isoformat(),
        "entry_hash": b64encode(event.entry_hash),
    }


@bp.route("/batches/<batch>/codes", methods=["POST"])
@requires("codes:write")
@request_body(IssueIn)
@bp.response(201, RangeOut)
def issue_codes(batch: str) -> Any:
    """Issue `count` new codes to the batch (a packing station or the operator): one range,
    one ledger entry, no row per code."""
    data = envelope(schema=IssueIn)
    issued = code_service().issue(
        actor(), batch, data["count"], layout=data.get("layout"), client_id=entry_id()
    )
    return (
        _range_json(issued),
        201 if issued.created else 200,
        {"Location": f"/api/v1/codes/ranges/{issued.range_id}"},
    )


@bp.route("/batches/<batch>/codes", methods=["GET"])
@requires("batches:read")
@bp.response(200, RangeList)
def list_ranges(batch: str) -> Any:
    """The code ranges issued to the batch, with their voids and reprints."""
    return {"items": [_range_json(r) for r in code_service().ranges(batch)]}


@bp.route("/codes/ranges/<int:range>", methods=["GET"])
@requires("batches:read")
@bp.response(200, RangeOut)
def get_range(range: int) -> Any:
    """One code range."""
    return _range_json(code_service().range(row_number(range, "range")))


def _range_action(kind: str) -> Any:
    data = envelope(schema=RangeActionIn)
    if ("range" in data) == ("code" in data):
        raise InvalidInput(
            "range", "range: give either `range` (a whole range) or `code` (one code), not both"
        )
    service = code_service()
    action = service.void if kind == "void" else service.reprint
    event = action(
        actor(), data["reason"], range_id=data.get("range"), code=data.get("code"), client_id=entry_id()
    )
    return _event_json(event), 201


@bp.route("/codes/voids", methods=["POST"])
@requires("codes:write")
@request_body(RangeActionIn)
@bp.response(201, RangeEventResult)
def void_codes() -> Any:
    """Void a whole range or one code (damaged labels, a misprinted roll), with a reason."""
    return _range_action("void")


@bp.route("/codes/reprints", methods=["POST"])
@requires("codes:write")
@request_body(RangeActionIn)
@bp.response(201, RangeEventResult)
def reprint_codes() -> Any:
    """Record that a range's labels (or one code's) were printed again, and why."""
    return _range_action("reprint")
