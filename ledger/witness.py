"""A transparency-log witness: C2SP tlog-witness (c2sp.org/tlog-witness) without the HTTP.

For each log (known by its origin and key) a witness remembers the last checkpoint it
cosigned, and cosigns a newer one only with a consistency proof from that one. The
`add-checkpoint` request and responses are text (tlog-witness §add-checkpoint):

    request    "old <size>\\n"  <base64 proof hash>\\n (0 to 63)  "\\n"  <signed checkpoint>
    200        one or more cosignature lines "— <name> <base64>\\n" (c2sp.org/tlog-cosignature)
    409        "<size of the last cosigned checkpoint>\\n", Content-Type text/x.tlog.size

`add_checkpoint` applies the spec's checks in its order and raises a WitnessRefusal that
carries the HTTP status. Two checkpoints signed by the log that cannot both be true (the
same size with different roots, or a tree that does not extend the one cosigned) raise
WitnessAlarm, which keeps both as evidence; the state it carries refuses that log from
then on, until a person has looked. Only evidence signed by the log raises an alarm: a bad
proof from a submitter is a 422, and an old checkpoint replayed by anyone is a 400.

`poll_checkpoint` is the same witness driven by polling: it builds the consistency proof
itself from the log's tiles (TileHashReader), so it never trusts a proof from the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from farmtrace.ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.encoding import b64encode, decode_hash
from farmtrace.ledger.errors import FormatError, LedgerError, TreeError, VerificationError
from farmtrace.ledger.hashing import EMPTY_ROOT, HASH_SIZE
from farmtrace.ledger.note import (
    NoteSignature,
    SignerKey,
    VerifierKey,
    open_note,
    parse_note,
)
from farmtrace.ledger.proof import verify_consistency
from farmtrace.ledger.tiles import TILE_HEIGHT, TILE_WIDTH, Tile, hash_from_tile, tile_for_index
from farmtrace.ledger.tlog import HashReader, prove_tree, stored_hash_count, tree_hash

# tlog-witness §add-checkpoint
OLD_SIZE_PREFIX = "old "
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
STATE_FORMAT = "farmtrace-witness-state/v1"


class WitnessRefusal(VerificationError):
    """The witness will not cosign; `status` is the HTTP status tlog-witness prescribes."""

    status = 400


class UnknownLog(WitnessRefusal):
    status = 404


class UntrustedCheckpoint(WitnessRefusal):
    status = 403


class BadRequest(WitnessRefusal):
    status = 400


class SizeConflict(WitnessRefusal):
    """The old size is not the size this witness last cosigned; `size` is that size."""

    status = 409

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class BadProof(WitnessRefusal):
    status = 422


@dataclass(frozen=True)
class Alarm:
    """Evidence that a log forked or rolled back: two checkpoints it signed that conflict."""

    origin: str
    reason: str
    cosigned_note: str
    conflicting_note: str

    def report(self) -> str:
        """The loud, self-contained text a person reads (and can forward as evidence)."""
        return (
            f"ALARM: log {self.origin}: {self.reason}\n"
            f"--- checkpoint this witness cosigned before:\n{self.cosigned_note}"
            f"--- conflicting checkpoint, also signed by the log:\n{self.conflicting_note}"
            "--- this witness refuses to cosign for this log until the state file is repaired by hand.\n"
        )


@dataclass(frozen=True)
class LogRecord:
    """What a witness keeps per log: the last checkpoint it cosigned, as the log signed it."""

    origin: str
    size: int
    root_hash: bytes
    note: str
    cosignatures: str = ""  # the lines this witness issued for `note`, to resubmit them
    alarm: Alarm | None = None


@dataclass(frozen=True)
class WitnessState:
    logs: tuple[LogRecord, ...] = ()

    def get(self, origin: str) -> LogRecord | None:
        return next((r for r in self.logs if r.origin == origin), None)

    def put(self, record: LogRecord) -> WitnessState:
        others = tuple(r for r in self.logs if r.origin != record.origin)
        return WitnessState(tuple(sorted((*others, record), key=lambda r: r.origin)))


class WitnessAlarm(WitnessRefusal):
    """A log signed two checkpoints that contradict each other. Never swallow this.

    `state` is the witness state with the alarm recorded: persist it, so that the witness
    keeps refusing the log after a restart.
    """

    status = 409

    def __init__(self, alarm: Alarm, state: WitnessState) -> None:
        super().__init__(alarm.report())
        self.alarm = alarm
        self.state = state


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed checkpoint note, verbatim


def format_add_checkpoint_request(request: AddCheckpointRequest) -> str:
    """tlog-witness §add-checkpoint: the request body."""
    if len(request.proof) > MAX_PROOF_LINES:
        raise FormatError(f"add-checkpoint: {len(request.proof)} proof lines, more than {MAX_PROOF_LINES}")
    lines = [f"{OLD_SIZE_PREFIX}{request.old_size}\n", *(b64encode(h) + "\n" for h in request.proof)]
    return "".join(lines) + "\n" + request.checkpoint


def parse_add_checkpoint_request(body: str | bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body strictly (the checkpoint note is not verified)."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"add-checkpoint request: not valid UTF-8 at byte {exc.start}") from None
    header, blank, checkpoint = body.partition("\n\n")
    if not blank:
        raise FormatError("add-checkpoint request: no blank line before the checkpoint")
    first, *proof_lines = header.split("\n")
    if not first.startswith(OLD_SIZE_PREFIX):
        raise FormatError(f"add-checkpoint request: expected first line 'old <size>', found {first[:40]!r}")
    old_size = parse_size(first[len(OLD_SIZE_PREFIX) :], "add-checkpoint request: old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise FormatError(
            f"add-checkpoint request: {len(proof_lines)} proof lines, more than {MAX_PROOF_LINES}"
        )
    proof = tuple(
        decode_hash(line, f"add-checkpoint request: proof line {i + 1}") for i, line in enumerate(proof_lines)
    )
    parse_note(checkpoint)  # fail here, as a malformed request, not later as a bad signature
    return AddCheckpointRequest(old_size, proof, checkpoint)


def format_size_body(size: int) -> str:
    """tlog-witness §add-checkpoint: the 409 body, text/x.tlog.size."""
    return f"{size}\n"


def parse_size_body(body: str) -> int:
    if not body.endswith("\n"):
        raise FormatError(f"{SIZE_CONTENT_TYPE} body: expected '<size>\\n', found {body[:40]!r}")
    return parse_size(body[:-1], f"{SIZE_CONTENT_TYPE} body")


def parse_size(text: str, field: str) -> int:
    """A tree size: ASCII decimal, no sign, no leading zeros."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0") or len(text) > 19:
        raise FormatError(f"{field}: expected a decimal without leading zeros, found {text[:40]!r}")
    return int(text)


