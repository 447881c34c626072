"""The log served the C2SP tlog-tiles way, plus proof bundles and receipts.

Full tiles are immutable and cached for a year, so a CDN or a plain file server can carry the
read load; the checkpoint and partial tiles change and are cached for seconds.

A proof bundle's checkpoint is sent as /checkpoint sends it, with the configured witnesses'
cosignatures, so a phone can check them. A bundle carries the whole key chain (about 0.5 KB
per key entry, some 460 KB for a county of 300 organisations), so it is built once per state
(checkpoint, its cosignatures, batch head, key chain head) per process, gzip-compressed for
clients that accept it (about a third of the size), and validated by an ETag of that state,
so a phone or a proxy that has it gets 304.
"""

from __future__ import annotations

import gzip
import hashlib

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from farmtrace.ledger.bundle import NoCheckpoint, bundle_state, proof_bundle
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.logview import receipt_for_leaf, tile_bytes
from farmtrace.ledger.models import CosignatureRow
from farmtrace.ledger.sequencer import latest_checkpoint
from farmtrace.ledger.tiles import parse_tile_path
from farmtrace.web.datawall import TtlCache
from farmtrace.web.db import get_session
from farmtrace.web.problems import problem
from farmtrace.web.witnessing import cosigned_note, witness_keys

bp = Blueprint("transparency", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
FRESH = "public, max-age=5"
# Like the scan page's per-process caches: a store edited behind the database's back is
# served as it was for at most this long (an honest store only grows, which changes the key).
BUNDLE_CACHE_SECONDS = 60
BUNDLE_CACHE_ENTRIES = 16  # each up to a few hundred KB (raw and gzip) on a county's store


@bp.get("/checkpoint")
def checkpoint() -> Response:
    session = get_session()
    row = latest_checkpoint(session)
    if row is None:
        return problem(404, "No checkpoint yet", "The sequencer has not signed a checkpoint.")
    note = cosigned_note(session, row, witness_keys(current_app.config["FARMTRACE"]))
    response = Response(note, mimetype="text/plain")
    response.headers["Cache-Control"] = FRESH
    return response


@bp.get("/tile/<path:rest>")
def tile(rest: str) -> Response:
    try:
        parsed = parse_tile_path(f"tile/{rest}")
    except LedgerError as exc:
        return problem(404, "No such tile", str(exc))
    data = tile_bytes(get_session(), parsed)
    if data is None:
        return problem(
            404, "Tile not in the signed tree yet", f"{parsed.path()} is beyond the latest checkpoint."
        )
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = FRESH if parsed.is_partial else IMMUTABLE
    return response


@bp.get("/receipt/<int:leaf_index>")
def receipt(leaf_index: int) -> Response:
    text = receipt_for_leaf(get_session(), leaf_index)
    if text is None:
        abort(404)
    response = Response(text, mimetype="text/plain")
    response.headers["Cache-Control"] = FRESH
    return response


@bp.get("/bundle/<batch>.json")
def bundle(batch: str) -> Response:
    session = get_session()
    try:
        state = bundle_state(session, batch)
    except NoCheckpoint as exc:
        return problem(503, "No checkpoint yet", str(exc))
    if state is None:
        return problem(404, "No such batch", f"There is no record for batch {batch!r}.")
    # The checkpoint is sent with the witnesses' cosignatures, so a new one changes the bundle.
    cosignatures = session.scalar(
        select(func.count()).select_from(CosignatureRow).where(CosignatureRow.tree_size == state[1])
    )
    state = (*state, cosignatures)
    packed = request.accept_encodings["gzip"] > 0
    tag = hashlib.sha256(repr((batch, state)).encode()).hexdigest()[:32] + ("-gzip" if packed else "")
    if tag in request.if_none_match:
        response = Response(status=304)
    else:
        cache = current_app.extensions.setdefault(
            "farmtrace.bundle_cache", TtlCache(BUNDLE_CACHE_SECONDS, BUNDLE_CACHE_ENTRIES)
        )
        raw, compressed = cache.get((batch, state), lambda: _bundle_bytes(session, batch))
        response = Response(compressed if packed else raw, mimetype="application/json")
        if packed:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(tag)
    response.headers["Cache-Control"] = FRESH
    response.vary.add("Accept-Encoding")
    return response


def _bundle_bytes(session: Session, batch: str) -> tuple[bytes, bytes]:
    keys = witness_keys(current_app.config["FARMTRACE"])
    body = proof_bundle(session, batch, note=lambda row: cosigned_note(session, row, keys))
    if body is None:  # pragma: no cover - bundle_state found the batch in this transaction
        abort(404)
    raw = current_app.json.dumps(body, separators=(",", ":")).encode() + b"\n"
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)
