"""The API's own description: its root, the OpenAPI document and the docs page."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, json
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from farmtrace.web.api.docs import DOCS_CSS, render_docs
from farmtrace.web.api.spec import document_external_routes

bp = Blueprint("meta", __name__, url_prefix="/api/v1", description="This API's description of itself.")

CACHE = "public, max-age=300"


class RootSchema(Schema):
    service = fields.String(required=True)
    api = fields.String(required=True)
    openapi = fields.String(required=True, metadata={"description": "URL of the OpenAPI document"})
    docs = fields.String(required=True, metadata={"description": "URL of the docs page"})


def openapi_document() -> dict[str, Any]:
    api = current_app.extensions["farmtrace.api"]
    # Blueprints registered after the API's (the statistics feed) are known only now.
    if not current_app.extensions.get("farmtrace.api.external_documented"):
        document_external_routes(api, current_app)
        current_app.extensions["farmtrace.api.external_documented"] = True
    return api.spec.to_dict()


@bp.route("/", methods=["GET"])
@bp.response(200, RootSchema)
def api_root() -> dict[str, str]:
    """Where the description is."""
    return {"service": "farmtrace", "api": "v1", "openapi": "/api/v1/openapi.json", "docs": "/api/v1/docs"}


@bp.route("/openapi.json", methods=["GET"])
@bp.response(200, {"type": "object"}, description="The OpenAPI 3.1 document")
def openapi_json() -> Response:
    """This document."""
    response = Response(json.dumps(openapi_document(), ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = CACHE
    return response


@bp.route("/docs", methods=["GET"])
@bp.response(200, {"type": "string"}, content_type="text/html", description="The docs page")
def docs_page() -> Response:
    """The API reference as one HTML page, rendered here from the OpenAPI document."""
    response = Response(render_docs(openapi_document()), mimetype="text/html")
    response.headers["Cache-Control"] = CACHE
    return response


@bp.route("/docs.css", methods=["GET"])
@bp.response(200, {"type": "string"}, content_type="text/css", description="The docs page's style sheet")
def docs_css() -> Response:
    """The docs page's style sheet (served from our origin: the CSP allows no other)."""
    response = Response(DOCS_CSS, mimetype="text/css")
    response.headers["Cache-Control"] = CACHE
    return response
