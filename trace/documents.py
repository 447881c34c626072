"""Uploaded files (lab reports), stored content-addressed: the key is the SHA-256 of the bytes,
which is what a lab.tested entry signs, so the report cannot change under its signature."""

from __future__ import annotations

import hashlib

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound
from farmtrace.trace.models.registry import Document
from farmtrace.trace.text import clean_text, sha256_hex

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")
# The first bytes of each accepted type, so a renamed executable is not stored as a "PDF".
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


def store_document(
    ctx: TraceContext,
    content: bytes,
    media_type: str,
    *,
    filename: str | None = None,
    uploaded_by: str | None = None,
) -> str:
    """Store `content` and return its SHA-256 (hex); storing the same bytes again is a no-op."""
    if media_type not in MEDIA_TYPES:
        raise InvalidInput(
            "media_type", f"media_type: expected one of {', '.join(MEDIA_TYPES)}, found {media_type!r}"
        )
    if not content:
        raise InvalidInput("content", "content: the file is empty")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            "content", f"content: expected at most {MAX_DOCUMENT_BYTES} bytes, found {len(content)}"
        )
    if not content.startswith(_MAGIC[media_type]):
        raise InvalidInput("content", f"content: the file does not start like a {media_type} file")
    name = None if filename is None else clean_text("filename", filename, max_length=200)
    if uploaded_by is not None:
        ctx.active_org(uploaded_by, "uploaded_by")
    digest = hashlib.sha256(content).hexdigest()
    if ctx.session.get(Document, digest) is None:
        ctx.session.add(
            Document(
                sha256=digest,
                media_type=media_type,
                filename=name,
                size=len(content),
                content=content,
                uploaded_by=uploaded_by,
                created_at=ctx.now(),
            )
        )
        ctx.session.flush()
    return digest


def get_document(ctx: TraceContext, sha256: str) -> Document:
    sha256_hex("sha256", sha256)
    document = ctx.session.get(Document, sha256)
    if document is None:
        raise NotFound("sha256", f"sha256: no document {sha256}")
    return document
