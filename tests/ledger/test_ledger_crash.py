"""Crash safety on the engine under test: processes killed with SIGKILL mid-work.

A bulk appender commits every COMMIT_EVERY entries and acknowledges each id (to a file)
only after its commit returned; a sequencer integrates a backlog in small rounds and
acknowledges each checkpoint after its commit. Each is killed at a random moment. After
the kill the store must verify, hold every acknowledged entry and checkpoint, accept a
client's retry of the unacknowledged work without recording anything twice, and let a
new integration complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_ledger_concurrency import (
    EVENT_TIME,
    ORG,
    Keys,
    check_chains,
    check_log,
    child_engine,
    integrate_all,
    prepare_store,
    stored_ids,
    verify_everything,
)

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.models import Checkpoint
from farmtrace.ledger.sequencer import integrate

BATCHES = ("B-crash-0", "B-crash-1")
COMMIT_EVERY = 25
ROUNDS = 3  # kills per test: each lands at a different point of the work
ACKS_BEFORE_KILL = 4  # acknowledged transactions before the kill may come
WAIT_S = 60


def drafts_for(prefix: str, start: int, count: int) -> list[Draft]:
    return [
        Draft(BATCHES[i % 2], "farming.input", EVENT_TIME, ORG, f"{prefix}-{i:06d}", {"n": str(i)})
        for i in range(start, start + count)
    ]


# -- the child processes ------------------------------------------------------------------


def bulk_appender(url: str, keys: Keys, prefix: str, ack_path: str) -> None:
    """Append forever in transactions of COMMIT_EVERY entries, acking each after commit."""
    sessions = sessionmaker(bind=write_engine(child_engine(url)))
    signer = keys.signer
    with open(ack_path, "a", encoding="utf-8") as acks:
        for start in range(0, 10**9, COMMIT_EVERY):
            drafts = drafts_for(prefix, start, COMMIT_EVERY)
            with sessions() as session:
                Ledger(session).append_many(drafts, signer)
                session.commit()
            acks.write("".join(f"{draft.client_id}\n" for draft in drafts))
            acks.flush()


def sequencer(url: str, keys: Keys, max_batch: int, ack_path: str) -> None:
    """Integrate in rounds of `max_batch`, acking each new checkpoint after its commit."""
    sessions = sessionmaker(bind=write_engine(child_engine(url)))
    with open(ack_path, "a", encoding="utf-8") as acks:
        while True:
            with sessions() as session:
                done = integrate(session, keys.log_signer, max_batch=max_batch)
                session.commit()
            if done is None:
                return
            acks.write(json.dumps({"size": done.new_size, "note": done.note}) + "\n")
            acks.flush()


def run_and_kill(target, args: tuple, ack_path: Path, acks_needed: int, rng: random.Random) -> bool:
    """Start `target`, SIGKILL it at a random moment after `acks_needed` acknowledgements.
    Returns False if it finished on its own first."""
    process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, str(ack_path)))
    process.start()
    deadline = time.monotonic() + WAIT_S
    while process.is_alive() and _lines(ack_path) < acks_needed:
        assert time.monotonic() < deadline, "the child acknowledged too little in time"
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.05))  # land anywhere in the transaction that follows
    finished = not process.is_alive()
    if not finished:
        os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert finished or process.exitcode == -signal.SIGKILL
    return not finished


def _lines(path: Path) -> int:
    # Only whole lines count: the child may be killed halfway through writing one.
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _acked(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text[: text.rfind("\n") + 1].splitlines()


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_bulk_append_keeps_every_acknowledged_entry(database_url: str, tmp_path: Path) -> None:
    keys = prepare_store(database_url, tmp_path / "master.key", BATCHES)
    rng = random.Random(3)
    signer = keys.signer
    for round_ in range(ROUNDS):
        prefix, ack_path = f"r{round_}", tmp_path / f"acks-{round_}.txt"
        killed = run_and_kill(
            bulk_appender, (database_url, keys, prefix), ack_path, ACKS_BEFORE_KILL * COMMIT_EVERY, rng
        )
        assert killed
        acked = _acked(ack_path)
        stored = set(stored_ids(database_url, prefix + "-"))
        assert set(acked) <= stored, "an acknowledged entry is missing"
        # Beyond the acknowledged transactions, at most the one whose commit returned just
        # before the kill; the client never heard back about it.
        done = len(acked) // COMMIT_EVERY * COMMIT_EVERY
        in_flight = drafts_for(prefix, done, COMMIT_EVERY)
        unacked = {draft.client_id for draft in in_flight} - set(acked)
        assert stored - set(acked) in (set(), unacked), "a transaction was stored in part"

        engine = create_db_engine(database_url)
        with Session(engine) as session:
            check_chains(session)
        # So it sends that transaction again.
        with Session(write_engine(engine)) as session:
            results = Ledger(session).append_many(in_flight, signer)
            session.commit()
        engine.dispose()
        assert [not r.created for r in results] == [r.entry.client_id in stored for r in results]
        assert len(stored_ids(database_url, prefix + "-")) == done + COMMIT_EVERY

    integrate_all(database_url, keys)
    verify_everything(database_url, keys)


@pytest.mark.slow
def test_killed_sequencer_leaves_a_consistent_log_and_integration_resumes(
    database_url: str, tmp_path: Path
) -> None:
    keys = prepare_store(database_url, tmp_path / "master.key", BATCHES)
    engine = create_db_engine(database_url)
    with Session(write_engine(engine)) as session:
        for start in range(0, 4000, 1000):
            Ledger(session).append_many(drafts_for("backlog", start, 1000), keys.signer)
            session.commit()
    rng = random.Random(7)
    acked_notes: list[str] = []
    for round_ in range(ROUNDS):
        ack_path = tmp_path / f"checkpoints-{round_}.jsonl"
        run_and_kill(sequencer, (database_url, keys, 150), ack_path, 2, rng)
        acked = [json.loads(line) for line in _acked(ack_path)]
        acked_notes += [item["note"] for item in acked]
        with Session(engine) as session:
            size = check_log(session)
            kept = set(session.scalars(select(Checkpoint.note)))
        assert size >= acked[-1]["size"], "an acknowledged integration was lost"
        assert set(acked_notes) <= kept, "an acknowledged checkpoint was lost"
    engine.dispose()

    integrate_all(database_url, keys)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        assert check_log(session) == 3 + len(BATCHES) + 4000  # keys/0-2, registrations, backlog
    engine.dispose()
    verify_everything(database_url, keys, trusted=acked_notes)
