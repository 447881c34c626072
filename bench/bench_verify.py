"""`farmtrace verify` throughput over a large SQLite store, beside the Ed25519-verify limit.

The store is built with append_many (1,000 entries per transaction over 1,000 batches) and
integrated into the Merkle log with one checkpoint per 100,000 entries. Set
FARMTRACE_BENCH_VERIFY_ENTRIES to change its size (default 1,000,000).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
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


def run() -> list[Result]:
    key = Ed25519PrivateKey.generate()
    public, signature = key.public_key(), key.sign(MESSAGE)
    single_core = rate(lambda: public.verify(signature, MESSAGE))
    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'verify.sqlite3'}")
        migrate.upgrade(engine)
        build_s = timed(lambda: _build(engine, Path(folder)))
        with Session(engine) as session:
            root = KeyStore(session, MasterKey.load(Path(folder) / "master.key")).root_key().public_key
        elapsed = {}

        def verify() -> None:
            elapsed["report"] = verify_store(engine, root, workers=os.cpu_count())

        seconds = timed(verify)
        report = elapsed["report"]
    limit = f"Ed25519 verify: {single_core:,.0f}/s on one core, {single_core * (os.cpu_count() or 1):,.0f}/s on all"
    return [
        Result(f"build the store ({report.entries:,} entries, append_many + integrate)", build_s, "s"),
        Result(
            f"farmtrace verify, {report.entries:,} entries, {os.cpu_count()} worker processes",
            report.entries / seconds,
            "entries/s",
            limit=limit,
            note=f"{seconds:.1f} s; {report.checkpoints} checkpoints, {report.batches} batches",
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
