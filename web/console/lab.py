"""Testing labs: the samples awaiting results, and one result set per batch — results with
their method standard and limits, the report PDF, signed (with the lab's custodial key) and
recorded as lab.tested."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from farmtrace.ledger.errors import IdempotencyConflict, LedgerError
from farmtrace.trace.documents import store_document
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import types as t
from farmtrace.trace.events.quality import LabResultSchema, LabTestSchema
from farmtrace.trace.text import clean_text
from farmtrace.web.console import queries
from farmtrace.web.console.access import require, user
from farmtrace.web.console.forms import Field, bind, describe, errors_from, payload
from farmtrace.web.console.pages import (
    batch_or_404,
    client_id,
    done,
    new_client_id,
    now_input,
    page,
    resolve_batch,
    svc,
)
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("lab", __name__, url_prefix="/lab")

MAX_REPORT_BYTES = 10 * 1024 * 1024  # below the app's request limit, so this message is the one seen
DEFAULT_ROWS = 3
MAX_ROWS = 100
ROW_FIELDS = ("analyte", "method", "value", "limit", "limit_kind", "limit_standard", "unit", "verdict")
_HEX64 = frozenset("0123456789abcdef")


@bp.get("/")
@require("lab")
def index() -> tuple[str, int]:
    db = get_session()
    awaiting = queries.awaiting_lab(db)
    orgs, _places, products = queries.names(db)
    find = Field("code", translate("field.batch_or_code"), "text", scan=True)
    return page("lab/index.html", awaiting=awaiting, orgs=orgs, products=products, find=find)


@bp.get("/find")
@require("lab")
def find() -> Any:
    code = request.args.get("code", "")
    try:
        batch_id = resolve_batch(code)
    except InvalidInput as exc:
        db = get_session()
        orgs, _places, products = queries.names(db)
        field = Field(
            "code", translate("field.batch_or_code"), "text", value=code, error=exc.message, scan=True
        )
        return page(
            "lab/index.html", 422, awaiting=queries.awaiting_lab(db), orgs=orgs, products=products, find=field
        )
    return redirect(url_for("console.lab.test", batch_id=batch_id))


def _top_fields() -> list[Field]:
    return [
        *describe(LabTestSchema(), ["sample_id", "sampled_at"]),
        Field("event_time", translate("field.tested_at"), "datetime", help=translate("form.time_help")),
        *describe(LabTestSchema(), ["verdict", "notes"]),
    ]


def _row_fields(index: int) -> list[Field]:
    out = []
    for field in describe(LabResultSchema(), ROW_FIELDS):
        out.append(
            Field(
                f"results-{index}-{field.name}",
                field.label,
                field.widget,
                required=field.required,
                choices=field.choices,
                max_length=field.max_length,
                help=translate("lab.method_help") if field.name == "method" and index == 0 else None,
            )
        )
    return out


def _form_state(rows: int, form: Any, errors: dict[str, str]) -> dict[str, Any]:
    return {
        "top": bind(_top_fields(), form, errors),
        "rows": [bind(_row_fields(i), form, errors) for i in range(rows)],
        "row_count": rows,
        "report_error": errors.get("report"),
        "sign_error": errors.get("sign"),
        "report_sha256": form.get("report_sha256", ""),
        "report_name": form.get("report_name", ""),
        "client_id": form.get("client_id", ""),
        "signed": form.get("sign") == "on",
    }


@bp.route("/batches/<batch_id>/test", methods=["GET", "POST"])
@require("lab")
def test(batch_id: str) -> Any:
    view = batch_or_404(batch_id)
    me = user()
    if request.method == "GET":
        defaults = {"event_time": now_input(), "client_id": new_client_id()}
        return page("lab/test.html", batch=view, general=[], **_form_state(DEFAULT_ROWS, defaults, {}))
    if not me.may_record:
        abort(403)
    rows = _row_count(request.form.get("rows"))
    if request.form.get("action") == "add_row":
        form = MultiDict(request.form)
        return page("lab/test.html", batch=view, general=[], **_form_state(min(rows + 1, MAX_ROWS), form, {}))

    errors: dict[str, str] = {}
    general: list[str] = []
    form, results = _compact_rows(request.form, rows)
    report_sha256, report_name = _report(form, errors)
    form["report_sha256"] = report_sha256 or ""
    form["report_name"] = report_name or ""
    if form.get("sign") != "on":
        errors["sign"] = translate("lab.sign_required", lab=me.org_name)
    data = payload(_top_fields(), form)
    moment = data.pop("event_time", None)
    data["results"] = results
    if report_sha256:
        data["report_sha256"] = report_sha256
    names = [f.name for f in _top_fields()] + [f.name for i in range(len(results)) for f in _row_fields(i)]
    if not errors:
        try:
            svc().events.record(
                batch_id, t.LAB_TESTED, data, actor=me.org_id, event_time=moment, client_id=client_id()
            )
        except InvalidInput as exc:
            by_field, general = errors_from(exc, [*names, "results", "report_sha256"])
            if "report_sha256" in by_field:
                errors["report"] = by_field.pop("report_sha256")
            if "results" in by_field:
                general.insert(0, f"{translate('lab.results')}：{by_field.pop('results')}")
            errors.update(by_field)
        except IdempotencyConflict:
            general = [translate("form.resubmitted")]
        except LedgerError as exc:
            general = [str(exc)]
        else:
            return done(translate("lab.recorded", batch=batch_id), url_for("console.lab.index"))
    shown_rows = max(len(results), 1)
    return page("lab/test.html", 422, batch=view, general=general, **_form_state(shown_rows, form, errors))


def _row_count(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or DEFAULT_ROWS), MAX_ROWS))
    except ValueError:
        return DEFAULT_ROWS


def _compact_rows(posted: MultiDict[str, str], rows: int) -> tuple[MultiDict[str, str], list[dict[str, Any]]]:
    """The rows someone filled in, renumbered from 0 (blank rows dropped), so that the
    schema's results[i] errors land on the row shown as row i."""
    form: MultiDict[str, str] = MultiDict(
        (k, v) for k, v in posted.items(multi=True) if not k.startswith("results-")
    )
    results: list[dict[str, Any]] = []
    for index in range(rows):
        values = {name: posted.get(f"results-{index}-{name}", "") for name in ROW_FIELDS}
        if not any(v.strip() for v in values.values()):
            continue
        position = len(results)
        for name, value in values.items():
            form[f"results-{position}-{name}"] = value
        typed = payload(_row_fields(position), form)
        results.append({key.split("-", 2)[2]: value for key, value in typed.items()})
    form["rows"] = str(max(len(results), 1))
    return form, results


