"""The operator's statistics page: a period's report downloaded as CSV or XLSX.

The figures are computed by trace.reports (in SQL); this page only takes the period, the
scope and the format, and names the file. Personal data is included only when the operator
asks for it, and the file then says so in its first row (trace.reports.export).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.reports.export import csv_bytes, xlsx_bytes
from farmtrace.trace.reports.period import parse_period
from farmtrace.trace.reports.report import build_report
from farmtrace.trace.reports.scopes import Scope
from farmtrace.web.console.access import require
from farmtrace.web.console.pages import page
from farmtrace.web.db import get_session

bp = Blueprint("stats", __name__, url_prefix="/stats")

PERIODS = ("day", "month", "year", "custom")
FORMATS = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx_bytes),
    "csv": ("text/csv; charset=utf-8", csv_bytes),
}


@bp.get("/")
@require("operator")
def index() -> tuple[str, int]:
    return page(
        "operator/stats.html", form={}, error=None, periods=PERIODS, scopes=list(Scope), formats=FORMATS
    )


@bp.get("/download")
@require("operator")
def download() -> Response | tuple[str, int]:
    form = request.args.to_dict()
    kind = form.get("period", "month")
    fmt = form.get("format", "xlsx")
    try:
        if kind not in PERIODS:
            raise InvalidInput("period", f"period: expected one of {', '.join(PERIODS)}, found {kind[:20]!r}")
        if fmt not in FORMATS:
            raise InvalidInput("format", f"format: expected xlsx or csv, found {fmt[:20]!r}")
        scope_text = form.get("scope", "county")
        if scope_text not in {scope.value for scope in Scope}:
            raise InvalidInput(
                "scope", f"scope: expected one of county, town, coop, product, found {scope_text[:20]!r}"
            )
        period = parse_period(kind, form.get("date", "").strip())
    except InvalidInput as exc:
        page_args = {"periods": PERIODS, "scopes": list(Scope), "formats": FORMATS}
        return page("operator/stats.html", 422, form=form, error=exc, **page_args)
    report = build_report(
        get_session(), period, Scope(scope_text), include_personal=form.get("personal") == "1"
    )
    media_type, render = FORMATS[fmt]
    name = f"farmtrace-{kind}-{form.get('date', '').strip().replace('..', '_')}-{scope_text}.{fmt}"
    response = Response(render(report), mimetype=media_type.split(";")[0])
    response.headers["Content-Type"] = media_type
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
