"""`farmtrace verify` throughput over a large SQLite store, beside the Ed25519-verify limit.

The store is built with append_many (1,000 entries per transaction over 1,000 batches) and
integrated into the Merkle log with one checkpoint per 100,000 entries. Set
FARMTRACE_BENCH_VERIFY_ENTRIES to change its size (default 1,000,000; a few thousand is
enough to check that the bench runs).

Every entry costs one Ed25519 verification, so the limit is Ed25519 verify run in one
process per core at once (measured, not one core's rate times the cores: a shared or
throttled machine does not scale linearly), measured before and after the run in the same
process; the load average says how busy the machine was.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from bench.bench_limits import MESSAGE
from bench.harness import Result, rate, timed
from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import verify_store
from farmtrace.web import migrate

TITLE = "Ledger: verify a whole store"
ENTRIES = int(os.environ.get("FARMTRACE_BENCH_VERIFY_ENTRIES", "1000000"))
BATCHES = 1_000
WHEN = datetime(2026, 9, 1, tzinfo=UTC)


def _ed25519_verify_rate(_job: int = 0) -> float:
    key = Ed25519PrivateKey.generate()
    public, signature = key.public_key(), key.sign(MESSAGE)
    return rate(lambda: public.verify(signature, MESSAGE), min_seconds=2)


def _limits() -> tuple[float, float]:
    """Ed25519 verifications per second in one process, and in one process per core at once."""
    cores = os.cpu_count() or 1
    with get_context("fork").Pool(cores) as pool:
        every = sum(pool.map(_ed25519_verify_rate, range(cores)))
    return _ed25519_verify_rate(), every


def run() -> list[Result]:
    load = os.getloadavg()[0]
    before = _limits()
    sha256 = rate(lambda: hashlib.sha256(MESSAGE).digest())
    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'verify.sqlite3'}")
        migrate.upgrade(engine)
        build_s = timed(lambda: _build(engine, Path(folder)))
        with Session(engine) as session:
            root = KeyStore(session, MasterKey.load(Path(folder) / "master.key")).root_key().public_key
        elapsed = {}

        def verify() -> None:
            elapsed["report"] = verify_store(engine, root, workers=os.cpu_count())

        load = max(load, os.getloadavg()[0])
        seconds = timed(verify)
        load = max(load, os.getloadavg()[0])
        report = elapsed["report"]
    after = _limits()
    single, every = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    verified = report.entries / seconds
    limit = f"Ed25519 verify: {single:,.0f}/s in one process, {every:,.0f}/s in {os.cpu_count()} at once"
    return [
        Result("load average (1 min), the largest seen", load, "", limit=f"{os.cpu_count()} cores"),
        Result("SHA-256 of a 300-byte message", sha256, "/s"),
        Result(
            "Ed25519 verify, one process per core at once",
            every,
            "/s",
            note=f"before {before[1]:,.0f}/s, after {after[1]:,.0f}/s; one process {single:,.0f}/s",
        ),
        Result(f"build the store ({report.entries:,} entries, append_many + integrate)", build_s, "s"),
        Result(
            f"farmtrace verify, {report.entries:,} entries, {os.cpu_count()} worker processes",
            verified,
            "entries/s",
            limit=limit,
            note=(
                f"{seconds:.1f} s, {verified / every:.0%} of the all-core Ed25519 rate; "
                f"{report.checkpoints} checkpoints, {report.batches} batches"
            ),
        ),
    ]


def _build(engine, folder: Path) -> None:  # type: ignore[no-untyped-def]
    with Session(write_engine(engine)) as session:
        store = KeyStore(session, MasterKey.load_or_create(folder / "master.key"))
        keys = store.bootstrap("county")
        signer = store.create_org_key("coop-1")
        log = SignerKey("bench.example.org/log", keys.log.seed)
        ledger = Ledger(session)
        for b in range(BATCHES):
            ledger.open_chain(Draft(f"B{b}", "batch.registered", WHEN, "coop-1", f"reg-{b}"), signer)
        session.commit()
        done = BATCHES
        while done < ENTRIES:
            size = min(1_000, ENTRIES - done)
            drafts = [
                Draft(
                    f"B{(done + i) % BATCHES}",
                    "farming.input",
                    WHEN,
                    "coop-1",
                    f"e{done + i}",
                    {"dose": "1.5"},
                )
                for i in range(size)
            ]
            ledger.append_many(drafts, signer)
            session.commit()
            done += size
            if done % 100_000 < 1_000 or done >= ENTRIES:
                while integrate(session, log) is not None:
                    session.commit()
        session.commit()
