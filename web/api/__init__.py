"""The JSON API for machines (/api/v1): errors are RFC 9457 problem+json."""

from flask import Blueprint, Response, jsonify

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/")
def api_root() -> Response:
    return jsonify(service="farmtrace", api="v1")