def format_cosignature_lines(signatures: Sequence[NoteSignature]) -> str:
    """The 200 body: note signature lines."""
    if not signatures:
        raise FormatError("cosignature lines: expected at least one")
    return "".join(s.line() for s in signatures)


def parse_cosignature_lines(body: str) -> tuple[NoteSignature, ...]:
    """Parse a 200 body (signature lines only; nothing is verified here)."""
    # A signature block is exactly what follows a note's blank line: reuse that parser.
    return parse_note("x\n\n" + body).unverified_signatures


def add_checkpoint(
    state: WitnessState,
    request_text: str | bytes,
    log_verifiers: Sequence[VerifierKey],
    witness_signer: SignerKey,
    now: int,
) -> tuple[WitnessState, str]:
    """tlog-witness §add-checkpoint: check a request and cosign; (new state, 200 body).

    `log_verifiers` are the logs' keys; a log's origin is its key's name. The caller must
    run this and persist the new state atomically (one request at a time per state), and
    must persist WitnessAlarm.state before answering.
    """
    try:
        request = parse_add_checkpoint_request(request_text)
        checkpoint = parse_checkpoint(parse_note(request.checkpoint).text)
    except FormatError as exc:
        raise BadRequest(str(exc)) from None
    origin = checkpoint.origin
    keys = [k for k in log_verifiers if k.name == origin]
    if not keys:
        raise UnknownLog(f"add-checkpoint: unknown log origin {origin!r}")
    try:
        open_note(request.checkpoint, keys)
    except VerificationError as exc:
        raise UntrustedCheckpoint(f"add-checkpoint: checkpoint of {origin}: {exc}") from None
    record = state.get(origin)
    if record is not None and record.alarm is not None:
        raise WitnessAlarm(record.alarm, state)
    if request.old_size > checkpoint.size:
        raise BadRequest(
            f"add-checkpoint: old size {request.old_size} is larger than the checkpoint size {checkpoint.size}"
        )
    known_size = 0 if record is None else record.size
    if request.old_size != known_size:
        raise SizeConflict(
            f"add-checkpoint: old size {request.old_size} is not the size this witness last cosigned "
            f"for {origin}, {known_size}",
            known_size,
        )
    if request.old_size == checkpoint.size or request.old_size == 0:
        if request.proof:
            raise BadProof(
                f"add-checkpoint: expected no proof from size {request.old_size} "
                f"to size {checkpoint.size}, found {len(request.proof)} hashes"
            )
        if record is not None and record.size == checkpoint.size and record.root_hash != checkpoint.root_hash:
            reason = f"two different trees of size {checkpoint.size} (a fork)"
            _raise_alarm(state, record, request.checkpoint, reason)
    elif record is not None:  # always, since old_size == known_size > 0
        try:
            verify_consistency(
                record.size, checkpoint.size, request.proof, record.root_hash, checkpoint.root_hash
            )
        except VerificationError as exc:
            raise BadProof(f"add-checkpoint: {exc}") from None
    lines = format_cosignature_lines([cosign(parse_note(request.checkpoint).text, witness_signer, now)])
    new = LogRecord(origin, checkpoint.size, checkpoint.root_hash, request.checkpoint, lines)
    return state.put(new), lines


