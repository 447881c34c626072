"""Liveness and readiness: /healthz answers only when the database answers."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.web.db import get_engine
from farmtrace.web.problems import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return problem(503, "Database unavailable", type(exc).__name__)
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response
