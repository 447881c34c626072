"""Print jobs (farmtrace.trace.printing): what is recorded, what counts as printed, reprints
as ledger entries, cancelled and dead jobs, resume claims, and the labels themselves."""

from __future__ import annotations

import threading
import time
import tracemalloc
from datetime import date, timedelta
from typing import Any

import pytest
from codes_testkit import DOMAIN, GTIN, PACKER, CodesEnv, make_codes_env
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from farmtrace.ledger.db import write_engine
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow
from farmtrace.printer import get_layout
from farmtrace.trace import printing
from farmtrace.trace.codes.models import CodeReprint
from farmtrace.trace.errors import InvalidInput, NotPermitted, RuleViolation
from farmtrace.trace.gs1.qr_uri import qr_uri
from farmtrace.trace.models.printing import PrintJobRow
from farmtrace.trace.serials import parse_serial
from farmtrace.trace.services import trace_services


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


def issue(env: CodesEnv, count: int, batch: str | None = None) -> int:
    issued = env.codes.issue(PACKER, batch or env.batch, count)
    env.session.commit()
    return issued.range_id


def start(env: CodesEnv, range_id: int, first: int, count: int, **options: Any) -> printing.PrintJobView:
    values: dict[str, Any] = {
        "station": PACKER,
        "range_id": range_id,
        "first_index": first,
        "count": count,
        "layout": "50x30",
        "fmt": "zpl",
        "printer": "tcp://10.0.0.7:9100",
        "domain": DOMAIN,
        **options,
    }
    job = printing.start_job(env.codes.ctx, **values)
    env.session.commit()
    return job


def now(env: CodesEnv):  # type: ignore[no-untyped-def]
    return env.codes.ctx.now()


def progress(env: CodesEnv, job: printing.PrintJobView, runner: str, **changes: Any) -> str | None:
    requested = printing.record_progress(env.session, job.id, runner, now(env), **changes)
    env.session.commit()
    return requested


def claim(env: CodesEnv, job: printing.PrintJobView, runner: str = "host:1") -> printing.PrintJobView:
    claimed = printing.claim_job(env.session, job.id, runner, now(env))
    env.session.commit()
    return claimed


def age(env: CodesEnv, job_id: int, seconds: float) -> None:
    """The job's process went silent `seconds` ago (as if it had been killed)."""
    moment = now(env) - timedelta(seconds=seconds)
    env.session.execute(
        update(PrintJobRow).where(PrintJobRow.id == job_id).values(heartbeat_at=moment, started_at=moment)
    )
    env.session.commit()


def reprint_entries(env: CodesEnv) -> list[EntryRow]:
    return list(env.session.scalars(select(EntryRow).where(EntryRow.entry_type == "codes.reprinted")))


def test_a_job_is_recorded_with_its_labels(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100, brand="五华红", client_id="console-0123456789abcdef01234567")
    row = env.session.get(PrintJobRow, job.id)
    assert row is not None
    assert (row.batch_id, row.range_id, row.first_index, row.last_index) == (env.batch, range_id, 0, 99)
    assert (row.station_org_id, row.layout, row.format, row.dpi) == (PACKER, "50x30", "zpl", 203)
    assert (row.printer, row.state, row.confirmed, row.reprint, row.ended_at) == (
        "tcp://10.0.0.7:9100",
        "running",
        0,
        False,
        None,
    )
    # no packing recorded yet: the label carries the day it was printed (county time)
    assert job.packed_on == printing.county_today(now(env)) and job.brand == "五华红"
    assert job.alive and job.count == 100 and job.next_index == 0
    again = start(env, range_id, 0, 100, client_id="console-0123456789abcdef01234567")
    assert again.id == job.id and not again.created

    keyring = env.codes.keyring()
    labels = list(
        printing.label_data(
            env.session, keyring, DOMAIN, range_id, range(98, 102), packed_on=date(2026, 3, 3)
        )
    )
    first_n = env.codes.range(range_id).first_serial
    assert first_n is not None
    base = parse_serial(keyring, first_n)
    for offset, label in enumerate(labels):
        assert label is not None
        assert parse_serial(keyring, label.serial) == base + 98 + offset
        assert label.uri == qr_uri(DOMAIN, label.serial, gtin=GTIN, lot="LOT-A1")
        assert (label.product_name, label.lot, label.producer) == ("横陂蜜柚", "LOT-A1", "横陂果蔬专业合作社")
        assert label.packed_on == date(2026, 3, 3) and label.brand is None


