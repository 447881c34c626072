"""Checks of stored entry rows: encoding, hash, index columns, key, signature, chain links.

The work is in pure functions over plain tuples (`check_chunk`), so that a process pool can
run it: Ed25519 verification is the bulk of a store's verification and the only part worth
spreading across cores. Rows arrive ordered by (batch, seq); chain links inside a chunk are
checked here, the link across two chunks by the caller (`link_problem`).

`stored_entry` is parse_stored_entry with a fast path: most stored entries are accepted by
comparing them with the C json module's output, which for ledger JSON without characters
beyond U+FFFF is byte-identical to RFC 8785 (see `_fast_stored_entry`; the equivalence is
tested against the rfc8785 package on a generated corpus). Anything the fast path does not
accept goes through parse_stored_entry, which gives the error message.

`check_row` has the same two speeds: `_fast_link` accepts a row only if every check of
the full path holds (it makes each of them, more cheaply), and otherwise declines without
saying why; the full path then runs and names the problem. A row is therefore accepted
exactly when the full path would accept it (see `_fast_link` for the argument).
"""

from __future__ import annotations

import hashlib
import json
import re
from binascii import a2b_base64
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_all_start_methods, get_context
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.dialects import sqlite

from farmtrace.ledger.canonical import MAX_SAFE_INTEGER, MIN_SAFE_INTEGER
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import (
    MAX_ENTRY_BYTES,
    SIGNATURE_CONTEXT,
    Entry,
    parse_stored_entry,
    validate_fields,
)
from farmtrace.ledger.errors import FormatError, KeyNotUsable, SignatureError
from farmtrace.ledger.hashing import LEAF_PREFIX, leaf_hash
from farmtrace.ledger.keyhistory import KeyHistory
from farmtrace.ledger.keys import verify_signature
from farmtrace.ledger.models import EntryRow
from farmtrace.ledger.verify_report import Problem, entry_problem

# One row of the entry pass, in this order (see verify.py's query):
# batch, seq, entry_hash, canonical, signature, client_id, entry_type, author, key_id,
# recorded_at, leaf_index, queued
Row = tuple[Any, ...]

_SQLITE = sqlite.dialect()

# Lead bytes of 4-byte UTF-8 sequences (characters beyond U+FFFF) and bytes never valid
# in UTF-8: JCS sorts keys by UTF-16 code units, Python by code points, and the two orders
# differ only for such characters, so their presence sends an entry to the slow path.
_NOT_BMP = re.compile(rb"[\xf0-\xff]")


class _NotFast(Exception):
    """The fast path declines; the slow path will decide (and explain)."""


def _refuse(_value: Any) -> Any:
    raise _NotFast


def _safe_int(text: str) -> int:
    value = int(text)
    if not MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise _NotFast
    return value


# Built once: json.loads with hooks builds a new decoder per call, which cost as much as
# the parse. Floats, NaN/Infinity and integers beyond the I-JSON safe range are refused.
_DECODER = json.JSONDecoder(parse_float=_refuse, parse_constant=_refuse, parse_int=_safe_int)


