"""The demonstration data loads, tells its stories, loads again without change, and verifies."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from trace_env import TraceClock

from farmtrace.ledger.append import Ledger
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import verify_store
from farmtrace.trace.demo import load_demo
from farmtrace.trace.projections import snapshot
from farmtrace.trace.services import trace_services


def test_the_demo_loads_once_and_verifies(engine: Engine, tmp_path) -> None:
    master = MasterKey.load_or_create(tmp_path / "master.key")
    clock = TraceClock(datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master, Ledger(session, clock=clock))
        first = load_demo(session, keystore, clock)
        session.commit()
        before = snapshot(session)
        second = load_demo(session, keystore, clock)
        session.commit()
        assert second.batches == first.batches
        assert second.created_entries == 0 and first.created_entries > 60
        assert snapshot(session) == before

        t = trace_services(session, keystore, clock)
        b = first.batches
        assert set(b) >= {"sweet-potato", "simiao-rice", "changle-spirit", "meicai", "lychee", "pomelo"}
        meicai = t.batches.get(b["meicai"])
        assert meicai.summary.conformity == "non_conformant" and [f["kind"] for f in meicai.flags] == [
            "lab_failed"
        ]
        for name in ("pomelo", "pomelo-shop", "pomelo-station"):
            assert t.batches.get(b[name]).summary.recalled
        for name in ("sweet-potato", "simiao-rice", "changle-spirit", "lychee"):
            view = t.batches.get(b[name])
            assert (view.summary.recalled, view.summary.conformity, view.flags) == (
                False,
                "conformant",
                [],
            ), name
        assert t.lineage.upstream(b["changle-spirit"]) == [b["simiao-rice-for-spirit"], b["simiao-rice"]]
        assert t.batches.get(b["lychee"]).poverty_mark is True
        assert t.batches.get(b["sweet-potato"]).summary.custodian == "town-changbu"

        integrate(session, SignerKey("demo.example/farmtrace-log", keystore.log_key().seed))
        session.commit()
        verify_store(engine, keystore.root_key().public_key, workers=1)
