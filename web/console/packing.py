"""Packing stations (and the operator): record packing, issue codes to a batch, void or
reprint a range or one code with a reason, and download a range's codes for printing.

Print jobs belong to the printing glue (issue 8); when a `console.printing` page is
registered the batch page links to it, otherwise it offers the CSV export (the same
serial,uri lines as `farmtrace codes export`) and says print jobs are not available yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for

from farmtrace.trace.batches import BatchView
from farmtrace.trace.codes.export import CSV_HEADER, plan_export
from farmtrace.trace.codes.issue import LAYOUT
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import SCHEMAS
from farmtrace.trace.events import types as t
from farmtrace.web.api.context import settings
from farmtrace.web.console import queries
from farmtrace.web.console.access import require, user
from farmtrace.web.console.forms import Field, bind, describe
from farmtrace.web.console.pages import (
    Outcome,
    attempt,
    batch_or_404,
    client_id,
    codes,
    done,
    endpoint_url,
    new_client_id,
    now_input,
    page,
    resolve_batch,
    split_event,
    svc,
)
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("packing", __name__, url_prefix="/packing")
_LINES_PER_CHUNK = 2_000


@bp.get("/")
@require("packing")
def index() -> tuple[str, int]:
    return _index(_find_field(""))


def _find_field(value: str, error: str | None = None) -> Field:
    return Field("code", translate("field.batch_or_code"), "text", value=value, error=error, scan=True)


def _index(find: Field, status: int = 200) -> tuple[str, int]:
    me = user()
    db = get_session()
    held = svc().batches.list(custodian=me.org_id, limit=200)
    ranges = queries.recent_ranges(db, None if me.org_kind == "operator" else me.org_id)
    orgs, _places, products = queries.names(db)
    return page(
        "packing/index.html", status, held=held, ranges=ranges, orgs=orgs, products=products, find=find
    )


@bp.get("/find")
@require("packing")
def find() -> Any:
    code = request.args.get("code", "")
    try:
        batch_id = resolve_batch(code)
    except InvalidInput as exc:
        return _index(_find_field(code, exc.message), 422)
    return redirect(url_for("console.packing.batch", batch_id=batch_id))


# -- the batch page ---------------------------------------------------------------------------


def _pack_fields() -> list[Field]:
    return [
        *describe(
            SCHEMAS[t.PACKED](),
            ["packages", "package", "net_quantity", "net_unit", "place", "notes"],
            overrides={"place": {"choices": _facility_choices()}},
        ),
        Field("event_time", translate("field.event_time"), "datetime", help=translate("form.time_help")),
        Field("client_id", "", "hidden"),
    ]


def _facility_choices() -> tuple[tuple[str, str], ...]:
    from sqlalchemy import select

    from farmtrace.trace.models.registry import Place

    rows = get_session().scalars(
        select(Place).where(Place.kind.in_(("facility", "warehouse", "cold_store"))).order_by(Place.id)
    )
    return tuple((p.id, f"{p.name_zh}（{p.id}）") for p in rows)


def _issue_fields() -> list[Field]:
    limit = settings().max_codes_per_request
    return [
        Field(
            "count",
            translate("field.count"),
            "number",
            required=True,
            minimum=1,
            maximum=limit,
            help=translate("packing.count_help", limit=f"{limit:,}"),
        ),
        Field(
            "layout", translate("field.layout"), "text", max_length=32, help=translate("packing.layout_help")
        ),
        Field("client_id", "", "hidden"),
    ]


def _reason_fields(prefix: str) -> list[Field]:
    return [Field(f"{prefix}reason", translate("field.reason"), "text", required=True, max_length=500)]


def _void_code_fields() -> list[Field]:
    return [
        Field("code", translate("field.code"), "text", required=True, scan=True),
        Field("reason", translate("field.reason"), "text", required=True, max_length=500),
    ]


def _page(
    view: BatchView, status: int = 200, active: str | None = None, outcome: Outcome | None = None
) -> tuple[str, int]:
    me = user()
    ranges = codes().ranges(view.id)
    forms: dict[str, list[Field]] = {
        "pack": bind(
            _pack_fields(), {"event_time": now_input(), "client_id": new_client_id(), "package": "box"}
        ),
        "issue": bind(_issue_fields(), {"client_id": new_client_id()}),
        "void_code": bind(_void_code_fields()),
    }
    for rng in ranges:
        for kind in ("void", "reprint"):
            forms[f"{kind}-{rng.range_id}"] = bind(_reason_fields(""))
    if outcome is not None and active is not None:
        forms[active] = outcome.fields
    orgs, places, products = queries.names(get_session())
    return page(
        "packing/batch.html",
        status,
        batch=view,
        ranges=ranges,
        forms=forms,
        active=active,
        general=outcome.general if outcome is not None else [],
        custodian=view.summary.custodian == me.org_id,
        print_url=endpoint_url("console.printing.new", batch_id=view.id),
        orgs=orgs,
        places=places,
        products=products,
    )


@bp.get("/batches/<batch_id>")
@require("packing")
def batch(batch_id: str) -> tuple[str, int]:
    return _page(batch_or_404(batch_id))


@bp.post("/batches/<batch_id>/pack")
@require("packing", write=True)
def pack(batch_id: str) -> Any:
    view = batch_or_404(batch_id)

    def action(data: dict[str, Any]) -> Any:
        data, moment = split_event(data)
        return svc().events.record(
            batch_id, t.PACKED, data, actor=user().org_id, event_time=moment, client_id=client_id()
        )

    outcome = attempt(_pack_fields(), action)
    if not outcome.ok:
        return _page(view, 422, "pack", outcome)
    return done(translate("packing.packed"), url_for("console.packing.batch", batch_id=batch_id))


@bp.post("/batches/<batch_id>/issue")
@require("packing", write=True)
def issue(batch_id: str) -> Any:
    view = batch_or_404(batch_id)

    def action(data: dict[str, Any]) -> Any:
        layout = data.get("layout")
        if layout is not None and not LAYOUT.match(layout):
            raise InvalidInput(
                "layout", f"layout: expected a layout name like '50x30' or 'a4-3x8', found {layout!r}"
            )
        return codes().issue(user().org_id, batch_id, data.get("count"), layout=layout, client_id=client_id())

    outcome = attempt(_issue_fields(), action, prefix="")
    if not outcome.ok:
        return _page(view, 422, "issue", outcome)
    issued = outcome.value
    message = translate("packing.issued", count=f"{issued.count:,}", range=issued.range_id)
    return done(
        message, url_for("console.packing.batch", batch_id=batch_id, _anchor=f"range-{issued.range_id}")
    )


@bp.post("/batches/<batch_id>/void-code")
@require("packing", write=True)
def void_code(batch_id: str) -> Any:
    view = batch_or_404(batch_id)

    def action(data: dict[str, Any]) -> Any:
        code = data.get("code", "")
        if resolve_batch(code) != batch_id:
            raise InvalidInput("code", f"code: {translate('packing.other_batch')}")
        return codes().void(user().org_id, data.get("reason", ""), code=code)

    outcome = attempt(_void_code_fields(), action, prefix="")
    if not outcome.ok:
        return _page(view, 422, "void_code", outcome)
    return done(translate("packing.code_voided"), url_for("console.packing.batch", batch_id=batch_id))


def _range(range_id: int) -> CodeRange:
    row = get_session().get(CodeRange, range_id)
    if row is None:
        abort(404)
    me = user()
    if me.org_kind != "operator" and row.station_org_id != me.org_id:
        abort(403)
    return row


@bp.post("/ranges/<int:range_id>/<kind>")
@require("packing", write=True)
def range_event(range_id: int, kind: str) -> Any:
    if kind not in ("void", "reprint"):
        abort(404)
    row = _range(range_id)
    view = batch_or_404(row.batch_id)
    service = codes()

    def action(data: dict[str, Any]) -> Any:
        reason = data.get("reason", "")
        if kind == "void":
            return service.void(user().org_id, reason, range_id=range_id)
        return service.reprint(user().org_id, reason, range_id=range_id)

    outcome = attempt(_reason_fields(""), action, prefix="")
    if not outcome.ok:
        return _page(view, 422, f"{kind}-{range_id}", outcome)
    message = translate(
        "packing.range_voided" if kind == "void" else "packing.range_reprinted", range=range_id
    )
    return done(message, url_for("console.packing.batch", batch_id=row.batch_id, _anchor=f"range-{range_id}"))


@bp.get("/ranges/<int:range_id>/codes.csv")
@require("packing")
def export(range_id: int) -> Response:
    """Every live code of the range as serial,uri lines, streamed (a range may hold a million)."""
    row = _range(range_id)
    domain = settings().public_base_url.split("://", 1)[1].split("/", 1)[0]
    plan = plan_export(get_session(), codes().keyring(), domain, row.batch_id, range_id)

    def lines() -> Iterator[str]:
        yield CSV_HEADER
        chunk: list[str] = []
        for serial, uri in plan:
            chunk.append(f"{serial},{uri}\n")
            if len(chunk) == _LINES_PER_CHUNK:
                yield "".join(chunk)
                chunk.clear()
        yield "".join(chunk)

    filename = f"{row.batch_id}-range{range_id}.csv"
    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
