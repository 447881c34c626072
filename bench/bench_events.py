"""Typed events on SQLite and PostgreSQL: a bulk upload of 1,000 events over 10 batches.

- In bulk (EventRecorder.record_many, one call per batch as POST /events/bulk makes it):
  each batch's chain replayed once, one append_many, projections written once per batch.
- One by one (EventRecorder.record per event, as the bulk endpoint did before record_many):
  each event replays its batch's chain, so the cost grows with the chain (1 to 101 entries).

Both record the same events (harvest, fertiliser, processing with a loss, temperature) by
one cooperative into fresh batches, in one transaction, committed; read them against the
custodial append_many rate of the ledger group (sign + hash + insert only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.databases import postgres_database, sqlite_database
from bench.harness import Result, timed
from farmtrace.ledger.append import Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.recorder_bulk import EventInput
from farmtrace.trace.services import TraceServices, trace_services

TITLE = "Events: a bulk upload of 1,000 events over 10 batches"
BATCHES = 10
PER_BATCH = 100
COOP = "bench-coop"
REGISTERED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def run() -> list[Result]:
    load_before = os.getloadavg()[0]
    results: list[Result] = []
    with sqlite_database("events") as url:
        results += _engine_figures("SQLite", url)
    try:
        with postgres_database("events") as url:
            results += _engine_figures("PostgreSQL", url)
    except Exception as exc:  # a missing server is reported in the table, not fatal
        results.append(Result("PostgreSQL", 0, "", note=f"not measured: {type(exc).__name__}"))
    load = max(load_before, os.getloadavg()[0])
    results.append(
        Result("load average (1 min) at start or end, the larger", load, "", f"{os.cpu_count()} cores")
    )
    return results


def events(batch: str, first: datetime) -> list[EventInput]:
    """PER_BATCH events for one batch: a harvest, then fertiliser, processing and temperature."""
    items = [EventInput(batch, "farming.harvested", {"quantity": "1000", "unit": "kg"}, COOP, first)]
    for n in range(1, PER_BATCH):
        moment = first + timedelta(minutes=n)
        kind = ("farming.input", "processing.recorded", "logistics.temperature")[n % 3]
        payload: dict[str, object] = {
            "farming.input": {
                "kind": "fertiliser",
                "product_name": "有机肥",
                "dose": "300",
                "dose_unit": "kg/mu",
            },
            "processing.recorded": {"step": "washing", "loss_quantity": "1", "loss_unit": "kg"},
            "logistics.temperature": {
                "min_celsius": "2",
                "max_celsius": "8",
                "readings": [{"time": moment.isoformat(), "celsius": "5" if n % 2 else "9"}],
            },
        }[kind]
        items.append(EventInput(batch, kind, payload, COOP, moment))
    return items


def _engine_figures(label: str, url: str) -> list[Result]:
    engine = create_db_engine(url)
    with TemporaryDirectory() as folder:
        master = MasterKey.load_or_create(Path(folder) / "master.key")
        _county(engine, master)
        bulk = _upload(engine, master, "bulk", lambda t, group: t.events.record_many(group))
        single = _upload(engine, master, "single", _one_by_one)
    engine.dispose()
    events_count = BATCHES * PER_BATCH
    return [
        Result(
            f"{label}: record_many, {events_count:,} events over {BATCHES} batches, one transaction",
            bulk,
            "s",
            limit="custodial append_many alone: the ledger group's figure",
            note=f"{events_count / bulk:,.0f} events/s",
        ),
        Result(
            f"{label}: record one by one, the same events",
            single,
            "s",
            note=f"{events_count / single:,.0f} events/s; record_many is {single / bulk:.0f}x faster",
        ),
    ]


def _one_by_one(t: TraceServices, group: list[EventInput]) -> None:
    for item in group:
        t.events.record(item.batch, item.type, item.payload, actor=item.actor, event_time=item.event_time)


def _services(session: Session, master: MasterKey) -> TraceServices:
    return trace_services(session, KeyStore(session, master, Ledger(session)))


def _county(engine: Engine, master: MasterKey) -> None:
    with Session(write_engine(engine)) as session:
        t = _services(session, master)
        t.orgs.bootstrap_operator({"id": "bench-county", "name_zh": "县运营中心"})
        t.orgs.register("bench-county", {"id": COOP, "kind": "cooperative", "name_zh": "合作社"})
        t.products.register(
            COOP, {"id": "bench-plum", "name_zh": "三华李", "category": "fruit", "unit": "kg"}
        )
        session.commit()


def _upload(
    engine: Engine, master: MasterKey, name: str, record: Callable[[TraceServices, list[EventInput]], object]
) -> float:
    """Seconds to record and commit every batch's events in one transaction (fresh batches)."""
    with Session(write_engine(engine)) as session:
        t = _services(session, master)
        batches = [
            t.batches.register(
                COOP, {"product": "bench-plum", "unit": "kg", "lot": f"{name}-{i}"}, event_time=REGISTERED
            ).batch
            for i in range(BATCHES)
        ]
        session.commit()
        groups = [events(batch, REGISTERED + timedelta(hours=1)) for batch in batches]

        def upload() -> None:
            for group in groups:
                record(t, group)
            session.commit()

        return timed(upload)
