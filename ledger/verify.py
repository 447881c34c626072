"""Verification of a whole store, and of one batch (docs/ledger-format.md, "Verifying a whole store").

`verify_store` trusts nothing in the database but the bytes it checks: it replays the key
history from the pinned root public key, checks every entry row (canonical bytes, hash,
index columns, key validity, signature, chain links), recomputes every stored Merkle hash
from the leaves, and checks every signed checkpoint against the recomputed roots and its
predecessor, and any checkpoints kept elsewhere against the stored tree. It fails closed:
it returns the report only if everything holds, else raises StoreVerificationError whose
problems list starts with the first bad item.

The whole verification reads one snapshot (REPEATABLE READ on PostgreSQL, one read
transaction on SQLite), so a store that is being appended to verifies consistently. Rows
are streamed; signatures are verified in a process pool.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, String, exists, func, select, type_coerce
from sqlalchemy.orm import Session

from farmtrace.ledger.bundle import NoCheckpoint, proof_bundle
from farmtrace.ledger.bundle_verify import verify_bundle
from farmtrace.ledger.checkpoint import Checkpoint
from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import KEYS_CHAIN
from farmtrace.ledger.errors import FormatError, LedgerError, StoreVerificationError, VerificationError
from farmtrace.ledger.keyhistory import KeyHistory, KeyRecord
from farmtrace.ledger.keys import key_id_for
from farmtrace.ledger.models import Chain, EntryRow, MerkleLeaf, PublicKey, Unsequenced
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.note import parse_verifier_key
from farmtrace.ledger.tlog import stored_hash_count
from farmtrace.ledger.verify_report import Problem, Problems, VerifyReport, entry_problem, leaf_problem
from farmtrace.ledger.verify_rows import (
    ChunkResult,
    Link,
    check_chunk,
    check_chunks,
    link_problem,
    stored_entry,
)
from farmtrace.ledger.verify_tree import TreePass, check_checkpoints, check_trusted, open_with_log_keys

__all__ = [
    "BatchReport",
    "Problem",
    "StoreVerificationError",
    "VerifyReport",
    "format_root_key",
    "parse_root_key",
    "verify_batch",
    "verify_store",
]

CHUNK_ROWS = 2000  # entries per task sent to a worker: ~0.3 s of Ed25519 work

Progress = Callable[[int, int], None]  # (entries checked, entries in the store)


def verify_store(
    source: Engine | Session | Connection,
    root_public_key: bytes,
    *,
    log_origin: str | None = None,
    trusted_checkpoints: Sequence[str] = (),
    progress: Progress | None = None,
    workers: int | None = os.cpu_count(),
    chunk_rows: int = CHUNK_ROWS,
) -> VerifyReport:
    """Verify everything in the store; return the report, or raise StoreVerificationError.

    `trusted_checkpoints` are signed checkpoint notes kept outside this database (by a
    witness, on a published page, in an old file); each must be a prefix of the stored
    tree, which catches a truncated or forked log that is otherwise self-consistent.
    """
    started = time.perf_counter()
    problems = Problems()
    with _snapshot(source) as conn:
        history = replay_key_history(conn, root_public_key, problems)
        check_key_index(conn, history, problems)
        log_keys = [record for record in history.keys.values() if record.role == "log"]
        trusted = _open_trusted(trusted_checkpoints, log_keys, log_origin, problems)
        sizes = conn.scalars(select(CheckpointRow.tree_size)).all()
        tree = TreePass(conn, [*sizes, *(checkpoint.size for _n, checkpoint in trusted)], problems)
        counts = _check_entries(conn, history, problems, workers or 1, chunk_rows, progress, tree.step)
        tree.run()
        _check_tables(conn, problems)
        summary = check_checkpoints(conn, log_keys, log_origin, tree, problems)
        for number, checkpoint in trusted:
            if summary.origin is not None and checkpoint.origin != summary.origin:
                problems.add(
                    "trusted",
                    Problem(
                        f"trusted checkpoint #{number + 1}",
                        f"origin {checkpoint.origin!r} is not the store's origin {summary.origin!r}",
                    ),
                )
        check_trusted(conn, trusted, tree, summary.latest, problems)
    latest = summary.latest
    report = VerifyReport(
        root_key_id=key_id_for(root_public_key),
        log_origin=summary.origin,
        entries=counts.entries,
        batches=counts.batches,
        signatures=counts.signatures,
        leaves=tree.leaf_rows,
        unsequenced=counts.unsequenced,
        stored_hashes=stored_hash_count(tree.size),
        checkpoints=summary.count,
        trusted_checkpoints=len(trusted),
        tree_size=0 if latest is None else latest.size,
        root_hash=None if latest is None else b64encode(latest.root_hash),
        elapsed_s=time.perf_counter() - started,
        problems=tuple(problems.all()),
        more_problems=problems.dropped,
    )
    if problems:
        raise StoreVerificationError(report, list(report.problems))
    return report


@contextmanager
def _snapshot(source: Engine | Session | Connection) -> Iterator[Connection]:
    """One consistent, read-only view of the store for the whole verification."""
    if isinstance(source, Session):
        yield source.connection()
        return
    if isinstance(source, Connection):
        yield source
        return
    options = {}
    if source.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with source.connect() as conn:
        conn = conn.execution_options(**options)
        with conn.begin() as transaction:
            yield conn
            transaction.rollback()  # read only: nothing to keep


def replay_key_history(conn: Connection, root_public_key: bytes, problems: Problems) -> KeyHistory:
    """The key history from the `keys` chain, each entry checked against the root key."""
    history = KeyHistory(root_public_key)
    rows = conn.execute(
        select(EntryRow.seq, EntryRow.canonical, EntryRow.signature, MerkleLeaf.leaf_index)
        .outerjoin(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
        .where(EntryRow.batch == KEYS_CHAIN)
        .order_by(EntryRow.seq)
    ).all()
    for seq, canonical, signature, leaf in rows:
        try:
            history.apply(stored_entry(bytes(canonical)), bytes(signature))
        except LedgerError as exc:
            what = str(exc).removeprefix(f"{KEYS_CHAIN}/{seq}: ")
            problems.add("keys", entry_problem(KEYS_CHAIN, seq, leaf, f"key history: {what}"))
            if seq == 0:
                break  # without the root key nothing else can be checked
    if history.root_key_id not in history.keys and not problems:
        problems.add(
            "keys",
            entry_problem(
                KEYS_CHAIN, 0, None, f"missing: no entry registers the root key {history.root_key_id}"
            ),
        )
    return history


def check_key_index(conn: Connection, history: KeyHistory, problems: Problems) -> None:
    """ledger_public_key, which the append path consults, must agree with the key chain."""
    indexed = {row.key_id: row for row in conn.execute(select(PublicKey))}
    for key_id, record in history.keys.items():
        row = indexed.pop(key_id, None)
        if row is None:
            problems.add(
                "keys",
                Problem(f"key {key_id}", "registered in the key chain, missing from ledger_public_key"),
            )
            continue
        stored = KeyRecord(
            row.key_id,
            row.org,
            row.role,
            bytes(row.public_key),
            _aware(row.valid_from),
            _aware(row.revoked_at),
        )
        if stored != record:
            problems.add(
                "keys", Problem(f"key {key_id}", f"ledger_public_key says {stored}, the key chain {record}")
            )
    for key_id in indexed:
        problems.add(
            "keys",
            Problem(f"key {key_id}", "in ledger_public_key, but no valid key-chain entry registers it"),
        )


@dataclass
class _Counts:
    entries: int = 0
    batches: int = 0
    signatures: int = 0
    unsequenced: int = 0


def entry_rows(dialect: str):  # type: ignore[no-untyped-def]
    """The query of the entry pass: one row per entry in (batch, seq) order, as
    verify_rows.check_chunk takes them (see verify_rows.Row)."""
    # On SQLite recorded_at comes as the stored text, which verify_rows compares as text:
    # cheaper than a datetime to make, to send to a worker and to compare.
    recorded_at = type_coerce(EntryRow.recorded_at, String) if dialect == "sqlite" else EntryRow.recorded_at
    return (
        select(
            EntryRow.batch,
            EntryRow.seq,
            EntryRow.entry_hash,
            EntryRow.canonical,
            EntryRow.signature,
            EntryRow.client_id,
            EntryRow.entry_type,
            EntryRow.author,
            EntryRow.key_id,
            recorded_at,
            MerkleLeaf.leaf_index,
            Unsequenced.entry_id.is_not(None),
        )
        .outerjoin(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
        .outerjoin(Unsequenced, Unsequenced.entry_id == EntryRow.id)
        .order_by(EntryRow.batch, EntryRow.seq, EntryRow.id)
    )


def _check_entries(
    conn: Connection,
    history: KeyHistory,
    problems: Problems,
    workers: int,
    chunk_rows: int,
    progress: Progress | None,
    idle: Callable[[], bool],
) -> _Counts:
    total = conn.scalar(select(func.count()).select_from(EntryRow)) or 0
    if total <= chunk_rows:
        workers = 1  # a pool costs more to start than a chunk takes to check
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
        entry_rows(conn.dialect.name)
    )
    chunks = ([tuple(row) for row in part] for part in result.partitions(chunk_rows))
    counts = _Counts()
    before: Link | None = None
    for chunk in check_chunks(chunks, history, workers, idle):
        _merge(chunk, before, counts, problems)
        before = chunk.last or before
        if progress is not None:
            progress(counts.entries, total)
    return counts


def _merge(chunk: ChunkResult, before: Link | None, counts: _Counts, problems: Problems) -> None:
    if chunk.first is None:
        return
    boundary = link_problem(before, chunk.first)
    placed = boundary is None
    for position, problem in chunk.problems:
        if not placed and position > 0:
            problems.add("entries", boundary)
            placed = True
        problems.add("entries", problem)
    if not placed:
        problems.add("entries", boundary)
    counts.entries += chunk.entries
    counts.signatures += chunk.signatures
    counts.unsequenced += chunk.unsequenced
    counts.batches += chunk.batch_starts + (before is None or before.batch != chunk.first.batch)


def _check_tables(conn: Connection, problems: Problems) -> None:
    """What the per-row passes cannot see: chains without entries, entries leafed twice."""
    empty = conn.scalars(
        select(Chain.batch)
        .where(~exists().where(EntryRow.batch == Chain.batch))
        .order_by(Chain.batch)
        .limit(100)
    )
    for batch in empty:
        problems.add(
            "entries", entry_problem(batch, 0, None, "missing: the chain is registered but has no entries")
        )
    twice = conn.execute(
        select(MerkleLeaf.entry_id, func.min(MerkleLeaf.leaf_index), func.max(MerkleLeaf.leaf_index))
        .group_by(MerkleLeaf.entry_id)
        .having(func.count() > 1)
        .limit(100)
    )
    for entry_id, first, last in twice:
        problems.add(
            "tree", leaf_problem(last, f"entry #{entry_id} is already leaf {first}: an entry appears twice")
        )


def _open_trusted(
    notes: Sequence[str], log_keys: list[KeyRecord], origin: str | None, problems: Problems
) -> list[tuple[int, Checkpoint]]:
    opened = []
    for number, note in enumerate(notes):
        try:
            opened.append((number, open_with_log_keys(note, log_keys, origin)))
        except LedgerError as exc:
            problems.add("trusted", Problem(f"trusted checkpoint #{number + 1}", f"does not verify: {exc}"))
    return opened


# -- one batch --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchReport:
    batch: str
    entries: int
    signatures: int
    included: int  # entries covered by the latest checkpoint (the chain vouches for all before the head)
    tree_size: int
    log_origin: str
    elapsed_s: float


def verify_batch(
    session: Session, batch: str, root_public_key: bytes, *, log_origin: str | None = None
) -> BatchReport:
    """One batch: its stored rows as verify_store checks them, then its proof bundle
    (chain, signatures, inclusion of its head in the latest checkpoint) as a client would."""
    started = time.perf_counter()
    problems = Problems()
    conn = session.connection()
    history = replay_key_history(conn, root_public_key, problems)
    rows = [tuple(row) for row in conn.execute(entry_rows(conn.dialect.name).where(EntryRow.batch == batch))]
    if not rows:
        raise VerificationError(f"batch {batch}: no such batch in the store")
    chunk = check_chunk(rows, history)
    _merge(chunk, None, _Counts(), problems)
    verdict = None
    if not problems:
        try:
            bundle = proof_bundle(session, batch)
            assert bundle is not None
            verdict = verify_bundle(bundle, root_public_key, origin=log_origin)
        except (NoCheckpoint, VerificationError) as exc:
            where, _, what = str(exc).removeprefix("proof bundle: ").partition(": ")
            if not where.startswith(f"{batch}/"):
                where, what = f"batch {batch}", str(exc)
            problems.add("entries", Problem(where, what, batch=batch))
    report = BatchReport(
        batch=batch,
        entries=chunk.entries,
        signatures=chunk.signatures,
        included=0 if verdict is None else verdict.included,
        tree_size=0 if verdict is None else verdict.tree_size,
        log_origin="" if verdict is None else verdict.log_origin,
        elapsed_s=time.perf_counter() - started,
    )
    if problems:
        raise StoreVerificationError(report, problems.all())
    return report


# -- the pinned root key ----------------------------------------------------------------


_VERIFIER_KEY = re.compile(r"[^+\s]+\+[0-9a-f]{8}\+")


def format_root_key(public_key: bytes) -> str:
    """The root key's public form, as written to root.pub: '<key id> <base64 key>\\n'."""
    return f"{key_id_for(public_key)} {b64encode(public_key)}\n"


def parse_root_key(text: str) -> bytes:
    """A root public key from its public form, bare base64, or a note verifier key."""
    text = text.strip()
    parts = text.split()
    if len(parts) == 2 and parts[0].startswith("k"):
        key = b64decode(parts[1], "root key")
        if len(key) != 32 or key_id_for(key) != parts[0]:
            raise FormatError(f"root key: id {parts[0]} does not match the key {parts[1]}")
        return key
    if len(parts) == 1 and _VERIFIER_KEY.match(text):
        return parse_verifier_key(text).public_key
    if len(parts) == 1:
        key = b64decode(text, "root key")
        if len(key) != 32:
            raise FormatError(f"root key: expected 32 bytes of Ed25519 public key, found {len(key)}")
        return key
    raise FormatError(f"root key: expected '<key id> <base64 key>' or base64, found {text[:80]!r}")


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every time the ledger stores is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