def test_next_unprinted_skips_printed_and_reserved_labels(env: CodesEnv) -> None:
    first_range = issue(env, 100)
    second_range = issue(env, 500)
    t = now(env)
    assert printing.next_unprinted(env.session, env.batch, 60, t) == (first_range, 0)
    job = start(env, first_range, 0, 60)
    # a live job reserves its whole span, confirmed or not
    assert printing.next_unprinted(env.session, env.batch, 40, now(env)) == (first_range, 60)
    assert printing.next_unprinted(env.session, env.batch, 41, now(env)) == (second_range, 0)
    claim(env, job)
    progress(env, job, "host:1", confirmed=60, state="done")
    assert printing.next_unprinted(env.session, env.batch, 40, now(env)) == (first_range, 60)
    with pytest.raises(RuleViolation) as refused:
        printing.next_unprinted(env.session, env.batch, 501, now(env))
    assert refused.value.message == (
        f"count: batch {env.batch} has 540 unprinted codes but at most 500 in a row (range {second_range}), "
        "found a request for 501; print at most 500 or issue more codes"
    )
    with pytest.raises(RuleViolation) as none:
        printing.next_unprinted(env.session, env.batch_same_product, 1, now(env))
    assert none.value.message == f"batch: {env.batch_same_product} has no issued codes; issue codes first"


def test_printing_printed_labels_again_needs_a_reason(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100)
    claim(env, job)
    progress(env, job, "host:1", confirmed=100, state="done")
    with pytest.raises(RuleViolation) as refused:
        start(env, range_id, 90, 20)
    assert refused.value.rule == "already_printed"
    assert refused.value.message == (
        f"reprint_reason: labels of range {range_id} were already printed (90..99 by job {job.id} (done)); "
        "give a reprint reason to print them again"
    )
    env.session.rollback()
    assert env.count(PrintJobRow) == 1 and reprint_entries(env) == []
    with pytest.raises(InvalidInput) as pointless:
        start(env, range_id, 100, 5, reprint_reason="jam")
    assert pointless.value.message.startswith("reprint_reason: no label of 100..104 in range")


def test_a_reprint_is_recorded_in_the_ledger(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100)
    claim(env, job)
    progress(env, job, "host:1", confirmed=100, state="done")
    entries_before = env.county.entry_count()
    again = start(env, range_id, 95, 10, reprint_reason="卡纸，重打 95-99")
    assert again.reprint and again.reprint_reason == "卡纸，重打 95-99"
    # labels 95..99 were printed: one codes.reprinted entry each; 100..104 are first prints
    entries = reprint_entries(env)
    assert len(entries) == 5 and env.county.entry_count() == entries_before + 5
    rows = list(env.session.scalars(select(CodeReprint).order_by(CodeReprint.id)))
    first_n = env.session.get(PrintJobRow, job.id)
    assert first_n is not None
    view = env.codes.range(range_id)
    assert [r.count for r in rows] == [1] * 5 and {r.reason for r in rows} == {"卡纸，重打 95-99"}
    assert [r.first_n - rows[0].first_n for r in rows] == [0, 1, 2, 3, 4]
    assert [(e.scope, e.org) for e in view.reprints] == [("code", PACKER)] * 5
    claim(env, again)
    progress(env, again, "host:1", confirmed=10, state="done")
    # the whole range printed again is one range-scope entry
    rest = start(env, range_id, 105, 895)
    claim(env, rest)
    progress(env, rest, "host:1", confirmed=895, state="done")
    start(env, range_id, 0, 1000, reprint_reason="ribbon ran out: every label faint")
    whole = env.codes.range(range_id).reprints[-1]
    assert (whole.scope, whole.count, whole.reason) == ("range", 1000, "ribbon ran out: every label faint")


def test_a_large_partial_reprint_is_refused(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 500)
    claim(env, job)
    progress(env, job, "host:1", confirmed=500, state="done")
    with pytest.raises(RuleViolation) as refused:
        start(env, range_id, 0, 201, reprint_reason="faint")
    assert refused.value.message == (
        f"count: a reprint of 201 labels of range {range_id} would need 201 ledger entries (codes.reprinted "
        "names one code or a whole range); reprint at most 200 labels at a time, or the whole range"
    )


