"""Witness cosignatures on the log's checkpoints: received, pushed for, stored and served.

Two ways in, one store (ledger_cosignature):
- pull: an independent witness (`farmtrace witness poll`) checks our tiles itself and
  POSTs the cosigned checkpoint to /witness/cosignature;
- push: after each integration, `run_push_loop` sends the new checkpoint with a
  consistency proof to each FARMTRACE_WITNESS_URLS witness (C2SP tlog-witness
  add-checkpoint) and stores the cosignatures it answers with.
Only cosignatures by FARMTRACE_WITNESS_KEYS are stored, each verified first; /checkpoint
serves the latest checkpoint with the stored cosignatures appended as signature lines.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from farmtrace.ledger.checkpoint import parse_checkpoint
from farmtrace.ledger.cosignature import cosignature_timestamp, verify_cosignature
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.errors import FormatError, LedgerError, SignatureError
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.models import CosignatureRow
from farmtrace.ledger.note import MAX_SIGNATURES, NoteSignature, VerifierKey, parse_note, parse_verifier_key
from farmtrace.ledger.sequencer import DbHashReader, latest_checkpoint
from farmtrace.ledger.tlog import prove_tree
from farmtrace.ledger.witness import (
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    format_add_checkpoint_request,
    parse_cosignature_lines,
    parse_size_body,
)
from farmtrace.web.db import get_session
from farmtrace.web.metrics import count_verification_failure
from farmtrace.web.problems import problem
from farmtrace.web.settings import Settings

bp = Blueprint("witnessing", __name__)
log = logging.getLogger("farmtrace.witnessing")

MAX_COSIGNED_NOTE_BYTES = 64 * 1024
HTTP_TIMEOUT_S = 10.0
USER_AGENT = "farmtrace-witness-client"

# (status, content type, body) of an HTTP exchange; a transport failure raises OSError.
HttpPost = Callable[[str, str], tuple[int, str, str]]


def witness_keys(settings: Settings) -> tuple[VerifierKey, ...]:
    """The configured witness keys (validated when the settings were read)."""
    return tuple(parse_verifier_key(vkey) for vkey in settings.witness_keys)


def store_cosignatures(
    session: Session,
    checkpoint: CheckpointRow,
    signatures: Iterable[NoteSignature],
    keys: Sequence[VerifierKey],
    received_at: datetime,
) -> int:
    """Verify and store the cosignatures by known witness keys; returns how many are new.

    Signatures by other keys are ignored (tlog-witness: clients MUST ignore unknown keys);
    an invalid signature by a known key raises SignatureError and nothing is stored.
    """
    text = parse_note(checkpoint.note).text
    known = {(k.name, k.key_id): k for k in keys}
    rows = []
    for signature in signatures:
        key = known.get((signature.name, signature.key_id))
        if key is None:
            continue
        verify_cosignature(text, signature, key)
        rows.append(
            {
                "tree_size": checkpoint.tree_size,
                "witness_name": key.name,
                "key_id": f"{key.key_id:08x}",
                "signature_line": signature.line().rstrip("\n"),
                "timestamp": cosignature_timestamp(signature),
                "received_at": received_at,
            }
        )
    stored = 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for row in rows:
        # The first cosignature a witness gave for a checkpoint is kept; repeats are no-ops.
        result = session.execute(insert(CosignatureRow).values(**row).on_conflict_do_nothing())
        stored += result.rowcount or 0
    return stored


def cosigned_note(session: Session, checkpoint: CheckpointRow, keys: Sequence[VerifierKey]) -> str:
    """The checkpoint note with the stored cosignatures of configured witnesses appended."""
    configured = {(k.name, f"{k.key_id:08x}") for k in keys}
    rows = session.scalars(
        select(CosignatureRow)
        .where(CosignatureRow.tree_size == checkpoint.tree_size)
        .order_by(CosignatureRow.id)
    )
    lines = [r.signature_line + "\n" for r in rows if (r.witness_name, r.key_id) in configured]
    room = MAX_SIGNATURES - len(parse_note(checkpoint.note).unverified_signatures)
    return checkpoint.note + "".join(lines[:room])


@bp.post("/witness/cosignature")
def receive_cosignature() -> Response:
    """A witness hands in the checkpoint note with its cosignature line(s) appended."""
    keys = witness_keys(current_app.config["FARMTRACE"])
    if not keys:
        return problem(404, "No witnesses configured", "This log accepts no cosignatures.")
    if (request.content_length or 0) > MAX_COSIGNED_NOTE_BYTES:
        return problem(413, "Too large", f"A cosigned checkpoint is at most {MAX_COSIGNED_NOTE_BYTES} bytes.")
    body = request.get_data(cache=False)[: MAX_COSIGNED_NOTE_BYTES + 1]
    try:
        note = parse_note(body)
        size = parse_checkpoint(note.text).size
    except FormatError as exc:
        return problem(400, "Not a cosigned checkpoint", str(exc))
    session = get_session()
    row = session.get(CheckpointRow, size)
    if row is None or parse_note(row.note).text != note.text:
        return problem(404, "Unknown checkpoint", f"This log signed no such checkpoint of size {size}.")
    known = {(k.name, k.key_id) for k in keys}
    if not any((s.name, s.key_id) in known for s in note.unverified_signatures):
        return problem(
            403,
            "No cosignature by a known witness",
            "None of the signature lines is by a configured witness key.",
        )
    try:
        stored = store_cosignatures(session, row, note.unverified_signatures, keys, datetime.now(UTC))
    except (SignatureError, FormatError) as exc:
        count_verification_failure("cosignature")
        return problem(422, "Invalid cosignature", str(exc))
    response = jsonify(tree_size=size, stored=stored)
    response.headers["Cache-Control"] = "no-store"
    return response


class PushError(LedgerError):
    """A witness refused or failed a push; the message says which and why."""


def push_checkpoint(
    session: Session,
    witness_url: str,
    keys: Sequence[VerifierKey],
    post: HttpPost,
    witness_size: int = 0,
) -> int:
    """Send the latest checkpoint to one witness (tlog-witness add-checkpoint) and store the
    cosignatures it returns. `witness_size` is our guess of the size it last cosigned; a
    409 answer corrects it once. Returns the size the witness has now cosigned."""
    row = latest_checkpoint(session)
    if row is None:
        return witness_size
    old = witness_size
    for _attempt in range(2):
        if old > row.tree_size:
            raise PushError(
                f"witness {witness_url} has cosigned tree size {old}, larger than this log's latest "
                f"checkpoint {row.tree_size}: this log has lost entries or been rolled back"
            )
        proof = prove_tree(row.tree_size, old, DbHashReader(session)) if 0 < old < row.tree_size else []
        body = format_add_checkpoint_request(AddCheckpointRequest(old, tuple(proof), row.note))
        status, content_type, text = post(f"{witness_url}/add-checkpoint", body)
        if status == 200:
            store_cosignatures(session, row, parse_cosignature_lines(text), keys, datetime.now(UTC))
            return row.tree_size
        if status == 409 and content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
            old = parse_size_body(text)
            continue
        raise PushError(f"witness {witness_url} answered {status}: {text.strip()[:300]}")
    raise PushError(f"witness {witness_url} keeps answering 409 Conflict")


def http_post(url: str, body: str) -> tuple[int, str, str]:
    """POST text; any HTTP status is an answer, only a transport failure raises OSError."""
    if not url.startswith(("http://", "https://")):
        raise OSError(f"witness URL {url!r}: expected http:// or https://")
    req = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body.encode("utf-8"),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310 (scheme checked above)
            return response.status, response.headers.get("Content-Type", ""), _read_text(response)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), _read_text(exc)


@dataclass
class _Peer:
    size: int = 0  # the size the witness last cosigned, as far as we know
    failures: int = 0
    next_try: float = 0.0


def run_push_loop(
    engine: Engine,
    settings: Settings,
    stop: threading.Event,
    post: HttpPost = http_post,
    interval_s: float | None = None,
) -> None:
    """Push each new checkpoint to every configured witness until `stop` is set.

    Runs beside the sequencer, never in a request. A witness that is down or refuses is
    logged and retried with exponential back-off (up to 5 minutes); the others carry on.
    """
    sessions = sessionmaker(bind=write_engine(engine))
    keys = witness_keys(settings)
    peers = {url: _Peer() for url in settings.witness_urls}
    interval = settings.sequencer_interval_s if interval_s is None else interval_s
    while not stop.is_set():
        for url, peer in peers.items():
            if time.monotonic() < peer.next_try:
                continue
            try:
                with sessions() as session:
                    latest = latest_checkpoint(session)
                    if latest is not None and (latest.tree_size != peer.size or peer.failures):
                        peer.size = push_checkpoint(session, url, keys, post, peer.size)
                        session.commit()
                peer.failures, peer.next_try = 0, 0.0
            except (OSError, LedgerError, SQLAlchemyError) as exc:
                peer.failures += 1
                peer.next_try = time.monotonic() + min(300.0, 2.0**peer.failures)
                # A witness that is down is a warning; one that refuses our log is an error.
                log.log(
                    logging.WARNING if isinstance(exc, OSError) else logging.ERROR,
                    "witness push failed",
                    extra={"fields": {"witness": url, "failures": peer.failures, "error": str(exc)[:2000]}},
                )
        stop.wait(interval)


def _read_text(response) -> str:  # type: ignore[no-untyped-def]
    return response.read(MAX_COSIGNED_NOTE_BYTES).decode("utf-8", errors="replace")
