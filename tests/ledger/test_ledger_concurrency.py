"""Concurrent appenders on the engine under test: 8 processes, 500 entries each.

Each process has its own engine and appends one entry per transaction, retrying the way a
real client would (same client id, so a retry never records twice). Two of them also run
the sequencer now and then, racing each other. Afterwards every batch must be one linear
chain, every acknowledged id stored exactly once, every entry integrated exactly once, and
the whole store must verify.

The process helpers here are also used by test_ledger_crash.py.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.entry import parse_stored_entry
from farmtrace.ledger.errors import ChainConflict, KeyNotUsable
from farmtrace.ledger.keys import MasterKey, SigningKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow, MerkleLeaf, Unsequenced
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import verify_store

ORIGIN = "trace.example.org/farmtrace-log"
ORG = "coop-1"
EVENT_TIME = datetime(2026, 8, 30, 9, 30, tzinfo=timezone(timedelta(hours=8)))
WORKERS = 8
PER_WORKER = 500
INTEGRATE_EVERY = 100  # appends between two sequencer runs, in the racing processes
MAX_RETRIES = 200  # per entry; a client that never gets through is a failure, not a hang

# -- what the child processes run ---------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """Seeds a child process needs, passed by value (spawn pickles the arguments)."""

    root_public: bytes
    org_seed: bytes
    log_seed: bytes

    @property
    def signer(self) -> SigningKey:
        return SigningKey.from_seed(self.org_seed)

    @property
    def log_signer(self) -> SignerKey:
        return SignerKey(ORIGIN, self.log_seed)


@dataclass(frozen=True)
class Outcome:
    acked: list[str]
    retries: int
    integrations: int


def child_engine(url: str) -> Engine:
    if url.startswith("postgresql"):
        # A client waits a bounded time for a chain lock, then retries.
        return create_db_engine(url, connect_args={"options": "-c lock_timeout=5000"})
    return create_db_engine(url)


def append_with_retries(sessions: sessionmaker, draft: Draft, signer: SigningKey) -> int:
    """Append one draft in its own transaction, retrying like a client; returns the retries."""
    for attempt in range(MAX_RETRIES):
        try:
            with sessions() as session:
                Ledger(session).append(draft, signer)
                session.commit()
            return attempt
        except (ChainConflict, OperationalError):
            time.sleep(0.001 * attempt)
    raise AssertionError(f"{draft.client_id}: not stored after {MAX_RETRIES} attempts")


def integrate_once(sessions: sessionmaker, log_signer: SignerKey, max_batch: int = 10_000) -> int:
    """One sequencer run in its own transaction; returns how many entries it integrated."""
    for attempt in range(MAX_RETRIES):
        try:
            with sessions() as session:
                done = integrate(session, log_signer, max_batch=max_batch)
                session.commit()
            return 0 if done is None else done.new_size - done.old_size
        except OperationalError:
            time.sleep(0.001 * attempt)
    raise AssertionError(f"integrate: failed {MAX_RETRIES} times")


def appender(url: str, keys: Keys, batch: str, prefix: str, count: int, integrates: bool) -> Outcome:
    engine = child_engine(url)
    sessions = sessionmaker(bind=write_engine(engine))
    signer, acked, retries, integrations = keys.signer, [], 0, 0
    for i in range(count):
        client_id = f"{prefix}-{i}"
        draft = Draft(batch, "farming.input", EVENT_TIME, ORG, client_id, {"n": str(i)})
        retries += append_with_retries(sessions, draft, signer)
        acked.append(client_id)  # acknowledged only after the commit returned
        if integrates and (i + 1) % INTEGRATE_EVERY == 0:
            integrations += integrate_once(sessions, keys.log_signer) > 0
    engine.dispose()
    return Outcome(acked, retries, integrations)


# -- set-up and checks, in the test process ----------------------------------------------


def prepare_store(url: str, key_file: Path, batches: Iterable[str]) -> Keys:
    """Root, log and organisation keys, and entry 0 of each batch."""
    engine = create_db_engine(url)
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, MasterKey.load_or_create(key_file))
        keys = keystore.bootstrap("county")
        signer = keystore.create_org_key(ORG)
        for batch in batches:
            Ledger(session).open_chain(
                Draft(batch, "batch.registered", EVENT_TIME, ORG, f"{batch}-reg", {"lot": batch}), signer
            )
        session.commit()
    engine.dispose()
    return Keys(keys.root.public_key, signer.seed, keys.log.seed)


def check_chains(session: Session) -> dict[str, int]:
    """Every chain is linear: seq 0..n-1 without a gap, each prev the hash of the one
    before, recorded times never going back. Returns the length of each chain."""
    rows = session.execute(
        select(EntryRow.batch, EntryRow.seq, EntryRow.canonical).order_by(EntryRow.batch, EntryRow.seq)
    )
    chains: dict[str, list] = {}
    for batch, seq, canonical in rows:
        entry = parse_stored_entry(bytes(canonical))
        assert (entry.batch, entry.seq) == (batch, seq)
        chains.setdefault(batch, []).append(entry)
    for batch, entries in chains.items():
        assert [e.seq for e in entries] == list(range(len(entries))), f"chain {batch} has a gap"
        assert entries[0].prev is None
        for before, after in pairwise(entries):
            assert after.prev == before.hash, f"{batch}/{after.seq}: prev is not the hash of {before.seq}"
            assert after.recorded_at >= before.recorded_at, f"{batch}/{after.seq}: time went back"
    return {batch: len(entries) for batch, entries in chains.items()}


def check_log(session: Session) -> int:
    """Every entry is one leaf and no entry two; leaf indexes are 0..n-1. Returns n."""
    entries = session.scalar(select(func.count()).select_from(EntryRow))
    leaves = session.execute(
        select(MerkleLeaf.leaf_index, MerkleLeaf.entry_id).order_by(MerkleLeaf.leaf_index)
    ).all()
    waiting = session.scalar(select(func.count()).select_from(Unsequenced))
    assert [index for index, _ in leaves] == list(range(len(leaves))), "leaf indexes are not contiguous"
    assert len({entry_id for _, entry_id in leaves}) == len(leaves), "an entry is a leaf twice"
    assert len(leaves) + waiting == entries, "an entry is neither a leaf nor waiting"
    return len(leaves)


def integrate_all(url: str, keys: Keys) -> None:
    engine = create_db_engine(url)
    sessions = sessionmaker(bind=write_engine(engine))
    while integrate_once(sessions, keys.log_signer):
        pass
    engine.dispose()


def verify_everything(url: str, keys: Keys, trusted: Sequence[str] = ()) -> None:
    engine = create_db_engine(url)
    with Session(engine) as session:
        check_chains(session)
        assert check_log(session) == session.scalar(select(func.count()).select_from(EntryRow))
    report = verify_store(engine, keys.root_public, log_origin=ORIGIN, trusted_checkpoints=trusted, workers=2)
    assert report.ok and report.unsequenced == 0
    engine.dispose()


def stored_ids(url: str, prefix: str) -> list[str]:
    engine = create_db_engine(url)
    with Session(engine) as session:
        ids = session.scalars(select(EntryRow.client_id).where(EntryRow.client_id.like(f"{prefix}%"))).all()
    engine.dispose()
    return list(ids)


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("shared", [True, False], ids=["same-batch", "different-batches"])
def test_eight_processes_append_without_fork_gap_loss_or_duplicate(
    database_url: str, tmp_path: Path, shared: bool
) -> None:
    batches = ["B-shared"] if shared else [f"B-{w}" for w in range(WORKERS)]
    keys = prepare_store(database_url, tmp_path / "master.key", batches)
    jobs = [
        (database_url, keys, batches[0 if shared else w], f"w{w}", PER_WORKER, w < 2) for w in range(WORKERS)
    ]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        outcomes = pool.starmap(appender, jobs)

    acked = [client_id for outcome in outcomes for client_id in outcome.acked]
    assert len(acked) == len(set(acked)) == WORKERS * PER_WORKER
    stored = stored_ids(database_url, "w")
    assert len(stored) == len(set(stored)) == WORKERS * PER_WORKER  # nothing recorded twice
    assert set(stored) == set(acked)  # nothing lost
    assert sum(outcome.integrations for outcome in outcomes) > 0  # the racing sequencers ran

    engine = create_db_engine(database_url)
    with Session(engine) as session:
        lengths = check_chains(session)
    engine.dispose()
    expected = dict.fromkeys(batches, 1 + PER_WORKER * (WORKERS if shared else 1))
    assert {batch: n for batch, n in lengths.items() if batch in expected} == expected

    integrate_all(database_url, keys)
    verify_everything(database_url, keys)


def test_an_entry_and_the_revocation_of_its_key_are_ordered_by_lock(
    database_url: str, tmp_path: Path
) -> None:
    """A revocation holds its key's row (or the database) while it picks its time; an
    append with that key waits for it, then sees the key revoked at an earlier time and is
    refused. Without the lock it would read the key as valid, record a later time, and
    store an entry that the key history makes invalid."""
    keys = prepare_store(database_url, tmp_path / "master.key", ["B1"])
    master = MasterKey.load_or_create(tmp_path / "master.key")
    engine = create_db_engine(database_url)
    revocation_time = datetime.now(UTC) + timedelta(seconds=1)
    revoked, release, refused = threading.Event(), threading.Event(), []

    def revoke() -> None:
        with Session(write_engine(engine)) as session:
            ledger = Ledger(session, clock=lambda: revocation_time)
            KeyStore(session, master, ledger).revoke(keys.signer.key_id, "laptop stolen")
            revoked.set()
            release.wait(30)
            session.commit()

    def append() -> None:
        draft = Draft("B1", "farming.input", EVENT_TIME, ORG, "after-theft", {})
        with Session(write_engine(engine)) as session:
            try:
                Ledger(session, clock=lambda: revocation_time + timedelta(milliseconds=5)).append(
                    draft, keys.signer
                )
                session.commit()
            except KeyNotUsable as exc:
                refused.append(exc)

    revoker = threading.Thread(target=revoke)
    revoker.start()
    assert revoked.wait(30)
    appender = threading.Thread(target=append)
    appender.start()
    time.sleep(0.5)
    assert appender.is_alive(), "the append did not wait for the revocation's lock"
    release.set()
    revoker.join(30)
    appender.join(30)
    assert len(refused) == 1 and "revoked or not yet valid" in str(refused[0])
    engine.dispose()
    integrate_all(database_url, keys)
    verify_everything(database_url, keys)