def test_a_cancelled_jobs_unprinted_codes_stay_unprinted(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100)
    claim(env, job)
    assert progress(env, job, "host:1", confirmed=40) is None
    done = progress(env, job, "host:1", confirmed=40, state="cancelled")
    assert done is None
    view = printing.get_job(env.session, job.id, now(env))
    assert (view.state, view.confirmed, view.next_index, view.alive) == ("cancelled", 40, 40, False)
    assert view.ended_at is not None
    assert printing.next_unprinted(env.session, env.batch, 60, now(env)) == (range_id, 40)
    later = start(env, range_id, 40, 60)  # no reason needed: these were never printed
    assert not later.reprint and reprint_entries(env) == []
    with pytest.raises(RuleViolation):
        start(env, range_id, 39, 1)  # but label 39 was


def test_a_dead_job_releases_its_unconfirmed_labels_and_can_be_resumed(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100)
    claim(env, job, "host:1")
    progress(env, job, "host:1", confirmed=30)
    with pytest.raises(RuleViolation) as busy:
        claim(env, job, "host:2")
    assert busy.value.rule == "job_running"
    assert busy.value.message.startswith(f"job: print job {job.id} is being printed by host:1 (last seen")
    env.session.rollback()
    age(env, job.id, 120)
    assert printing.next_unprinted(env.session, env.batch, 70, now(env)) == (range_id, 30)
    resumed = claim(env, job, "host:2")
    assert (resumed.state, resumed.next_index, resumed.runner, resumed.alive) == (
        "running",
        30,
        "host:2",
        True,
    )
    # the old process comes back: it may not overwrite the new one's progress
    with pytest.raises(RuleViolation) as taken:
        progress(env, job, "host:1", confirmed=35)
    assert taken.value.message == f"job: print job {job.id} is now held by host:2, not host:1; stopping"
    env.session.rollback()
    progress(env, job, "host:2", confirmed=100, state="done")
    with pytest.raises(RuleViolation) as done:
        claim(env, job, "host:3")
    assert done.value.message == f"job: print job {job.id} is done (100 labels)"


def test_resume_is_refused_when_a_later_job_printed_the_rest(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100)
    claim(env, job)
    progress(env, job, "host:1", confirmed=50, state="cancelled")
    later = start(env, range_id, 50, 10)
    claim(env, later, "host:2")
    progress(env, later, "host:2", confirmed=10, state="done")
    with pytest.raises(RuleViolation) as refused:
        claim(env, job, "host:1")
    assert refused.value.message == (
        f"job: labels 50..59 of range {range_id} were printed by job {later.id} after job {job.id} stopped; "
        "start a new job for what is left"
    )


def test_console_requests(env: CodesEnv) -> None:
    range_id = issue(env, 1000)
    job = start(env, range_id, 0, 100)
    claim(env, job)

    def ask(state: str, station: str = PACKER) -> tuple[printing.PrintJobView, bool]:
        answer = printing.request_state(env.session, job.id, state, now(env), station=station)
        env.session.commit()
        return answer

    view, spawn = ask("paused")
    assert view.requested == "paused" and not spawn
    assert progress(env, job, "host:1", confirmed=10, state="paused") == "paused"
    with pytest.raises(RuleViolation):
        ask("paused")  # paused already
    env.session.rollback()
    view, spawn = ask("running")
    assert progress(env, job, "host:1") == "running" and not spawn
    with pytest.raises(NotPermitted):
        ask("cancelled", station="shop-wuhua")
    env.session.rollback()
    view, _ = ask("cancelled")
    assert progress(env, job, "host:1") == "cancelled"
    progress(env, job, "host:1", confirmed=12, state="cancelled")
    # resuming a job no process holds: the console must start one (claim_job checks the rest)
    view, spawn = ask("running")
    assert spawn and view.state == "cancelled"
    # a job whose process died is cancelled at once
    second = start(env, range_id, 100, 10)
    age(env, second.id, 300)
    stale, spawn = printing.request_state(env.session, second.id, "cancelled", now(env), station=PACKER)
    assert (stale.state, spawn) == ("cancelled", False)


