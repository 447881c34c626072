"""Uploaded files (lab report PDFs), stored content-addressed: the SHA-256 of the bytes is
the id, and is what a lab.tested entry signs (`payload.report_sha256`)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint
from flask_smorest.utils import deepupdate
from marshmallow import Schema, fields, validate

from farmtrace.trace.documents import MEDIA_TYPES, get_document, store_document
from farmtrace.web.api.auth import requires
from farmtrace.web.api.common import actor
from farmtrace.web.api.context import services

bp = Blueprint(
    "documents", __name__, url_prefix="/api/v1", description="Lab reports and other uploaded files."
)

BINARY = {"type": "string", "format": "binary"}


class UploadQuery(Schema):
    filename = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"description": "Original file name"}
    )


class DocumentOut(Schema):
    sha256 = fields.String(
        required=True, metadata={"description": "Hex SHA-256 of the bytes: the document's id"}
    )
    media_type = fields.String(required=True)
    size = fields.Integer(required=True)
    url = fields.String(required=True)


def _binary_body(func: Any) -> Any:
    apidoc = deepcopy(getattr(func, "_apidoc", {}))
    body = {
        "required": True,
        "description": "The file's bytes; Content-Type says which kind (checked against its first bytes).",
        "content": {media: {"schema": BINARY} for media in MEDIA_TYPES},
    }
    apidoc["manual_doc"] = deepupdate(deepcopy(apidoc.get("manual_doc", {})), {"requestBody": body})
    func._apidoc = apidoc
    return func


@bp.route("/documents", methods=["POST"])
@requires("lab:write", "events:write")
@bp.arguments(UploadQuery, location="query")
@_binary_body
@bp.response(201, DocumentOut)
def upload(args: dict[str, Any]) -> Any:
    """Upload a report (PDF, PNG or JPEG) before recording the event that cites its SHA-256.
    Uploading the same bytes again is harmless and gives the same id."""
    content = request.get_data(cache=True)
    digest = store_document(
        services().ctx, content, request.mimetype, filename=args.get("filename"), uploaded_by=actor()
    )
    url = f"/api/v1/documents/{digest}"
    body = {"sha256": digest, "media_type": request.mimetype, "size": len(content), "url": url}
    return body, 201, {"Location": url}


@bp.route("/documents/<sha256>", methods=["GET"])
@bp.response(200, BINARY, content_type="application/pdf", description="The file, as uploaded")
def download(sha256: str) -> Response:
    """A stored document (public: the scan page links lab reports). Never changes."""
    document = get_document(services().ctx, sha256)
    response = current_app.response_class(document.content, mimetype=document.media_type)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Disposition"] = "inline"
    return response