def _report(form: MultiDict[str, str], errors: dict[str, str]) -> tuple[str | None, str | None]:
    """The report's SHA-256: a newly uploaded PDF (stored at once), or the one uploaded before."""
    upload = request.files.get("report")
    previous = form.get("report_sha256", "")
    name = form.get("report_name", "") or None
    if upload is not None and upload.filename:
        content = upload.read(MAX_REPORT_BYTES + 1)
        if len(content) > MAX_REPORT_BYTES:
            errors["report"] = translate("lab.report_too_big", mb=MAX_REPORT_BYTES // (1024 * 1024))
            return None, None
        if not content.startswith(b"%PDF-"):
            errors["report"] = translate("lab.report_not_pdf")
            return None, None
        try:
            name = clean_text("filename", upload.filename, max_length=200)
        except InvalidInput:
            name = "report.pdf"
        try:
            digest = store_document(
                svc().ctx, content, "application/pdf", filename=name, uploaded_by=user().org_id
            )
        except InvalidInput as exc:
            errors["report"] = exc.message
            return None, None
        # Kept even if the rest of the form is refused: it is content-addressed and immutable,
        # and the form then carries its hash, so the lab does not upload it again.
        get_session().commit()
        return digest, name
    if len(previous) == 64 and set(previous) <= _HEX64 and svc().ctx.document_exists(previous):
        return previous, name
    errors["report"] = translate("lab.report_required")
    return None, None
