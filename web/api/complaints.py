"""Complaints about a batch: forwarded by shops, listed and handled (working data, not the record)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from farmtrace.trace.complaints import (
    MAX_NOTES,
    MAX_TEXT,
    PROBLEM_TYPES,
    STATUSES,
    ComplaintService,
    ComplaintView,
)
from farmtrace.web.api.auth import current_principal, requires
from farmtrace.web.api.common import MAX_ROW_NUMBER, actor, envelope, request_body, row_number
from farmtrace.web.api.context import services
from farmtrace.web.api.pagination import decode_cursor, encode_cursor, page
from farmtrace.web.api.schemas.common import PageQuerySchema, Timestamp, page_schema

bp = Blueprint(
    "complaints", __name__, url_prefix="/api/v1", description="Consumers' complaints about batches."
)


class ComplaintOut(Schema):
    id = fields.Integer(required=True)
    batch = fields.String(required=True, attribute="batch_id")
    serial = fields.String(required=True, allow_none=True)
    problem_type = fields.String(required=True)
    text = fields.String(required=True)
    phone = fields.String(allow_none=True, metadata={"description": "Shown to the county operator only"})
    created_at = Timestamp(required=True)
    status = fields.String(required=True)
    handled_by = fields.String(required=True, allow_none=True)
    handled_at = Timestamp(required=True, allow_none=True)
    notes = fields.String(required=True, allow_none=True)


class ComplaintQuery(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(tuple(STATUSES)))
    batch = fields.String(validate=validate.Length(max=64))


class ComplaintIn(Schema):
    class Meta:
        unknown = RAISE

    problem_type = fields.String(required=True, validate=validate.OneOf(tuple(PROBLEM_TYPES)))
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    serial = fields.String(
        validate=validate.Length(max=64), metadata={"description": "The item's code, if scanned"}
    )
    phone = fields.String(
        validate=validate.Length(max=40), metadata={"description": "For the operator to call back"}
    )


class HandleIn(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(required=True, validate=validate.OneOf(tuple(STATUSES)))
    notes = fields.String(validate=validate.Length(max=MAX_NOTES))


class _Raw(Schema):
    class Meta:
        unknown = RAISE

    problem_type = fields.Raw(required=True)
    text = fields.Raw(required=True)
    serial = fields.Raw()
    phone = fields.Raw()


ComplaintPage = page_schema(ComplaintOut, "ComplaintPage")


def _is_operator() -> bool:
    return services().orgs.get(actor()).kind == "operator"


@bp.route("/complaints", methods=["GET"])
@requires("batches:read")
@bp.arguments(ComplaintQuery, location="query")
@bp.response(200, ComplaintPage)
def list_complaints(args: dict[str, Any]) -> Any:
    """Complaints, newest first: the operator sees all (with phone numbers), others those
    about the batches they registered."""
    offset = decode_cursor(args["cursor"], (int,))[0] if args.get("cursor") else 0
    operator = _is_operator()
    views = ComplaintService(services().ctx).list(
        status=args.get("status"),
        batch_id=args.get("batch"),
        owner=None if operator else actor(),
        include_phone=operator,
        limit=args["limit"] + 1,
        offset=min(offset, MAX_ROW_NUMBER),
    )
    more = len(views) > args["limit"]
    return page(views[: args["limit"]], encode_cursor([offset + args["limit"]]) if more else None)


@bp.route("/batches/<batch>/complaints", methods=["POST"])
@requires("events:write")
@request_body(ComplaintIn)
@bp.response(201, ComplaintOut)
def submit_complaint(batch: str) -> Any:
    """Forward a consumer's complaint about the batch (a shop's customer service)."""
    data = envelope(schema=_Raw)
    view: ComplaintView = ComplaintService(services().ctx).submit(
        batch, data["problem_type"], data["text"], serial=data.get("serial"), phone=data.get("phone")
    )
    return view, 201, {"Location": f"/api/v1/complaints/{view.id}"}


@bp.route("/complaints/<int:complaint>", methods=["GET"])
@requires("batches:read")
@bp.response(200, ComplaintOut)
def get_complaint(complaint: int) -> Any:
    """One complaint (the operator's view includes the phone number)."""
    service = ComplaintService(services().ctx)
    view = service.get(row_number(complaint, "complaint"), include_phone=_is_operator())
    if not _is_operator() and services().batches.get(view.batch_id).summary.owner != actor():
        from farmtrace.trace.errors import NotFound

        raise NotFound("complaint", f"complaint: no complaint {complaint}")
    return view


@bp.route("/complaints/<int:complaint>/handle", methods=["POST"])
@requires("admin")
@request_body(HandleIn)
@bp.response(200, ComplaintOut)
def handle_complaint(complaint: int) -> Any:
    """Set a complaint's status and notes (the county operator)."""
    data = envelope(schema=HandleIn)
    principal = current_principal()
    return ComplaintService(services().ctx).handle(
        actor(),
        row_number(complaint, "complaint"),
        status=data["status"],
        handled_by=f"token {principal.token_id}",
        notes=data.get("notes"),
    )
