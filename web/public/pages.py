"""The batch page without a code (`/batch/<id>`, for e-commerce listings), the consumer's
problem report, public lab-report downloads and long-lived static files.

Caching: a scan page (web/public/resolver.py) is `no-store` because it shows the live scan
count. The batch page has no count: it carries an ETag over its batch's head entry, the
latest checkpoint size and its witness count, so a phone or a CDN revalidates with
If-None-Match and gets a 304 without the page being built. Static files linked with
`?v=<content hash>` (`static_url`) are cacheable for a year; a new file is a new URL.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Final

from flask import Response, current_app, g, render_template, request
from werkzeug.exceptions import NotFound as HttpNotFound

from farmtrace.trace.documents import get_document
from farmtrace.trace.errors import TraceError
from farmtrace.web.api.context import services, settings
from farmtrace.web.db import get_session
from farmtrace.web.public import bp
from farmtrace.web.public.story import BATCH_ID, SHA256_HEX, Story
from farmtrace.web.public.story_load import etag_for, load_story, root_key_b64

STATIC_MAX_AGE: Final = 31_536_000
PAGE_VERSION: Final = "2"  # part of the ETag: bump when the batch page's layout or its verify.js changes
BATCH_CACHE: Final = "public, max-age=60"
STATIC_DIR: Final = Path(__file__).resolve().parents[1] / "static"


@lru_cache(maxsize=64)
def _static_hash(filename: str) -> str:
    path = STATIC_DIR / filename
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "0"


def static_url(filename: str) -> str:
    """`/static/<file>?v=<hash of its bytes>`: cacheable for a year, changed with the file."""
    return f"/static/{filename}?v={_static_hash(filename)}"


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    return {"static_url": static_url}


@bp.after_app_request
def _static_cache(response: Response) -> Response:
    if request.path.startswith("/static/") and request.args.get("v") and response.status_code in (200, 304):
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}, immutable"
    return response


def story_page_args(story: Story) -> dict[str, object]:
    """What scan.html and batch.html both need beside the story."""
    return {
        "story": story,
        "bundle_url": f"/bundle/{story.batch_id}.json",
        "root_key": root_key_b64(get_session()),
        "log_origin": settings().log_origin,
        "witness_keys": " ".join(settings().witness_keys),  # verify.js checks their cosignatures
    }


def not_found_page(kind: str) -> Response:
    html = render_template("public/not_found.html", kind=kind)
    response = Response(html, status=404, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/batch/<batch_id>")
def batch_page(batch_id: str) -> Response:
    if not BATCH_ID.match(batch_id):
        return not_found_page("batch")
    locale = g.get("locale", "zh")
    session = get_session()
    etag = etag_for(session, batch_id, locale, PAGE_VERSION)
    if etag is None:
        return not_found_page("batch")
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        story = load_story(services().ctx, batch_id, locale=locale, origin=settings().log_origin)
        if story is None:
            return not_found_page("batch")
        response = Response(
            render_template("public/batch.html", **story_page_args(story)), mimetype="text/html"
        )
    response.set_etag(etag)
    response.headers["Cache-Control"] = BATCH_CACHE
    response.vary.update(("Accept-Language", "Cookie"))
    return response


@bp.get("/documents/<sha256>")
def document(sha256: str) -> Response:
    """A stored document (lab reports), by the SHA-256 the record names. Never changes."""
    if not SHA256_HEX.match(sha256):
        return not_found_page("document")
    try:
        found = get_document(services().ctx, sha256)
    except (TraceError, HttpNotFound):
        return not_found_page("document")
    extension = "pdf" if found.media_type == "application/pdf" else "bin"
    response = current_app.response_class(found.content, mimetype=found.media_type)
    response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}, immutable"
    response.headers["Content-Disposition"] = f'attachment; filename="{_safe(sha256[:16])}.{extension}"'
    response.set_etag(sha256)
    return response.make_conditional(request)


def _safe(name: str) -> str:
    return re.sub(r"[^0-9a-f]", "", name)
