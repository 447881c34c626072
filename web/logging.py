"""Structured logs: one JSON object per line on stderr, and one line per request.

A request line holds time, request id, method, path, endpoint, status and duration, and
nothing a person typed or sent: no query string values (only parameter names that look
like identifiers), no headers (so no Authorization, cookies or tokens), no bodies and no
client address. The request id comes from a well-formed X-Request-Id header or is made
here, and is echoed in the response, so one request can be followed across a proxy, the
app and a support conversation.

Exceptions are logged with their type and stack frames; the message is left out for
database errors, whose text carries the values of the rows involved.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, request
from sqlalchemy.exc import DBAPIError, StatementError

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_LOGGER = "farmtrace.request"
MAX_PATH_CHARS = 512
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_QUERY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]-]{0,63}")
_HANDLER_MARK = "_farmtrace_json"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra={"fields": {...}}` adds top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = _describe_exception(record.exc_info[1])
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(stream: IO[str] | None = None, level: int | str = logging.INFO) -> None:
    """Send the `farmtrace` loggers to `stream` (stderr by default) as JSON lines.

    Replaces a handler installed by an earlier call, so calling it again is harmless.
    """
    logger = logging.getLogger("farmtrace")
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # one line per event, not one per handler up the tree


def init_request_logging(app: Flask) -> None:
    """Request ids and one JSON line per request. Register before the other after_request
    hooks, so that it runs after them (Flask runs them in reverse) and sees the final status."""
    if not any(getattr(h, _HANDLER_MARK, False) for h in logging.getLogger("farmtrace").handlers):
        configure_logging()
    logger = logging.getLogger(REQUEST_LOGGER)

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def _log(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 3) if started is not None else None
        logger.log(
            logging.ERROR if response.status_code >= 500 else logging.INFO,
            "request",
            extra={"fields": request_fields(request_id, response.status_code, duration_ms)},
        )
        return response


def current_request_id() -> str | None:
    """The id of the request being handled, for other log lines and problem bodies."""
    return g.get("request_id")


def request_fields(request_id: str, status: int, duration_ms: float | None) -> dict[str, Any]:
    """The fields of a request's log line (see the module docstring for what is left out)."""
    path = request.path
    if len(path) > MAX_PATH_CHARS:
        path = path[:MAX_PATH_CHARS] + "…"
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": request.method,
        "path": path,
        "endpoint": request.url_rule.rule if request.url_rule is not None else None,
        "status": status,
        "duration_ms": duration_ms,
    }
    keys = sorted({k for k in request.args if _QUERY_KEY.fullmatch(k)})
    if keys:
        fields["query_keys"] = keys[:20]
    return fields


def _describe_exception(exc: BaseException) -> dict[str, Any]:
    described: dict[str, Any] = {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "frames": [
            f"{frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(exc.__traceback__)
        ],
    }
    from_driver = type(exc).__module__.split(".")[0] in ("psycopg", "sqlite3")
    if not isinstance(exc, (DBAPIError, StatementError)) and not from_driver:
        described["message"] = str(exc)[:1000]
    return described
