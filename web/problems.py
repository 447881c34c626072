"""RFC 9457 problem details: the one place where errors become HTTP responses.

Every error the API can answer is mapped here, from whichever layer raised it:
- marshmallow ValidationError (and webargs' 422 for request bodies and query strings),
  farmtrace.trace.InvalidInput and its kinds -> 422, each offending field named in `errors`;
- rule violations -> 409 (the record's state refuses the write), NotPermitted -> 403;
- ledger append errors -> 409 / 404 / 403, malformed entries -> 400;
- API errors (authentication 401, scope 403, idempotency 409, cursor 400);
- the database unreachable, restarting, locked or full (SQLAlchemy OperationalError) ->
  503 with Retry-After: the request can succeed unchanged a moment later;
- anything else -> 500 with no internals (the traceback goes to the log only).

`problem_details(exc)` computes the body without a response, so the bulk endpoint can
report each item's failure with exactly the body a single request would have got.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, json, request
from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable, UnprocessableEntity

from farmtrace.ledger import errors as ledger_errors
from farmtrace.trace import errors as trace_errors
from farmtrace.trace.events.schema import flatten_errors
from farmtrace.web.api.errors import ApiError, ScopeMissing, Unauthenticated

PROBLEM_JSON = "application/problem+json"
# A database restart takes a few seconds (docs/reliability.md: 2.5 s until answers resumed).
UNAVAILABLE_RETRY_AFTER = 5
# Problem types are documented on the API's docs page, one anchor per type.
PROBLEM_TYPE_BASE = "/api/v1/docs#problem-"
# "entry.seq: expected ..." -> "entry.seq": ledger and trace messages start with the field.
_FIELD_PREFIX = re.compile(r"([A-Za-z_][A-Za-z0-9_.\[\]/-]*): ")

# (status, title, slug) for the ledger's errors, most specific class first.
_LEDGER: tuple[tuple[type[ledger_errors.LedgerError], int, str, str], ...] = (
    (ledger_errors.IdempotencyConflict, 409, "Entry id already used", "entry-id-reused"),
    (ledger_errors.ChainConflict, 409, "Chain head moved", "chain-conflict"),
    (ledger_errors.ChainExists, 409, "Chain exists", "chain-exists"),
    (ledger_errors.NoSuchChain, 404, "No such chain", "no-such-chain"),
    (ledger_errors.KeyNotUsable, 403, "Signing key not usable", "key-not-usable"),
    (ledger_errors.AppendError, 409, "Entry refused", "append-refused"),
    (ledger_errors.FormatError, 400, "Malformed entry", "malformed"),
    (ledger_errors.VerificationError, 422, "Verification failed", "verification-failed"),
)

# Problem types this module can answer, for the docs page: slug -> (status, title, meaning).
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "validation": (
        422,
        "Invalid input",
        "A field is missing, malformed or out of range; `errors` names each one.",
    ),
    "not-found": (
        404,
        "Not found",
        "The resource named in the path, or a reference in the body, does not exist.",
    ),
    "rule-violation": (
        409,
        "Rule violation",
        "A traceability rule refused the write; `rule` is a stable code.",
    ),
    "not-permitted": (
        403,
        "Not permitted",
        "The acting organisation may not do this (kind, owner, custodian).",
    ),
    "unauthenticated": (
        401,
        "Authentication required",
        "No bearer token, or one unknown, revoked or expired.",
    ),
    "scope-missing": (403, "Scope missing", "The token does not hold the scope the operation needs."),
    "idempotency-key-invalid": (400, "Malformed Idempotency-Key", "The key is not 1-100 allowed characters."),
    "idempotency-key-reused": (409, "Idempotency-Key reused", "The key was used for a different request."),
    "idempotency-in-progress": (409, "In progress", "A request with this key is still running; retry later."),
    "secret-shown-once": (
        409,
        "Secret shown once",
        "The first request with this key issued a token and showed its secret, which is not kept; "
        "revoke that token and issue another.",
    ),
    "bad-cursor": (400, "Malformed page cursor", "Use the `next` link of the previous page unchanged."),
    "entry-id-reused": (
        409,
        "Entry id already used",
        "The entry's `id` was recorded before with other content.",
    ),
    "chain-conflict": (
        409,
        "Chain head moved",
        "seq/prev do not continue the chain; fetch the head, sign again.",
    ),
    "chain-exists": (409, "Chain exists", "A batch with this id was registered before."),
    "no-such-chain": (404, "No such chain", "The entry names a batch that was never registered."),
    "key-not-usable": (403, "Signing key not usable", "The key is unknown, not the author's, or revoked."),
    "append-refused": (409, "Entry refused", "The ledger refused the entry."),
    "malformed": (400, "Malformed entry", "The entry is not a valid version-1 entry."),
    "verification-failed": (422, "Verification failed", "A signature or proof does not verify."),
    "bulk-group-refused": (
        424,
        "Not recorded",
        "Another item for the same batch was refused; none of them was recorded.",
    ),
    "too-large": (413, "Request too large", "The body is larger than the limit."),
    "rate-limited": (
        429,
        "Too many requests",
        "A rate limit (`limit` names it) is used up; retry after the seconds in Retry-After.",
    ),
    "unavailable": (
        503,
        "Service unavailable",
        "The database cannot be reached or written for the moment; nothing was recorded; "
        "retry after Retry-After seconds with the same key.",
    ),
    "internal": (500, "Internal server error", "Nothing was recorded; retrying with the same key is safe."),
}


def problem(status: int, title: str, detail: str | None = None, **extensions: Any) -> Response:
    """A problem+json response. `type` stays about:blank unless an extension names one."""
    body: dict[str, Any] = {"type": extensions.pop("type", "about:blank"), "title": title}
    body["status"] = status
    if detail:
        body["detail"] = detail
    body.update(extensions)
    return problem_response(body)


def problem_response(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), status=body["status"], mimetype=PROBLEM_JSON)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wants_problem_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best in (
        "application/json",
        PROBLEM_JSON,
    )


def _body(status: int, title: str, slug: str, detail: str, **extensions: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({name: value for name, value in extensions.items() if value is not None})
    return body


def _field_errors(errors: Mapping[str, str], where: str | None = None) -> list[dict[str, str]]:
    # Registry services name fields "place.id", "org.kind"; where the request body is that
    # object itself, the view sets g.api_body_prefix and the field is named as sent: "id".
    prefix = g.get("api_body_prefix") if has_request_context() else None
    out = []
    for field, message in errors.items():
        field = field or "(body)"
        message = message.removeprefix(f"{field}: ")
        if prefix and field.startswith(prefix + "."):
            field = field[len(prefix) + 1 :]
        item = {"field": field, "message": message}
        if where:
            item["in"] = where
        out.append(item)
    return out


def _field_of(message: str) -> str | None:
    match = _FIELD_PREFIX.match(message)
    return match.group(1) if match else None


def problem_details(exc: BaseException) -> dict[str, Any] | None:
    """The problem body for a known error, or None if `exc` is not one we can explain."""
    if isinstance(exc, ApiError):
        extra: dict[str, Any] = {}
        if isinstance(exc, ScopeMissing):
            extra["scope"] = exc.scope
        errors = _field_errors({exc.field: exc.message}) if exc.field else None
        return _body(exc.status, exc.title, exc.slug, exc.message, errors=errors, **extra)
    if isinstance(exc, ValidationError):
        errors = flatten_errors(exc.messages, "")
        return _validation(errors, "body")
    if isinstance(exc, trace_errors.TraceError):
        return _trace_details(exc)
    if isinstance(exc, ledger_errors.LedgerError):
        for cls, status, title, slug in _LEDGER:
            if isinstance(exc, cls):
                message = str(exc)
                field = _field_of(message)
                errors = _field_errors({field: message}) if field else None
                return _body(status, title, slug, message, errors=errors)
    return None


def _validation(errors: Mapping[str, str], where: str | None) -> dict[str, Any]:
    listed = _field_errors(errors, where)
    first = listed[0] if listed else {"field": "(body)", "message": "is not valid"}
    more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
    detail = f"{first['field']}: {first['message']}{more}"
    return _body(422, "Invalid input", "validation", detail, errors=listed)


def _trace_details(exc: trace_errors.TraceError) -> dict[str, Any]:
    if isinstance(exc, trace_errors.AuthenticationFailed):
        return _body(401, "Authentication required", "unauthenticated", str(exc))
    if isinstance(exc, trace_errors.SchemaInvalid):
        return _validation(exc.errors, None)
    if not isinstance(exc, trace_errors.InvalidInput):
        field = _field_of(str(exc))
        errors = _field_errors({field: str(exc)}) if field else None
        return _body(422, "Refused", "validation", str(exc), errors=errors)
    errors = _field_errors({exc.field: exc.message})
    if isinstance(exc, trace_errors.NotPermitted):
        return _body(403, "Not permitted", "not-permitted", exc.message, errors=errors, rule=exc.rule)
    if isinstance(exc, trace_errors.RuleViolation):
        return _body(409, "Rule violation", "rule-violation", exc.message, errors=errors, rule=exc.rule)
    if isinstance(exc, trace_errors.NotFound):
        # The thing named in the path is missing: 404. A reference inside the body: 422.
        in_path = has_request_context() and exc.field.split(".")[0] in (request.view_args or {})
        status = 404 if in_path else 422
        return _body(status, "Not found", "not-found", exc.message, errors=errors)
    return _body(422, "Invalid input", "validation", exc.message, errors=errors)


def _webargs_details(exc: HTTPException) -> dict[str, Any] | None:
    """webargs (under flask-smorest) aborts with 422 and data["messages"] per location."""
    data = getattr(exc, "data", None)
    messages = data.get("messages") if isinstance(data, Mapping) else None
    if not isinstance(messages, Mapping):
        return None
    errors: dict[str, str] = {}
    where_of: dict[str, str] = {}
    for location, fields in messages.items():
        where = "body" if location in ("json", "form", "files") else str(location)
        for field, message in flatten_errors(fields, "").items():
            errors[field] = message
            where_of[field] = where
    body = _validation(errors, None)
    for item in body["errors"]:
        item["in"] = where_of.get(item["field"], "body")
    return body


def _with_instance(body: dict[str, Any]) -> dict[str, Any]:
    body.setdefault("instance", request.path)
    return body


def _auth_headers(exc: BaseException, body: dict[str, Any]) -> dict[str, str]:
    """RFC 6750 §3: a 401 names the Bearer scheme; a scope 403 says which scope."""
    if body["status"] == 401:
        error = ', error="invalid_token"' if isinstance(exc, Unauthenticated) and exc.field else ""
        return {"WWW-Authenticate": f'Bearer realm="farmtrace"{error}'}
    if isinstance(exc, ScopeMissing):
        return {
            "WWW-Authenticate": f'Bearer realm="farmtrace", error="insufficient_scope", scope="{exc.scope}"'
        }
    return {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not wants_problem_json():
            return exc
        code = exc.code or 500
        body = _webargs_details(exc) if code == 422 else None
        if body is None and code == 413:
            limit = current_app.config.get("MAX_CONTENT_LENGTH")
            body = _body(
                413,
                "Request too large",
                "too-large",
                f"body: the request body is larger than the limit of {limit} bytes",
            )
        if body is None:
            body = {"type": "about:blank", "title": exc.name, "status": code, "detail": exc.description}
        headers = {}
        if code == 405 and exc.get_response().headers.get("Allow"):
            headers["Allow"] = exc.get_response().headers["Allow"]
        return problem_response(_with_instance(body), headers)

    @app.errorhandler(ApiError)
    @app.errorhandler(ValidationError)
    @app.errorhandler(trace_errors.TraceError)
    @app.errorhandler(ledger_errors.LedgerError)
    def _known_error(exc: Exception) -> Response | HTTPException:
        body = problem_details(exc)
        if body is None:
            return _unexpected(exc)
        if not wants_problem_json():
            return _as_http_exception(body)
        return problem_response(_with_instance(body), _auth_headers(exc, body))

    @app.errorhandler(OperationalError)
    def _unavailable(exc: OperationalError) -> Response:
        # Logged without the statement's parameters: they may hold personal data.
        current_app.logger.error(
            "database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__
        )
        headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
        if not wants_problem_json():
            page = ServiceUnavailable(retry_after=UNAVAILABLE_RETRY_AFTER).get_response()
            page.headers.update(headers)
            return page
        status, title, detail = PROBLEM_TYPES["unavailable"]
        return problem_response(_with_instance(_body(status, title, "unavailable", detail)), headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | HTTPException:
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_problem_json():
            return InternalServerError()
        status, title, detail = PROBLEM_TYPES["internal"]
        body = _body(status, title, "internal", detail)
        return problem_response(_with_instance(body))


def _as_http_exception(body: dict[str, Any]) -> HTTPException:
    """For pages (not the API): the same status and message as a plain HTTP error."""
    exc = UnprocessableEntity(body["detail"]) if body["status"] == 422 else HTTPException(body["detail"])
    exc.code = body["status"]
    return exc