def test_refusals(env: CodesEnv) -> None:
    range_id = issue(env, 100)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"count": 101}, f"count: range {range_id} has labels 0..99; labels 0..100 go past its end"),
        ({"layout": "33x33"}, "layout: layout '33x33': expected one of 40x30, 50x30"),
        ({"fmt": "epl"}, "format: expected one of zpl, zpl-bitmap, tspl, tspl-bitmap, pdf, found 'epl'"),
        ({"dpi": 600}, "dpi: expected 203 or 300 for zpl, found 600"),
        ({"station": "coop-hengpi"}, "station: coop-hengpi is not a packing station or the operator"),
        ({"batch_id": env.batch_other_gtin}, f"range: range {range_id} belongs to batch {env.batch}, not"),
    ]
    for change, message in cases:
        with pytest.raises(InvalidInput) as refused:
            start(env, range_id, 0, 100 if "count" not in change else change.pop("count"), **change)
        assert refused.value.message.startswith(message), refused.value.message
        env.session.rollback()
    env.codes.void(PACKER, "roll lost", range_id=range_id)
    env.session.commit()
    with pytest.raises(RuleViolation) as voided:
        start(env, range_id, 0, 10)
    assert voided.value.message == f"range: range {range_id} is voided; its codes must not be printed"


def test_a_label_the_printer_cannot_print_is_refused_before_the_job_starts(env: CodesEnv) -> None:
    t = env.county.trace
    t.products.register(
        "coop-hengpi", {"id": "rare-greens", "name_zh": "龑字青菜", "category": "vegetable", "unit": "kg"}
    )
    batch = t.batches.register(
        "coop-hengpi",
        {"product": "rare-greens", "lot": "R1", "producers": ["coop-hengpi"], "unit": "kg", "quantity": "5"},
    ).batch
    env.session.commit()
    range_id = issue(env, 10, batch)
    with pytest.raises(InvalidInput) as refused:
        start(env, range_id, 0, 10)
    assert refused.value.field == "layout" and "'龑' (U+9F91)" in refused.value.message
    env.session.rollback()
    assert env.count(PrintJobRow) == 0


def test_voided_codes_are_skipped_but_keep_their_index(env: CodesEnv) -> None:
    range_id = issue(env, 10)
    view = env.codes.range(range_id)
    keyring = env.codes.keyring()
    serials = [
        label.serial
        for label in printing.label_data(
            env.session, keyring, DOMAIN, range_id, range(10), packed_on=date(2026, 3, 3)
        )
        if label is not None
    ]
    env.codes.void(PACKER, "torn", code=serials[3])
    env.session.commit()
    labels = list(
        printing.label_data(env.session, keyring, DOMAIN, range_id, range(10), packed_on=date(2026, 3, 3))
    )
    assert labels[3] is None and [x.serial for x in labels if x is not None] == serials[:3] + serials[4:]
    chunks = list(printing.label_chunks("zpl", labels[2:5], get_layout("50x30"), 203))
    assert chunks[1] == b"" and chunks[0].startswith(b"^XA") and chunks[2].startswith(b"^XA")
    assert view.first_serial == serials[0]


def test_labels_stream_in_constant_memory(env: CodesEnv) -> None:
    range_id = issue(env, 100_000)
    keyring = env.codes.keyring()
    plan = printing.label_plan(env.session, keyring, DOMAIN, range_id, packed_on=date(2026, 3, 3))
    tracemalloc.start()
    try:
        count = sum(1 for _ in plan.labels(range(50_000, 60_000)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a list of them would hold 10,000 LabelData of ~400 bytes each: 4 MB
    assert count == 10_000
    assert peak < 500_000, f"peak {peak:,} bytes while streaming 10,000 labels"


def test_concurrent_starts_get_different_labels(env: CodesEnv, engine: Engine) -> None:
    """Two stations ask for "the next 100" at the same moment: the batch lock queues the
    second behind the first, which then sees the first job's reservation."""
    range_id = issue(env, 1000)
    master = env.county.keystore.master
    firsts: list[int] = []
    errors: list[BaseException] = []

    def start_next() -> None:
        try:
            with Session(write_engine(engine)) as session:
                ctx = trace_services(session, KeyStore(session, master)).ctx
                job = printing.start_next_job(
                    ctx, batch_id=env.batch, count=100, station=PACKER, layout="50x30", fmt="tspl",
                    printer="tcp://10.0.0.8:9100", domain=DOMAIN,
                )  # fmt: skip
                time.sleep(0.5)  # the other start arrives while this one is not committed
                session.commit()
                firsts.append(job.first_index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    env.session.close()
    threads = [threading.Thread(target=start_next) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and sorted(firsts) == [0, 100]
    assert printing.next_unprinted(env.session, env.batch, 1, now(env)) == (range_id, 200)
