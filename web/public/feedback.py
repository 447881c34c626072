"""The consumer's "report a problem" form: trace.complaints.ComplaintService.submit behind
CSRF protection and a per-client rate limit.

CSRF: the synchronizer token of web/console/csrf.py, bound to the (anonymous) session
cookie. A scan page is `no-store`, so it carries the form itself; the cacheable batch page
links to `/batch/<id>/report` instead, because a token inside a shared cached page would
be everyone's token.

Rate limit: FEEDBACK_LIMIT reports per client address and hour, counted in the same store
as web/ratelimit.py (shared by every worker), under the name "feedback-client".
"""

from __future__ import annotations

import os
import time
from typing import Final

from flask import Response, current_app, g, render_template, request

from farmtrace.trace.complaints import PROBLEM_TYPES, ComplaintService
from farmtrace.trace.errors import InvalidInput, NotFound
from farmtrace.web.api.context import services
from farmtrace.web.console import csrf
from farmtrace.web.i18n import translate
from farmtrace.web.public import bp
from farmtrace.web.public.pages import not_found_page
from farmtrace.web.public.story import BATCH_ID

LIMIT_NAME: Final = "feedback-client"
FEEDBACK_LIMIT_ENV: Final = "FARMTRACE_RATE_LIMIT_FEEDBACK_CLIENT"
DEFAULT_LIMIT: Final = "5/3600"


def feedback_limit() -> tuple[int, int]:
    count, _, seconds = os.environ.get(FEEDBACK_LIMIT_ENV, DEFAULT_LIMIT).partition("/")
    return int(count), int(seconds or 3600)


def problem_types(locale: str) -> list[tuple[str, str]]:
    return [(key, zh if locale != "en" else en) for key, (zh, en) in PROBLEM_TYPES.items()]


def _charge() -> int | None:
    """Count this report; seconds to wait if the client is over the limit, else None."""
    limiter = current_app.extensions.get("farmtrace.ratelimit")
    count, seconds = feedback_limit()
    if limiter is None or count == 0:
        return None
    subject = limiter.subject("client", (request.remote_addr or "").encode())
    now = time.time()
    window = int(now) // seconds * seconds
    used = limiter.counts.add(LIMIT_NAME, subject, window, window + seconds, now)
    return None if used <= count else max(1, int(window + seconds - now + 0.999))


def _form(batch_id: str, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    html = render_template(
        "public/report.html",
        batch_id=batch_id,
        values=values,
        errors=errors,
        types=problem_types(g.get("locale", "zh")),
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/batch/<batch_id>/report")
def report_form(batch_id: str) -> Response:
    if not BATCH_ID.match(batch_id):
        return not_found_page("batch")
    return _form(batch_id, {"serial": request.args.get("serial", "")[:64]}, {})


@bp.post("/batch/<batch_id>/report")
def report_submit(batch_id: str) -> Response:
    if not BATCH_ID.match(batch_id):
        return not_found_page("batch")
    values = {k: request.form.get(k, "")[:4000] for k in ("problem_type", "text", "phone", "serial")}
    try:
        csrf.verify()
    except csrf.CsrfRejected:
        return _form(batch_id, values, {"form": translate("report.csrf")}, 400)
    wait = _charge()
    if wait is not None:
        response = _form(
            batch_id, values, {"form": translate("report.too_many", minutes=-(-wait // 60))}, 429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    ctx = services().ctx
    try:
        ComplaintService(ctx).submit(
            batch_id,
            values["problem_type"],
            values["text"],
            serial=values["serial"] or None,
            phone=values["phone"] or None,
        )
    except NotFound:
        return not_found_page("batch")
    except InvalidInput as exc:
        field = exc.field if exc.field in ("problem_type", "text", "phone", "serial") else "form"
        return _form(batch_id, values, {field: translate(f"report.bad.{field}")}, 422)
    html = render_template("public/report_done.html", batch_id=batch_id)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
