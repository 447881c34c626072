"""Resolving scans: genuine, voided, forged, never issued, mistyped and mismatched codes;
scan records without raw addresses; counterfeit signals; voids and reprints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from codes_testkit import DOMAIN, GTIN, GTIN_B, PACKER, CodesEnv, make_codes_env, utc
from sqlalchemy import event, select

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.facts import (
    GENUINE,
    INVALID,
    NOT_GENUINE,
    TYPO,
    VOIDED,
    ScanFacts,
    facts_json,
    scan_facts,
)
from farmtrace.trace.codes.issue import CODES_REPRINTED, CODES_VOIDED, serial_sha256
from farmtrace.trace.codes.models import Allocator, CodeRange, Scan, ScanInbox, ScanTally
from farmtrace.trace.codes.scans import Scanner, flush_scans, scanner_for
from farmtrace.trace.codes.signals import BEFORE_PACKING, BURST, FIRST_SCAN, NOT_PACKED, REPEAT_SCANS
from farmtrace.trace.errors import InvalidInput, NotPermitted, RuleViolation
from farmtrace.trace.gs1.digital_link import format_digital_link
from farmtrace.trace.gs1.qr_uri import format_short_uri, qr_uri
from farmtrace.trace.serials import check_character, make_serial

SALT = bytes(range(32))
T0 = utc("2026-05-01 08:00")


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


def facts(env: CodesEnv, text: str, *, at=T0, scanner: Scanner | None = None) -> ScanFacts:  # type: ignore[no-untyped-def]
    return scan_facts(env.session, text, keyring=env.codes.keyring(), now=at, scanner=scanner, domain=DOMAIN)


def scanner(address: str) -> Scanner:
    return scanner_for(SALT, address)


def codes(env: CodesEnv, batch: str, count: int) -> tuple[int, list[str]]:
    issued = env.codes.issue(PACKER, batch, count)
    row = env.session.get(CodeRange, issued.range_id)
    key = env.codes.keyring().get(row.key_id)
    return issued.range_id, [make_serial(key, n) for n in range(row.first_n, row.last_n + 1)]


def test_genuine_code_by_digital_link_short_uri_and_typed_serial(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 3)
    serial = serials[1]
    for text in (
        qr_uri(DOMAIN, serial, gtin=GTIN, lot="LOT-A1"),
        format_digital_link(DOMAIN, GTIN, "LOT-A1", serial),
        format_digital_link(DOMAIN, GTIN, None, serial),
        format_short_uri(DOMAIN, serial),
        serial,
        serial.lower(),
        "-".join(serial[i : i + 5] for i in range(0, 20, 5)),
    ):
        found = facts(env, text)
        assert (found.status, found.serial, found.batch_id, found.lot) == (
            GENUINE,
            serial,
            env.batch,
            "LOT-A1",
        ), text
        assert found.genuine and found.gtin == GTIN and found.product_id == "hengpi-pomelo"
        assert found.uri == qr_uri(DOMAIN, serial, gtin=GTIN, lot="LOT-A1")
    _, plain = codes(env, env.batch_no_gtin, 1)
    found = facts(env, format_short_uri(DOMAIN, plain[0]).upper())
    assert found.genuine and found.uri == f"HTTPS://{DOMAIN.upper()}/C/{plain[0]}" and found.gtin is None


def test_forged_and_never_issued_codes_get_the_same_answer(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 5)
    key = env.codes.keyring().get(0)
    unissued = make_serial(key, env.session.get(Allocator, 1).next_n + 3)  # valid MAC, never issued
    forged_payload = serials[0][:5] + ("0" if serials[0][5] != "0" else "1") + serials[0][6:19]
    forged = forged_payload + check_character(forged_payload)  # passes the check, fails the MAC
    other_key = "7" + serials[0][1:19]
    other_key += check_character(other_key)  # a key id we do not have
    answers = [facts(env, text) for text in (unissued, forged, other_key)]
    assert [a.status for a in answers] == [NOT_GENUINE] * 3
    assert {repr(a) for a in answers} == {repr(ScanFacts(NOT_GENUINE))}
    assert {str(facts_json(a)) for a in answers} == {str({"genuine": False, "status": "not_genuine"})}
    assert env.count(Scan) == 0


def test_mistyped_codes_get_a_typo_hint(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 1)
    serial = serials[0]
    # Swap the first adjacent pair that differs: swapping equal characters changes nothing.
    i = next(i for i in range(3, 18) if serial[i] != serial[i + 1])
    swapped = serial[:i] + serial[i + 1] + serial[i] + serial[i + 2 :]
    replaced = serial[:7] + ("X" if serial[7] != "X" else "Y") + serial[8:]
    for text in (swapped, replaced, format_short_uri(DOMAIN, replaced)):
        found = facts(env, text, scanner=scanner("10.0.0.1"))
        assert found.status == TYPO and "check character does not match" in found.hint
    found = facts(env, serial[:-2])
    assert found.status == TYPO and found.hint.startswith(
        f"Invalid code {serial[:-2]!r}: Expected 20 characters"
    )
    assert env.count(Scan) == 0


def test_malformed_uris_are_refused_with_the_parser_reason(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 1)
    serial = serials[0]
    cases = {
        f"https://{DOMAIN}/01/09506000134353/10/LOT-A1/21/{serial}": "check digit",  # wrong GTIN check digit
        f"https://{DOMAIN}/01/{GTIN}/10/LOT-A1/21/{serial}X": "",  # serial too long
        f"https://{DOMAIN}/01/{GTIN}/10/L{'O' * 20}/21/{serial}": "",  # lot too long
        f"https://{DOMAIN}/01/{GTIN}/10/LOT-A1": "",  # no serial
        f"https://{DOMAIN}/x/y/z": "",
    }
    for uri, wording in cases.items():
        found = facts(env, uri)
        assert found.status in (INVALID, TYPO), uri
        assert wording in found.hint
        assert not found.issued


def test_serial_of_another_batch_in_a_digital_link_is_not_genuine(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 2)
    serial = serials[0]
    for uri in (
        format_digital_link(DOMAIN, GTIN, "LOT-A2", serial),  # same product, another lot
        format_digital_link(DOMAIN, GTIN_B, "LOT-A1", serial),  # another product's GTIN
        format_digital_link(DOMAIN, GTIN_B, None, serial),
    ):
        found = facts(env, uri, scanner=scanner("10.0.0.1"))
        assert found == ScanFacts(NOT_GENUINE), uri
    assert env.count(Scan) == 0
    # A product without a GTIN has no Digital Link at all.
    _, plain = codes(env, env.batch_no_gtin, 1)
    assert facts(env, format_digital_link(DOMAIN, GTIN, "LOT-C1", plain[0])).status == NOT_GENUINE


def test_scans_are_counted_with_hashed_clients_and_first_scan_signals(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 2)
    serial = serials[0]
    first = facts(env, serial, at=T0, scanner=scanner("203.0.113.7"))
    assert first.counted and first.scans.count == 1 and first.scans.first_at == T0
    assert [s.code for s in first.signals] == [NOT_PACKED, FIRST_SCAN]
    second = facts(env, serial, at=T0 + timedelta(days=2), scanner=scanner("203.0.113.7"))
    repeat = [s for s in second.signals if s.code == REPEAT_SCANS]
    assert repeat and (repeat[0].count, repeat[0].since) == (2, T0)
    # Looking without scanning (JSON clients, HEAD) counts nothing.
    assert facts(env, serial).scans.count == 2
    assert facts(env, serials[1]).scans is None and facts(env, serials[1]).signals == ()
    stored = list(env.session.scalars(select(Scan)))
    assert len(stored) == 2
    for row in stored:
        assert b"203.0.113.7" not in row.client_hash and len(row.client_hash) == 16
        assert row.place == scanner("203.0.113.99").place  # same /16 network, same coarse place
    assert scanner("203.0.113.7").client_hash != scanner("203.0.113.8").client_hash
    assert scanner("203.0.113.7") != scanner_for(bytes(32), "203.0.113.7")  # another day's salt


def test_flush_moves_the_inbox_into_exact_tallies(env: CodesEnv) -> None:
    _, serials = codes(env, env.batch, 3)
    for index in range(7):
        facts(env, serials[index % 2], at=T0 + timedelta(minutes=index), scanner=scanner(f"10.{index}.0.1"))
    before = [facts(env, s).scans for s in serials[:2]]
    assert env.count(ScanInbox) == 7 and env.count(ScanTally) == 0
    assert flush_scans(env.session, limit=4) == 4
    assert flush_scans(env.session) == 3
    assert flush_scans(env.session) == 0
    assert env.count(ScanInbox) == 0
    tallies = {
        t.n: (t.count, t.first_at.replace(tzinfo=None), t.last_at.replace(tzinfo=None))
        for t in env.session.scalars(select(ScanTally))
    }
    assert sorted(c for c, _, _ in tallies.values()) == [3, 4]
    assert [facts(env, s).scans for s in serials[:2]] == before  # the same before and after the flush
    facts(env, serials[0], at=T0 + timedelta(hours=1), scanner=scanner("10.9.0.1"))
    assert facts(env, serials[0]).scans.count == 5  # tally 4 + one pending


def test_before_packing_and_burst_signals(env: CodesEnv) -> None:
    t = env.county.trace
    _, serials = codes(env, env.batch, 2)
    env.county.at("2026-05-01 08:00")  # China time: 00:00 UTC
    facts(env, serials[0], at=utc("2026-04-30 23:00"), scanner=scanner("10.1.0.1"))
    packed = env.county.at("2026-05-02 08:00")
    t.events.record(
        env.batch,
        "packing.packed",
        {"packages": 100, "package": "box", "net_quantity": "5", "net_unit": "kg"},
        actor="coop-hengpi",
        event_time=packed,
    )
    early = facts(env, serials[0], at=utc("2026-05-03 00:00"), scanner=scanner("10.1.0.1"))
    assert early.packed_at == packed
    assert BEFORE_PACKING in [s.code for s in early.signals]
    late = facts(env, serials[1], at=utc("2026-05-03 00:00"), scanner=scanner("10.1.0.1"))
    assert [s.code for s in late.signals] == [FIRST_SCAN]
    for index, address in enumerate(("10.2.0.1", "10.3.0.1", "172.16.0.1")):
        found = facts(
            env, serials[1], at=utc("2026-05-03 01:00") + timedelta(minutes=index), scanner=scanner(address)
        )
    burst = [s for s in found.signals if s.code == BURST]
    assert burst and burst[0].count == 4
    # A day later the burst is over (the window is 24 hours).
    calm = facts(env, serials[1], at=utc("2026-05-04 12:00"), scanner=scanner("10.2.0.1"))
    assert BURST not in [s.code for s in calm.signals]


def test_voiding_a_code_and_a_range(env: CodesEnv) -> None:
    range_id, serials = codes(env, env.batch, 4)
    event = env.codes.void(PACKER, "label torn at the printer", code=serials[1])
    assert (event.scope, event.serial, event.count) == ("code", serials[1], 1)
    head = env.codes.ctx.ledger.head(env.batch).entry
    assert head.type == CODES_VOIDED and head.author == PACKER
    issued = env.codes.range(range_id)
    assert head.payload == {
        "range": issued.to_json()["entry_hash"],
        "scope": "code",
        "count": 1,
        "reason": "label torn at the printer",
        "serial": serials[1],
    }
    found = facts(env, serials[1], scanner=scanner("10.0.0.1"))
    assert found.status == VOIDED and not found.genuine and found.void_reason == "label torn at the printer"
    assert found.signals[0].code == "voided" and found.counted
    assert facts(env, serials[0]).status == GENUINE
    with pytest.raises(RuleViolation, match=f"code: {serials[1]} is already voided"):
        env.codes.void(PACKER, "again", code=serials[1])
    env.codes.void(env.operator, "roll misprinted", range_id=range_id)
    assert {facts(env, s).status for s in serials} == {VOIDED}
    assert facts(env, serials[0]).void_reason == "roll misprinted"
    with pytest.raises(RuleViolation, match=f"range: range {range_id} is voided"):
        env.codes.void(PACKER, "again", range_id=range_id)
    assert env.codes.range(range_id).voided


def test_void_refusals_change_nothing(env: CodesEnv) -> None:
    range_id, serials = codes(env, env.batch, 2)
    env.session.commit()
    entries = env.count(EntryRow)
    with pytest.raises(NotPermitted, match=f"range {range_id} was issued by {PACKER}"):
        env.codes.void("coop-hengpi", "not mine", range_id=range_id)
    with pytest.raises(InvalidInput, match="reason: must not be empty"):
        env.codes.void(PACKER, "   ", range_id=range_id)
    with pytest.raises(InvalidInput, match="range/code: expected exactly one"):
        env.codes.void(PACKER, "both", range_id=range_id, code=serials[0])
    with pytest.raises(InvalidInput, match="code: Unknown code"):
        env.codes.void(PACKER, "forged", code=make_serial(env.codes.keyring().get(0), 10_000))
    with pytest.raises(InvalidInput, match="another product or lot"):
        env.codes.void(PACKER, "wrong lot", code=format_digital_link(DOMAIN, GTIN, "LOT-A2", serials[0]))
    assert env.count(EntryRow) == entries


def test_reprints_are_recorded_and_visible(env: CodesEnv) -> None:
    range_id, serials = codes(env, env.batch, 3)
    env.codes.reprint(PACKER, "printer jammed, roll printed again", range_id=range_id)
    env.codes.reprint(env.operator, "one label smudged", code=serials[2])
    head = env.codes.ctx.ledger.head(env.batch).entry
    assert head.type == CODES_REPRINTED and head.payload["reason"] == "one label smudged"
    shown = env.codes.range(range_id)
    assert [(r.scope, r.serial, r.count, r.reason, r.org) for r in shown.reprints] == [
        ("range", None, 3, "printer jammed, roll printed again", PACKER),
        ("code", serials[2], 1, "one label smudged", env.operator),
    ]
    assert shown.to_json()["reprints"][1]["serial"] == serials[2]
    assert facts(env, serials[2]).status == GENUINE  # a reprint does not void
    assert [r.range_id for r in env.codes.ranges(env.batch)] == [range_id]
    assert (
        serial_sha256(serials[0])
        == env.codes.ctx.ledger.entries(env.batch)[1].entry.payload["first_serial_sha256"]
    )


def test_forged_and_never_issued_codes_run_the_same_queries(env: CodesEnv) -> None:
    """Same work, so the same time: both run exactly the one range query, and nothing else."""
    serials = codes(env, env.batch, 3)[1]
    key = env.codes.keyring().get(0)
    unissued = make_serial(key, env.session.get(Allocator, 1).next_n + 11)
    payload = serials[0][:12] + ("0" if serials[0][12] != "0" else "1") + serials[0][13:19]
    forged = payload + check_character(payload)
    keyring = env.codes.keyring()
    env.session.commit()
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = env.session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        statements = []
        for text in (forged, unissued):
            seen.clear()
            assert scan_facts(env.session, text, keyring=keyring, now=T0).status == NOT_GENUINE
            statements.append([s for s in seen if not s.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements[0] == statements[1]
    assert len(statements[0]) == 1 and "codes_range" in statements[0][0] and "LIMIT" in statements[0][0]