def poll_checkpoint(
    state: WitnessState,
    checkpoint_note: str,
    reader: HashReader,
    log_verifier: VerifierKey,
    witness_signer: SignerKey,
    now: int,
) -> tuple[WitnessState, str]:
    """Witness the checkpoint a log serves as its latest, proving consistency from its tiles.

    `reader` reads the log's stored hashes for the tree of the new checkpoint's size (a
    TileHashReader over the log's tiles). A smaller tree than the one cosigned (a
    rollback) or a tree whose own hashes do not extend it (a fork) raises WitnessAlarm;
    tiles that do not even reproduce the signed root raise VerificationError.
    """
    checkpoint, _note = open_checkpoint(checkpoint_note, log_verifier)
    record = state.get(checkpoint.origin)
    if record is not None and record.alarm is not None:
        raise WitnessAlarm(record.alarm, state)
    old_size = 0 if record is None else record.size
    if record is not None and record.note == checkpoint_note and record.cosignatures:
        return state, record.cosignatures  # nothing new: the same cosignature serves again
    if record is not None and checkpoint.size < record.size:
        reason = (
            f"the log now serves tree size {checkpoint.size} as its latest, smaller than "
            f"size {record.size} that this witness cosigned (a rollback)"
        )
        _raise_alarm(state, record, checkpoint_note, reason)
    proof = prove_tree(checkpoint.size, old_size, reader) if 0 < old_size < checkpoint.size else []
    request = format_add_checkpoint_request(AddCheckpointRequest(old_size, tuple(proof), checkpoint_note))
    try:
        return add_checkpoint(state, request, [log_verifier], witness_signer, now)
    except BadProof:
        if record is None:  # pragma: no cover - no proof is checked without a record
            raise
        _check_tiles_match(checkpoint, reader)
        reason = (
            f"the log's own tree of size {checkpoint.size}, which matches its signed root, does not "
            f"contain the tree of size {record.size} that this witness cosigned (a fork)"
        )
        _raise_alarm(state, record, checkpoint_note, reason)
        raise  # pragma: no cover - _raise_alarm always raises


