"""The few statements a scan costs give the same answers as the plain queries they replace:
find_range's void and chain head, record_scan's two rows, item_scans against scan_summary
and recent_places, the certificates of product and batch in one statement, and the first
packing time kept per (batch, head)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from codes_testkit import PACKER, CodesEnv, make_codes_env, utc
from sqlalchemy import event, func, select

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.facts import certificates, scan_facts
from farmtrace.trace.codes.models import CodeRange, Scan, ScanInbox
from farmtrace.trace.codes.resolve import find_range
from farmtrace.trace.codes.scans import (
    flush_scans,
    item_scans,
    recent_places,
    record_scan,
    scan_summary,
    scanner_for,
)
from farmtrace.trace.models.projection import BatchCertificate
from farmtrace.trace.models.registry import ProductCertificate
from farmtrace.trace.serials import make_serial

SALT = bytes(range(32))
T0 = utc("2026-05-01 08:00")
DAY = timedelta(hours=24)


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


def issue(env: CodesEnv, count: int) -> tuple[CodeRange, list[str]]:
    issued = env.codes.issue(PACKER, env.batch, count)
    row = env.session.get(CodeRange, issued.range_id)
    key = env.codes.keyring().get(row.key_id)
    return row, [make_serial(key, n) for n in range(row.first_n, row.last_n + 1)]


def head_of(env: CodesEnv, batch: str) -> bytes:
    return env.session.scalars(
        select(EntryRow.entry_hash).where(EntryRow.batch == batch).order_by(EntryRow.seq.desc()).limit(1)
    ).one()


def test_find_range_brings_the_void_and_the_chain_head(env: CodesEnv) -> None:
    row, serials = issue(env, 3)
    located = find_range(env.session, row.first_n + 1)
    assert located is not None and located.batch.id == env.batch
    assert located.void_reason is None and located.head == head_of(env, env.batch)
    env.codes.void(PACKER, "label torn", code=serials[1])
    voided = find_range(env.session, row.first_n + 1)
    assert voided is not None and voided.void_reason == "label torn"
    assert voided.head == head_of(env, env.batch) != located.head, "the void is an entry: a new head"
    assert find_range(env.session, row.first_n).void_reason is None  # its neighbour is not void
    assert find_range(env.session, row.last_n + 1) is None


def test_record_scan_writes_one_log_row_and_one_inbox_row(env: CodesEnv) -> None:
    row, _ = issue(env, 1)
    scanner = scanner_for(SALT, "203.0.113.7")
    scan_id = record_scan(env.session, row.first_n, T0, scanner)
    stored = env.session.get(Scan, scan_id)
    assert stored is not None and (stored.n, stored.place, stored.client_hash) == (
        row.first_n,
        scanner.place,
        scanner.client_hash,
    )
    inbox = list(env.session.scalars(select(ScanInbox)))
    assert [(i.scan_id, i.n) for i in inbox] == [(scan_id, row.first_n)]
    assert record_scan(env.session, row.first_n, T0, scanner) > scan_id


def test_item_scans_agrees_with_scan_summary_and_recent_places(env: CodesEnv) -> None:
    row, _ = issue(env, 2)
    n, other = row.first_n, row.first_n + 1

    def agrees(at) -> None:  # type: ignore[no-untyped-def]
        for item in (n, other):
            found = item_scans(env.session, item, at - DAY)
            summary = scan_summary(env.session, item)
            assert found.summary == summary
            assert found.recent_places == (len(recent_places(env.session, item, at - DAY)) if summary else 0)

    agrees(T0)  # never scanned
    addresses = ["10.1.0.1", "10.1.0.2", "10.2.0.1", "172.16.0.1", "10.3.9.9"]
    for index, address in enumerate(addresses):
        record_scan(env.session, n, T0 + timedelta(hours=index), scanner_for(SALT, address))
    agrees(T0 + timedelta(hours=5))  # all pending
    assert item_scans(env.session, n, T0 + timedelta(hours=5) - DAY).recent_places == 4
    flush_scans(env.session, limit=3)
    agrees(T0 + timedelta(hours=5))  # tally and inbox
    flush_scans(env.session)
    record_scan(env.session, n, T0 + timedelta(days=2), scanner_for(SALT, "10.9.0.1"))
    agrees(T0 + timedelta(days=2))  # an old tally, one new place in the window
    assert item_scans(env.session, n, T0 + timedelta(days=1)).recent_places == 1
    assert item_scans(env.session, n, T0).summary.count == 6


def test_certificates_of_product_then_batch_in_one_statement(env: CodesEnv) -> None:
    session = env.session
    session.add_all(
        [
            ProductCertificate(
                product_id="hengpi-pomelo",
                scheme="green-food",
                number="LB-2",
                issuer="中国绿色食品发展中心",
                valid_from=date(2026, 1, 1),
                valid_until=date(2028, 12, 31),
                created_at=T0,
            ),
            BatchCertificate(
                batch_id=env.batch,
                seq=9,
                scheme="organic",
                number="OG-9",
                issuer="认证机构",
                valid_from=date(2026, 2, 1),
                valid_until=date(2027, 1, 31),
            ),
            BatchCertificate(
                batch_id=env.batch,
                seq=3,
                scheme="gi",
                number="GI-3",
                issuer="农业农村部",
                valid_from=date(2025, 1, 1),
                valid_until=date(2030, 1, 1),
            ),
        ]
    )
    session.flush()
    seen: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        found = certificates(session, "hengpi-pomelo", env.batch)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(seen) == 1
    assert [(c.scheme, c.number, c.scope, c.valid_from, c.valid_until) for c in found] == [
        ("green-food", "LB-2", "product", date(2026, 1, 1), date(2028, 12, 31)),
        ("gi", "GI-3", "batch", date(2025, 1, 1), date(2030, 1, 1)),
        ("organic", "OG-9", "batch", date(2026, 2, 1), date(2027, 1, 31)),
    ]
    assert certificates(session, "hengpi-tea", env.batch_other_gtin) == ()


def test_first_packing_time_follows_the_chain_head(env: CodesEnv) -> None:
    _, serials = issue(env, 1)
    keyring = env.codes.keyring()
    before = scan_facts(env.session, serials[0], keyring=keyring, now=T0)
    assert before.packed_at is None and before.head == head_of(env, env.batch)
    assert scan_facts(env.session, serials[0], keyring=keyring, now=T0).packed_at is None  # kept
    packed = env.county.at("2026-05-02 08:00")
    env.county.trace.events.record(
        env.batch,
        "packing.packed",
        {"packages": 10, "package": "box", "net_quantity": "5", "net_unit": "kg"},
        actor="coop-hengpi",
        event_time=packed,
    )
    after = scan_facts(env.session, serials[0], keyring=keyring, now=T0)
    assert after.head != before.head and after.packed_at == packed
    entries = env.session.scalar(
        select(func.count()).select_from(EntryRow).where(EntryRow.batch == env.batch)
    )
    assert entries and after.head == head_of(env, env.batch)
