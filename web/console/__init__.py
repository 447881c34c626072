"""The console for people at work: cooperatives, labs, stations and the county operator.

Server-rendered, Chinese first, usable on a 360 px phone. One blueprint at /console with
one nested blueprint per area (auth, coop, lab, logistics, packing, operator, records);
CSRF is checked on every state-changing request and the signed-in user is loaded before
each view (web/console/access.py). See docs/console.md.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from farmtrace.ledger.errors import LedgerError
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation, TraceError
from farmtrace.web.api.common import MAX_ROW_NUMBER
from farmtrace.web.console import (
    auth,
    coop,
    csrf,
    lab,
    logistics,
    operator,
    packing,
    printing,
    records,
    reports,
)
from farmtrace.web.console.access import AREAS, current_user, load_user
from farmtrace.web.console.forms import choice_label, label
from farmtrace.web.console.pages import moment_text
from farmtrace.web.console.sessions import SESSION_IDLE_LIFETIME, KeyFileSessionInterface
from farmtrace.web.i18n import MESSAGES, translate

__all__ = ["SESSION_IDLE_LIFETIME", "KeyFileSessionInterface", "bp"]

bp = Blueprint("console", __name__, url_prefix="/console")
csrf.protect(bp)
bp.before_request(load_user)
for _area in (auth, coop, lab, logistics, packing, printing, operator, records, reports):
    bp.register_blueprint(_area.bp)


@bp.before_request
def _row_numbers() -> None:
    # An <int:...> in a console path names a row: a number no row id can hold (PostgreSQL's
    # integer, SQLite's 64 bits) is a page that does not exist, not a database error.
    values = request.view_args or {}
    if any(isinstance(v, int) and not 0 <= v <= MAX_ROW_NUMBER for v in values.values()):
        abort(404)


@bp.get("/")
def home() -> Any:
    found = current_user()
    if found is None:
        return redirect(url_for("console.auth.login"))
    return render_template("console/home.html", links=_public_links())


@bp.after_request
def _private(response: Response) -> Response:
    # Console pages hold an organisation's data and a CSRF token: never cached, by anyone.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


@bp.context_processor
def _context() -> dict[str, Any]:
    return {
        "user": current_user(),
        "csrf_field": csrf.csrf_field,
        "areas": AREAS,
        "label": label,
        "choice_label": choice_label,
        "when": moment_text,
    }


@bp.app_template_global("csrf_field")
def _csrf_field() -> Any:
    return csrf.csrf_field()


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    detail = exc.description if status in (400, 413) else None
    if isinstance(exc, csrf.CsrfRejected):
        detail = f"{translate('error.csrf')}（{exc.description}）"
    return render_template("console/error.html", status=status, title=_title(status), detail=detail), status


@bp.errorhandler(TraceError)
@bp.errorhandler(LedgerError)
def _domain_error(exc: Exception) -> tuple[str, int]:
    # Views turn expected refusals into field errors; one that escapes still gets a page.
    status = 422
    if isinstance(exc, NotPermitted):
        status = 403
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, RuleViolation):
        status = 409
    detail = exc.message if isinstance(exc, InvalidInput) else str(exc)
    return render_template("console/error.html", status=status, title=_title(status), detail=detail), status


def _title(status: int) -> str:
    key = f"error.{status}"
    return translate(key) if key in MESSAGES["zh"] else translate("error.other")


def _public_links() -> list[tuple[str, str]]:
    """Links to the data wall and the disclosure page, when those pages exist."""
    found = []
    rules = {rule.rule for rule in _url_map().iter_rules()}
    for path, message in (("/wall", "home.wall"), ("/disclosure", "home.disclosure")):
        if path in rules or path + "/" in rules:
            found.append((path, message))
    return found


def _url_map() -> Any:
    from flask import current_app

    return current_app.url_map