class TileHashReader:
    """tlog.HashReader over C2SP tlog-tiles, as served for a tree of `tree_size` leaves.

    `fetch(tile)` returns the bytes at the tile's path; tiles are fetched once each. The
    hashes are not authenticated here: the caller verifies what it computes from them
    against signed roots (as proof.verify_consistency does).
    """

    def __init__(self, tree_size: int, fetch: Callable[[Tile], bytes]) -> None:
        self.tree_size = tree_size
        self.fetch = fetch
        self.tiles: dict[Tile, bytes] = {}

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        limit = stored_hash_count(self.tree_size)
        hashes = []
        for index in indexes:
            if not 0 <= index < limit:
                raise TreeError(f"stored hash {index} is not in a tree of size {self.tree_size}")
            tile = self.served_tile(tile_for_index(index))
            if tile not in self.tiles:
                self.tiles[tile] = self.fetch(tile)
            hashes.append(hash_from_tile(tile, self.tiles[tile], index))
        return hashes

    def served_tile(self, needed: Tile) -> Tile:
        """The tile the log serves for this tree that covers `needed` (Go tlog tileParent)."""
        available = (self.tree_size >> (needed.level * TILE_HEIGHT)) - needed.index * TILE_WIDTH
        if available < needed.width:  # pragma: no cover - read_hashes checked the index
            raise TreeError(f"{needed.path()} is beyond a tree of size {self.tree_size}")
        return Tile(needed.level, needed.index, min(TILE_WIDTH, available))


def record_alarm(state: WitnessState, alarm: Alarm) -> WitnessState:
    """The state with `alarm` recorded against its log (WitnessAlarm.state does this)."""
    record = state.get(alarm.origin)
    if record is None:
        raise LedgerError(f"witness state: no record of log {alarm.origin!r} to raise an alarm against")
    return state.put(replace(record, alarm=alarm))


def format_state(state: WitnessState) -> str:
    """The witness state as JSON text (what a witness persists between requests)."""
    logs = {}
    for r in state.logs:
        logs[r.origin] = {
            "size": r.size,
            "root_hash": b64encode(r.root_hash),
            "checkpoint": r.note,
            "cosignatures": r.cosignatures,
            "alarm": None
            if r.alarm is None
            else {
                "reason": r.alarm.reason,
                "cosigned_checkpoint": r.alarm.cosigned_note,
                "conflicting_checkpoint": r.alarm.conflicting_note,
            },
        }
    return json.dumps({"format": STATE_FORMAT, "logs": logs}, indent=2, ensure_ascii=False) + "\n"


def parse_state(text: str) -> WitnessState:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"witness state: not JSON ({exc})") from None
    if (
        not isinstance(obj, dict)
        or obj.get("format") != STATE_FORMAT
        or not isinstance(obj.get("logs"), dict)
    ):
        raise FormatError(f"witness state: expected an object with format {STATE_FORMAT!r} and logs")
    records = []
    for origin, item in obj["logs"].items():
        where = f"witness state: log {origin!r}"
        try:
            alarm = item["alarm"]
            record = LogRecord(
                origin,
                item["size"],
                decode_hash(item["root_hash"], f"{where}: root_hash"),
                item["checkpoint"],
                item["cosignatures"],
                None
                if alarm is None
                else Alarm(
                    origin, alarm["reason"], alarm["cosigned_checkpoint"], alarm["conflicting_checkpoint"]
                ),
            )
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{where}: missing or malformed field {exc}") from None
        checkpoint = parse_checkpoint(parse_note(record.note).text)
        if (checkpoint.origin, checkpoint.size, checkpoint.root_hash) != (
            origin,
            record.size,
            record.root_hash,
        ):
            raise FormatError(f"{where}: size and root_hash do not match the recorded checkpoint")
        records.append(record)
    return WitnessState(tuple(records))


def _raise_alarm(state: WitnessState, record: LogRecord, conflicting_note: str, reason: str) -> None:
    alarm = Alarm(record.origin, reason, record.note, conflicting_note)
    raise WitnessAlarm(alarm, record_alarm(state, alarm))


def _check_tiles_match(checkpoint: Checkpoint, reader: HashReader) -> None:
    root = tree_hash(checkpoint.size, reader) if checkpoint.size else EMPTY_ROOT
    if len(root) != HASH_SIZE or root != checkpoint.root_hash:
        raise VerificationError(
            f"tiles of {checkpoint.origin}: the tree of size {checkpoint.size} they hold has root "
            f"{b64encode(root)}, not the signed root {b64encode(checkpoint.root_hash)}"
        )
