"""What every console view does alike: render, run a form through the domain, find a batch.

A form POST runs its domain call inside `attempt`: on success the view redirects (so a
reload never posts twice); on a refusal the same page is rendered again with status 422,
every field holding what was typed and each error next to its field. Every ledger write
carries a client_id made when the form was first shown, so a retry of the same form on a
flaky connection returns the entry already recorded instead of recording it twice.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from farmtrace.ledger.errors import IdempotencyConflict, LedgerError
from farmtrace.trace.batches import BatchView
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.resolve import locate
from farmtrace.trace.errors import InvalidInput, NotFound
from farmtrace.trace.events.fields import BATCH_ID
from farmtrace.trace.services import TraceServices
from farmtrace.web.api.context import services, settings
from farmtrace.web.console.access import now
from farmtrace.web.console.forms import Field, bind, errors_from, local_input_value, payload
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

T = TypeVar("T")
CLIENT_ID_FIELD = "client_id"
_CLIENT_ID = re.compile(r"console-[0-9a-f]{24}\Z")


def svc() -> TraceServices:
    return services()


def codes() -> CodeService:
    return CodeService(svc().ctx, max_count=settings().max_codes_per_request)


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"console/{template}", **context), status


def done(message: str, endpoint_url: str) -> Response:
    flash(message, "ok")
    return redirect(endpoint_url, code=303)


def new_client_id() -> str:
    return "console-" + secrets.token_hex(12)


def client_id() -> str:
    """The posted form's client_id; a missing or altered one is replaced (then a retry is not
    recognised, but nothing is refused)."""
    given = request.form.get(CLIENT_ID_FIELD, "")
    return given if _CLIENT_ID.match(given) else new_client_id()


def now_input() -> str:
    return local_input_value(now())


class Outcome:
    """The result of a form attempt: the value on success, or the fields with errors."""

    def __init__(self, value: Any, fields: list[Field], general: list[str]) -> None:
        self.value = value
        self.fields = fields
        self.general = general

    @property
    def ok(self) -> bool:
        return not self.general and not any(f.error for f in self.fields)


def attempt(
    form_fields: Sequence[Field],
    action: Callable[[dict[str, Any]], T],
    prefix: str = "payload",
    extra_errors: dict[str, str] | None = None,
) -> Outcome:
    """Run `action(payload)` with the posted form; domain refusals become field errors."""
    data = payload(form_fields, request.form)
    names = [f.name for f in form_fields]
    if extra_errors:
        return Outcome(None, bind(form_fields, request.form, extra_errors), [])
    try:
        value = action(data)
    except InvalidInput as exc:
        by_field, general = errors_from(exc, names, prefix)
        return Outcome(None, bind(form_fields, request.form, by_field), general)
    except IdempotencyConflict:
        return Outcome(None, bind(form_fields, request.form), [translate("form.resubmitted")])
    except LedgerError as exc:
        return Outcome(None, bind(form_fields, request.form), [str(exc)])
    return Outcome(value, bind(form_fields, request.form), [])


def split_event(data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The payload without the form-only event_time and client_id, and the event time."""
    data.pop(CLIENT_ID_FIELD, None)
    return data, data.pop("event_time", None)


def batch_or_404(batch_id: str) -> BatchView:
    if not BATCH_ID.match(batch_id):
        abort(404)
    try:
        return svc().batches.get(batch_id)
    except NotFound:
        abort(404)


def resolve_batch(text: str, field: str = "code") -> str:
    """A typed batch id, a typed serial or a scanned item URI -> the batch id, or InvalidInput."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(field, f"{field}: {translate('form.code_empty')}")
    if BATCH_ID.match(raw.upper()):
        batch_id = raw.upper()
        svc().batches.get(batch_id)
        return batch_id
    try:
        _code, located = locate(get_session(), codes().keyring(), raw[:300])
    except InvalidInput as exc:
        raise InvalidInput(field, f"{field}: {exc.message}") from None
    return located.batch.id


def options(items: Iterable[tuple[str, str]], blank: bool = True) -> tuple[tuple[str, str], ...]:
    """Select choices, with a blank first one unless the field must always hold a value."""
    listed = tuple(items)
    return ((("", translate("form.choose")),) if blank else ()) + listed


def moment_text(moment: datetime | str | None) -> str:
    """A time as the console shows it: China Standard Time, to the minute."""
    from farmtrace.web.console.forms import CST

    if moment is None:
        return ""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def endpoint_url(endpoint: str, **values: Any) -> str | None:
    """url_for, or None when no such endpoint is registered (pages other helpers may add later)."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None
