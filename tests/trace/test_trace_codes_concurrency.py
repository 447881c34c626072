"""Scan counting under concurrent scans from several processes, with a flusher running at the
same time: every scan is counted exactly once, on the engine under test."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import UTC, datetime, timedelta

from codes_testkit import PACKER, make_codes_env
from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.trace.codes.models import CodeRange, Scan, ScanInbox, ScanTally
from farmtrace.trace.codes.scans import flush_scans, record_scan, scanner_for

WORKERS = 4
SCANS_PER_WORKER = 120
ITEMS = 6
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _scan_worker(url: str, first_n: int, worker: int, start: multiprocessing.synchronize.Event) -> None:
    engine = create_db_engine(url)
    salt = bytes([worker]) * 32
    start.wait(30)
    for index in range(SCANS_PER_WORKER):
        with Session(write_engine(engine)) as session:  # one transaction per scan, as a request does
            n = first_n + (worker + index) % ITEMS
            at = T0 + timedelta(seconds=index, microseconds=worker)
            record_scan(session, n, at, scanner_for(salt, f"10.{worker}.{index % 7}.1"))
            session.commit()
    engine.dispose()


def _flush_worker(url: str, start, done, flushed) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    start.wait(30)
    while not done.is_set():
        with Session(write_engine(engine)) as session:
            moved = flush_scans(session, limit=37)  # small batches, so flushes interleave with scans
            session.commit()
        with flushed.get_lock():
            flushed.value += moved
    engine.dispose()


def test_concurrent_scans_and_flushes_count_every_scan_once(county, database_url: str) -> None:  # type: ignore[no-untyped-def]
    env = make_codes_env(county)
    issued = env.codes.issue(PACKER, env.batch, ITEMS)
    first_n = env.session.get(CodeRange, issued.range_id).first_n
    env.session.commit()  # the fixture's session has write intent: leave no transaction open
    context = multiprocessing.get_context("fork")
    start, done, flushed = context.Event(), context.Event(), context.Value("i", 0)
    scanners = [
        context.Process(target=_scan_worker, args=(database_url, first_n, worker, start))
        for worker in range(WORKERS)
    ]
    flushers = [
        context.Process(target=_flush_worker, args=(database_url, start, done, flushed)) for _ in range(2)
    ]
    for process in scanners + flushers:
        process.start()
    start.set()
    for process in scanners:
        process.join(120)
    done.set()
    for process in flushers:
        process.join(60)
    assert [p.exitcode for p in scanners + flushers] == [0] * (WORKERS + 2)

    assert flushed.value > 0  # the flushers really ran while scans were arriving
    with Session(write_engine(env.session.get_bind())) as session:
        while flush_scans(session):
            pass
        session.commit()
        expected = Counter(
            first_n + (worker + index) % ITEMS
            for worker in range(WORKERS)
            for index in range(SCANS_PER_WORKER)
        )
        tallies = {t.n: t.count for t in session.scalars(select(ScanTally))}
        assert tallies == dict(expected)
        assert sum(tallies.values()) == WORKERS * SCANS_PER_WORKER
        assert session.scalars(select(ScanInbox)).first() is None
        assert len(list(session.scalars(select(Scan.id)))) == WORKERS * SCANS_PER_WORKER
        for tally in session.scalars(select(ScanTally)):
            times = [_utc(t) for t in session.scalars(select(Scan.scanned_at).where(Scan.n == tally.n))]
            assert (_utc(tally.first_at), _utc(tally.last_at)) == (min(times), max(times))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
