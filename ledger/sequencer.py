"""The sequencer: moves appended entries into the global Merkle log and signs a checkpoint.

Exactly one integration runs at a time: on PostgreSQL a transaction-scoped advisory lock,
on SQLite the database write lock (the session must be opened with write intent). The
primary keys of merkle_leaf and merkle_hash would refuse a second, racing integration
anyway, so a lost lock can never fork the log; it can only make one attempt fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from farmtrace.ledger.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.errors import LedgerError, TreeError
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.models import EntryRow, MerkleHash, MerkleLeaf, Unsequenced
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.tlog import stored_hash_count, stored_hashes_for_batch, tree_hash

# pg_advisory_xact_lock key: "farmtrc" as an integer, so it won't collide with other apps.
SEQUENCER_LOCK = 0x6661726D747263
MAX_BATCH = 10_000


class DbHashReader:
    """tlog.HashReader over the merkle_hash table: one query per call."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        if not indexes:
            return []
        rows = self.session.execute(
            select(MerkleHash.idx, MerkleHash.hash).where(MerkleHash.idx.in_(indexes))
        )
        found: dict[int, bytes] = {idx: bytes(h) for idx, h in rows}
        missing = [i for i in indexes if i not in found]
        if missing:
            raise TreeError(f"merkle_hash: stored hashes {missing[:5]} are missing")
        return [found[i] for i in indexes]


@dataclass(frozen=True)
class Integration:
    old_size: int
    new_size: int
    root_hash: bytes
    note: str


def tree_size(session: Session) -> int:
    largest = session.scalar(select(func.max(MerkleLeaf.leaf_index)))
    return 0 if largest is None else largest + 1


def latest_checkpoint(session: Session) -> CheckpointRow | None:
    return session.scalars(select(CheckpointRow).order_by(CheckpointRow.tree_size.desc()).limit(1)).first()


def integrate(
    session: Session,
    log_signer: SignerKey,
    max_batch: int = MAX_BATCH,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Integration | None:
    """Integrate waiting entries (oldest first) and sign a checkpoint for the new size.

    Returns None when nothing was waiting and the latest checkpoint is current. The caller
    commits; until then nothing is visible, so a crash here loses no acknowledged entry.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK})
    size = tree_size(session)
    pending = session.execute(
        select(Unsequenced.entry_id, EntryRow.entry_hash)
        .join(EntryRow, EntryRow.id == Unsequenced.entry_id)
        .order_by(Unsequenced.entry_id)
        .limit(max_batch)
    ).all()
    latest = latest_checkpoint(session)
    if not pending and latest is not None and latest.tree_size == size:
        return None
    reader = DbHashReader(session)
    leaf_hashes = [row.entry_hash for row in pending]
    new_hashes = stored_hashes_for_batch(size, leaf_hashes, reader)
    first = stored_hash_count(size)
    if new_hashes:
        session.execute(insert(MerkleHash), [{"idx": first + i, "hash": h} for i, h in enumerate(new_hashes)])
        session.execute(
            insert(MerkleLeaf),
            [{"leaf_index": size + i, "entry_id": row.entry_id} for i, row in enumerate(pending)],
        )
        session.execute(
            delete(Unsequenced).where(Unsequenced.entry_id.in_([row.entry_id for row in pending]))
        )
    new_size = size + len(pending)
    root = tree_hash(new_size, reader)
    note = sign_checkpoint(Checkpoint(log_signer.name, new_size, root), log_signer)
    session.add(CheckpointRow(tree_size=new_size, root_hash=root, note=note, created_at=clock()))
    session.flush()
    return Integration(size, new_size, root, note)


def run_loop(
    engine: Engine,
    log_signer: SignerKey,
    interval_s: float,
    stop: threading.Event,
    on_error: Callable[[Exception], None] = lambda exc: None,
    on_integrated: Callable[[Integration], None] = lambda done: None,
) -> None:
    """Integrate every `interval_s` seconds until `stop` is set; a failed round is retried.

    `on_integrated` is called with each integration after its commit (never before: what
    it publishes, e.g. the checkpoint file that `farmtrace restore` checks against, must be
    durable in the database first)."""
    sessions = sessionmaker(bind=write_engine(engine))
    while not stop.is_set():
        try:
            with sessions() as session:
                done = integrate(session, log_signer)
                session.commit()
        except (SQLAlchemyError, LedgerError) as exc:
            on_error(exc)
            done = None
        if done is not None:
            on_integrated(done)
        # Catch up without sleeping while a backlog remains.
        if done is None or done.new_size - done.old_size < MAX_BATCH:
            stop.wait(interval_s)
