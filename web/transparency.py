"""The log served the C2SP tlog-tiles way, plus proof bundles and receipts.

Full tiles are immutable and cached for a year, so a CDN or a plain file server can carry the
read load; the checkpoint and partial tiles change and are cached for seconds.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify

from farmtrace.ledger.bundle import NoCheckpoint, proof_bundle
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.logview import receipt_for_leaf, tile_bytes
from farmtrace.ledger.sequencer import latest_checkpoint
from farmtrace.ledger.tiles import parse_tile_path
from farmtrace.web.db import get_session
from farmtrace.web.problems import problem
from farmtrace.web.witnessing import cosigned_note, witness_keys

bp = Blueprint("transparency", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
FRESH = "public, max-age=5"


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
    try:
        body = proof_bundle(get_session(), batch)
    except NoCheckpoint as exc:
        return problem(503, "No checkpoint yet", str(exc))
    if body is None:
        return problem(404, "No such batch", f"There is no record for batch {batch!r}.")
    response = jsonify(body)
    response.headers["Cache-Control"] = FRESH
    return response