def _make_encoder() -> Callable[[Any], str]:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True), faster.

    The C encoder built once (what JSONEncoder.iterencode builds on every call); without
    the C accelerator, the equivalent JSONEncoder. Values are parsed JSON: no cycles, no
    floats, every key a str.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
    chunks = c_make_encoder(None, _refuse, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(chunks(value, 0))


_ENCODE = _make_encoder()


def fast_canonical_value(data: bytes) -> tuple[bool, Any]:
    """(True, the JSON value of `data`) if `data` is certainly its RFC 8785 form, else
    (False, None): not canonical, or not sure.

    json.dumps(sort_keys, ensure_ascii=False, compact separators) writes strings exactly
    as RFC 8785 §3.2.2.2 does (the two-character escapes, other controls as lower-case
    \\u00xx, everything else verbatim), integers as RFC 8785 writes safe integers, and
    sorts keys by code point, which equals JCS's UTF-16 order without non-BMP characters.
    Floats, NaN, unsafe integers and lone surrogates are declined before they get there.
    Since the value is written back and compared byte for byte, any other spelling of it
    (whitespace, key order, escapes, number forms, a duplicate key, which the parse
    collapses) differs from what is written and is declined.
    """
    if not data.isascii() and _NOT_BMP.search(data):
        return False, None
    try:
        text = data.decode("utf-8")
        value, end = _DECODER.raw_decode(text)
        if end != len(text):
            return False, None
        again = _ENCODE(value).encode("utf-8")
    # ValueError includes JSONDecodeError and UnicodeDecodeError/EncodeError; RecursionError
    # is a hostile nesting depth, which the slow path reports.
    except (ValueError, RecursionError, _NotFast):
        return False, None
    return (True, value) if again == data else (False, None)


def _fast_fields(data: bytes) -> dict[str, Any] | None:
    """The fields of a valid entry whose canonical bytes are `data`; None if unsure."""
    if len(data) > MAX_ENTRY_BYTES:
        return None
    accepted, value = fast_canonical_value(data)
    if not accepted or not isinstance(value, dict):
        return None
    try:
        validate_fields(value)
    except FormatError:
        return None
    return value


def _fast_stored_entry(data: bytes) -> Entry | None:
    """The entry, if `data` is certainly canonical and valid; None if unsure."""
    fields = _fast_fields(data)
    if fields is None:
        return None
    return Entry(fields=fields, canonical=bytes(data), hash=leaf_hash(data))


def stored_entry(data: bytes) -> Entry:
    """parse_stored_entry(data), faster for the usual case; same result, same errors."""
    entry = _fast_stored_entry(data)
    return entry if entry is not None else parse_stored_entry(data)


class Link(NamedTuple):
    """What the next entry of a chain is checked against (a tuple: one is made per entry)."""

    batch: str
    seq: int
    leaf: int | None
    prev: bytes | None  # this entry's prev (None for seq 0, or if it did not parse)
    hash: bytes  # this entry's hash (the entry_hash column if it did not parse)
    recorded_at: str | None
    parsed: bool


@dataclass(frozen=True)
class ChunkResult:
    first: Link | None
    last: Link | None
    problems: list[tuple[int, Problem]]  # (position in chunk, problem), in order
    entries: int
    signatures: int
    batch_starts: int  # rows (after the first) that start a new batch
    unsequenced: int


def check_row(row: Row, history: KeyHistory) -> tuple[Link, Problem | None, bool]:
    """Everything about one stored row except its links: (link, first problem or None,
    whether its signature was verified)."""
    link = _fast_link(row, history)
    if link is not None:
        return link, None, True
    return _full_check_row(row, history)


_VERIFIERS: dict[bytes, Ed25519PublicKey] = {}  # public key bytes -> key object, per process


def _verifier(public_key: bytes) -> Ed25519PublicKey:
    verifier = _VERIFIERS.get(public_key)
    if verifier is None:
        verifier = _VERIFIERS[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
    return verifier


def _fast_link(row: Row, history: KeyHistory) -> Link | None:
    """The row's link if every check of `_full_check_row` holds for it; None otherwise.

    Soundness: this returns a link only after making each check of the full path, on the
    same values, so it accepts nothing the full path refuses:
    - the bytes: `_fast_fields` accepts only what parse_stored_entry accepts (canonical,
      at most MAX_ENTRY_BYTES, valid fields), with the same fields;
    - entry_hash: leaf_hash of the bytes, computed here;
    - the index columns: the same tuple comparison, and recorded_at by `_same_time`;
    - the key: KeyHistory.check's conditions (known key, the author's, KeyRecord.valid_at
      the entry's recorded time);
    - the signature: Ed25519 over SIGNATURE_CONTEXT + bytes with the record's key, as
      verify_signature does (64 bytes, and a key that loads);
    - leaf or queued, exactly one.
    Any failure, or anything unexpected, returns None and the full path decides.
    """
    batch, seq, entry_hash, canonical, signature = row[:5]
    client_id, entry_type, author, key_id, when, leaf, queued = row[5:]
    if (leaf is None) == (not queued) or len(signature) != 64:
        return None
    canonical = bytes(canonical)
    fields = _fast_fields(canonical)
    if fields is None:
        return None
    digest = hashlib.sha256(LEAF_PREFIX + canonical).digest()
    stamp = fields["recorded_at"]
    # What parse_recorded_at returns for a stamp validate_fields accepted (the same UTC
    # time), without its checks.
    moment = datetime.fromisoformat(stamp)
    if (
        digest != entry_hash
        or (fields["batch"], fields["seq"], fields["id"], fields["type"], fields["author"], fields["key"])
        != (batch, seq, client_id, entry_type, author, key_id)
        or not _same_time(when, stamp, moment)
    ):
        return None
    record = history.keys.get(key_id)
    if record is None or record.org != author or not record.valid_at(moment):
        return None
    try:
        _verifier(record.public_key).verify(bytes(signature), SIGNATURE_CONTEXT + canonical)
    except (InvalidSignature, ValueError):
        return None
    prev = fields["prev"]
    # validate_fields checked prev is the canonical base64 of 32 bytes, so a plain decode is exact.
    return Link(batch, seq, leaf, None if prev is None else a2b_base64(prev), digest, stamp, True)


def _full_check_row(row: Row, history: KeyHistory) -> tuple[Link, Problem | None, bool]:
    """check_row by the book, naming the first problem found."""
    batch, seq, entry_hash, canonical, signature, *columns, leaf, queued = row
    entry_hash, canonical, signature = bytes(entry_hash), bytes(canonical), bytes(signature)
    try:
        entry = stored_entry(canonical)
    except FormatError as exc:
        link = Link(batch, seq, leaf, None, entry_hash, None, False)
        what = f"stored bytes are not a valid canonical entry: {exc}"
        return link, entry_problem(batch, seq, leaf, what), False
    link = Link(batch, seq, leaf, entry.prev, entry.hash, entry.fields["recorded_at"], True)

    def bad(what: str, signed: bool = False) -> tuple[Link, Problem, bool]:
        return link, entry_problem(batch, seq, leaf, what), signed

    if entry.hash != entry_hash:
        return bad(
            f"entry_hash column {b64encode(entry_hash)} is not the hash of the stored bytes "
            f"({b64encode(entry.hash)})"
        )
    mismatch = _column_mismatch(entry, batch, seq, columns)
    if mismatch:
        return bad(mismatch)
    try:
        record = history.check(entry)
    except KeyNotUsable as exc:
        return bad(str(exc))
    try:
        verify_signature(record.public_key, entry.signing_input(), signature)
    except SignatureError:
        return bad(f"signature does not verify with key {entry.key_id}")
    if leaf is None and not queued:
        return bad("neither a leaf of the Merkle log nor waiting in the unsequenced queue", True)
    if leaf is not None and queued:
        return bad(f"leaf {leaf} of the Merkle log, yet also waiting in the unsequenced queue", True)
    return link, None, True


# How SQLAlchemy reads the recorded_at column on SQLite, where it is stored as text
# ("2026-09-01 00:00:00.123000", no offset: the ledger stores UTC); verify.py fetches it
# as that text.
_SQLITE_TIME = EntryRow.__table__.c.recorded_at.type.dialect_impl(_SQLITE).result_processor(_SQLITE, None)


def _same_time(column: object, stamp: str, moment: datetime) -> bool:
    """Whether the recorded_at column holds the entry's recorded_at (`stamp`, validated,
    and `moment`, the time it denotes).

    A datetime (PostgreSQL) is compared as a time. Text (SQLite) is compared with the
    exact text SQLAlchemy writes for that time, which it reads back as that time; any
    other text is left to `_column_time` and the full path, which read it as the
    application would.
    """
    if isinstance(column, str):
        return column == f"{stamp[:10]} {stamp[11:23]}000"
    return isinstance(column, datetime) and _aware(column) == moment


def _column_time(column: object) -> object:
    """The recorded_at column as the application reads it (text as SQLite stores it)."""
    if isinstance(column, str):
        try:
            column = _SQLITE_TIME(column)
        except ValueError:
            return column  # not a time at all: shown as it is
    return _aware(column)


def _column_mismatch(entry: Entry, batch: str, seq: int, columns: list[Any]) -> str | None:
    client_id, entry_type, author, key_id, recorded_at = columns
    fields = entry.fields
    recorded = _column_time(recorded_at)
    if (batch, seq, client_id, entry_type, author, key_id) == (
        fields["batch"],
        fields["seq"],
        fields["id"],
        fields["type"],
        fields["author"],
        fields["key"],
    ) and recorded == entry.recorded_at:
        return None
    pairs = (
        ("batch", batch, entry.batch),
        ("seq", seq, entry.seq),
        ("client_id", client_id, entry.client_id),
        ("entry_type", entry_type, entry.type),
        ("author", author, entry.author),
        ("key_id", key_id, entry.key_id),
        ("recorded_at", recorded, entry.recorded_at),
    )
    for name, column, value in pairs:
        if column != value:
            return f"column {name} is {_show(column)} but the entry says {_show(value)}"
    return None  # pragma: no cover - the comparison above found a difference


def link_problem(before: Link | None, row: Link) -> Problem | None:
    """The chain rule between two consecutive rows in (batch, seq) order."""
    batch, seq = row.batch, row.seq
    if before is None or before.batch != batch:
        if seq == 0:
            return None
        missing = f"{batch}/0" if seq == 1 else f"{batch}/0 to {batch}/{seq - 1}"
        return entry_problem(batch, 0, None, f"missing: the chain starts at {batch}/{seq} ({missing} absent)")
    if seq == before.seq:
        return entry_problem(batch, seq, row.leaf, "stored twice")
    if seq > before.seq + 1:
        gap = "" if seq == before.seq + 2 else f" (entries up to {batch}/{seq - 1} too)"
        return entry_problem(
            batch, before.seq + 1, None, f"missing: {batch}/{seq} follows {batch}/{before.seq}{gap}"
        )
    if row.parsed and row.prev != before.hash:
        shown = "null" if row.prev is None else b64encode(row.prev)
        return entry_problem(
            batch,
            seq,
            row.leaf,
            f"prev {shown} is not the hash of {batch}/{before.seq} ({b64encode(before.hash)})",
        )
    if (
        row.recorded_at is not None
        and before.recorded_at is not None
        and row.recorded_at < before.recorded_at
    ):
        return entry_problem(
            batch,
            seq,
            row.leaf,
            f"recorded_at {row.recorded_at} is earlier than {before.recorded_at} of {batch}/{before.seq}",
        )
    return None


def check_chunk(rows: list[Row], history: KeyHistory) -> ChunkResult:
    problems: list[tuple[int, Problem]] = []
    first = before = None
    batch_starts = signatures = unsequenced = 0
    for position, row in enumerate(rows):
        link = _fast_link(row, history)
        if link is None:
            link, problem, signed = _full_check_row(row, history)
            signatures += signed
            if problem is not None:
                problems.append((position, problem))
        else:
            signatures += 1
        if row[-1]:
            unsequenced += 1
        if before is None:
            first = link
        elif not (
            # The usual case, in which link_problem finds nothing; anything else goes to it.
            link.batch == before.batch
            and link.seq == before.seq + 1
            and link.prev == before.hash
            and link.recorded_at is not None
            and before.recorded_at is not None
            and link.recorded_at >= before.recorded_at
        ):
            if link.batch != before.batch:
                batch_starts += 1
            linked = link_problem(before, link)
            if linked is not None:
                problems.append((position, linked))
        before = link
    return ChunkResult(first, before, problems, len(rows), signatures, batch_starts, unsequenced)


# -- the process pool ----------------------------------------------------------------------

_WORKER_HISTORY: KeyHistory | None = None


def _init_worker(history: KeyHistory) -> None:
    global _WORKER_HISTORY
    _WORKER_HISTORY = history


def _check_chunk_in_worker(rows: list[Row]) -> ChunkResult:
    assert _WORKER_HISTORY is not None, "worker not initialised"
    return check_chunk(rows, _WORKER_HISTORY)


def check_chunks(
    chunks: Iterable[list[Row]],
    history: KeyHistory,
    workers: int,
    idle: Callable[[], bool] = lambda: False,
) -> Iterator[ChunkResult]:
    """check_chunk over `chunks`, results in order; in a pool of `workers` processes if > 1.

    A few chunks are kept in flight (bounded memory however large the store). While the
    oldest is still being checked, `idle()` is called to do other work in this process;
    it returns False when it has none left.
    """
    if workers <= 1:
        for rows in chunks:
            yield check_chunk(rows, history)
        return
    # fork, where there is one: workers start at once, and unlike spawn/forkserver they do
    # not re-run the caller's __main__ (a script without a __main__ guard would recurse).
    # The children only run check_chunk on what they are sent (every module it needs is
    # imported here already), never touch the database connections they inherit, and
    # leave with os._exit, so those connections are neither used nor closed by them.
    context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(history,)
    ) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        window = 2 * workers + 1
        for rows in chunks:
            pending.append(pool.submit(_check_chunk_in_worker, rows))
            while len(pending) >= window:
                while not pending[0].done() and idle():
                    pass
                yield pending.popleft().result()
        while pending:
            while not pending[0].done() and idle():
                pass
            yield pending.popleft().result()


def _aware(moment: object) -> object:
    # SQLite returns naive datetimes; every time the ledger stores is UTC.
    if isinstance(moment, datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _show(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return repr(value)
