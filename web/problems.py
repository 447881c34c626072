"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, **extensions: Any) -> Response:
    """A problem+json response. `type` stays about:blank unless an extension names one."""
    body: dict[str, Any] = {"type": extensions.pop("type", "about:blank"), "title": title}
    body["status"] = status
    if detail:
        body["detail"] = detail
    body.update(extensions)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_problem_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best in (
        "application/json",
        PROBLEM_JSON,
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not wants_problem_json():
            return exc
        return problem(exc.code or 500, exc.name, exc.description)
