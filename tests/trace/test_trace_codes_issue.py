"""Issuing codes: O(1) rows for any count, unique numbers across ranges and batches, ledger
entries on the batch's chain, who may issue, limits and retries."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from codes_testkit import PACKER, CodesEnv, make_codes_env
from sqlalchemy import select

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.issue import CODES_ISSUED, CodeService
from farmtrace.trace.codes.models import Allocator, CodeRange, SerialKeyRow
from farmtrace.trace.codes.resolve import find_range, identify
from farmtrace.trace.errors import NotFound, NotPermitted, RuleViolation
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.serials import parse_serial, serial_range


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


ROW_TABLES = (CodeRange, EntryRow, SerialKeyRow, Allocator)


def rows(env: CodesEnv) -> dict[str, int]:
    return {table.__tablename__: env.count(table) for table in ROW_TABLES}


def test_issuing_a_million_codes_writes_as_many_rows_as_issuing_one(env: CodesEnv) -> None:
    before = rows(env)
    env.codes.issue(PACKER, env.batch, 1)
    after_one = rows(env)
    env.codes.issue(PACKER, env.batch, 1_000_000)
    after_million = rows(env)
    env.session.commit()
    grew_one = {k: after_one[k] - before[k] for k in before}
    grew_million = {k: after_million[k] - after_one[k] for k in before}
    # The first issuance also creates serial key 0; the second reuses it.
    assert grew_one == {"codes_range": 1, "ledger_entry": 1, "codes_serial_key": 1, "codes_allocator": 0}
    assert grew_million == {"codes_range": 1, "ledger_entry": 1, "codes_serial_key": 0, "codes_allocator": 0}
    assert env.session.get(Allocator, 1).next_n == 1_000_001


def test_issued_range_resolves_first_middle_and_last(env: CodesEnv) -> None:
    env.codes.issue(PACKER, env.batch_same_product, 10)
    issued = env.codes.issue(PACKER, env.batch, 100_000, layout="70x50")
    env.codes.issue(PACKER, env.batch_other_gtin, 10)
    env.session.commit()
    keyring = env.codes.keyring()
    row = env.session.get(CodeRange, issued.range_id)
    key = keyring.get(row.key_id)
    for n in (row.first_n, row.first_n + 50_000, row.last_n):
        serial = next(serial_range(key, n, 1))
        code = identify(keyring, serial)
        located = find_range(env.session, code.n)
        assert located is not None
        assert (located.range.id, located.batch.id, located.batch.lot) == (
            issued.range_id,
            env.batch,
            "LOT-A1",
        )
    assert issued.first_serial == next(serial_range(key, row.first_n, 1))
    assert issued.last_serial == next(serial_range(key, row.last_n, 1))
    # Just outside the range belongs to the neighbours, not to this batch.
    before = find_range(env.session, row.first_n - 1)
    after = find_range(env.session, row.last_n + 1)
    assert before.batch.id == env.batch_same_product and after.batch.id == env.batch_other_gtin


def test_numbers_never_repeat_across_ranges_and_batches(env: CodesEnv) -> None:
    batches = [env.batch, env.batch_same_product, env.batch_other_gtin, env.batch_no_gtin]
    for index in range(12):
        env.codes.issue(PACKER, batches[index % 4], 1 + index * 37)
    env.session.commit()
    ranges = list(env.session.scalars(select(CodeRange).order_by(CodeRange.first_n)))
    for left, right in itertools.pairwise(ranges):
        assert left.last_n < right.first_n
    keyring = env.codes.keyring()
    serials = [s for r in ranges for s in serial_range(keyring.get(r.key_id), r.first_n, r.count)]
    assert len(serials) == len(set(serials)) == sum(r.count for r in ranges)
    assert [parse_serial(keyring, s) for s in serials] == [
        n for r in ranges for n in range(r.first_n, r.last_n + 1)
    ]


def test_issuance_is_a_signed_entry_on_the_batch_chain(env: CodesEnv) -> None:
    issued = env.codes.issue(PACKER, env.batch, 500, layout="a4-3x8")
    env.session.commit()
    head = env.codes.ctx.ledger.head(env.batch)
    assert head.entry.hash == issued.entry_hash
    assert head.entry.type == CODES_ISSUED and head.entry.author == PACKER
    payload = head.entry.payload
    assert payload == {
        "count": 500,
        "station": PACKER,
        "key_id": 0,
        "first_serial_sha256": hashlib.sha256(issued.first_serial.encode()).hexdigest(),
        "last_serial_sha256": hashlib.sha256(issued.last_serial.encode()).hexdigest(),
        "uri_form": "digital_link",
        "gtin": "09506000134352",
        "layout": "a4-3x8",
    }
    # No live serial of the range is published in the (public) ledger.
    assert issued.first_serial.encode() not in head.entry.canonical
    # The batch projection follows the chain.
    assert env.session.get(Batch, env.batch).head_seq == head.entry.seq


def test_operator_may_issue_producers_may_not(env: CodesEnv) -> None:
    assert env.codes.issue(env.operator, env.batch, 3).station == env.operator
    with pytest.raises(NotPermitted, match="a cooperative does not issue codes") as caught:
        env.codes.issue("coop-hengpi", env.batch, 3)
    assert caught.value.rule == "issuer_kind"


def test_bad_requests_change_nothing(env: CodesEnv) -> None:
    env.session.commit()
    before = rows(env)
    limited = CodeService(env.codes.ctx, max_count=1000)
    with pytest.raises(RuleViolation, match=r"count: expected 1 to 1,000 codes per request, found 1001"):
        limited.issue(PACKER, env.batch, 1001)
    for bad in (0, -5, "10", True):
        with pytest.raises(RuleViolation, match="count: expected 1 to"):
            limited.issue(PACKER, env.batch, bad)
    with pytest.raises(NotFound, match="batch: no batch 'B0000000000ZZ'"):
        env.codes.issue(PACKER, "B0000000000ZZ", 5)
    with pytest.raises(NotFound, match="batch: no batch 'nonsense'"):
        env.codes.issue(PACKER, "nonsense", 5)
    with pytest.raises(Exception, match="layout: expected a layout name"):
        env.codes.issue(PACKER, env.batch, 5, layout="Big Label!")
    assert rows(env) == before


def test_retry_with_the_same_client_id_returns_the_same_range(env: CodesEnv) -> None:
    first = env.codes.issue(PACKER, env.batch, 250, client_id="station-pc-1:roll-17")
    again = env.codes.issue(PACKER, env.batch, 250, client_id="station-pc-1:roll-17")
    assert (first.created, again.created) == (True, False)
    assert again.range_id == first.range_id and again.first_serial == first.first_serial
    with pytest.raises(RuleViolation, match="client_id: 'station-pc-1:roll-17' was already used"):
        env.codes.issue(PACKER, env.batch, 251, client_id="station-pc-1:roll-17")


def test_range_that_does_not_fit_the_key_block_moves_to_the_next_key(env: CodesEnv) -> None:
    env.codes.issue(PACKER, env.batch, 1)
    env.session.get(Allocator, 1).next_n = (1 << 26) - 10  # ten numbers left under key 0
    env.session.flush()
    issued = env.codes.issue(PACKER, env.batch, 11)
    assert issued.key_id == 1 and issued.first_serial.startswith("1")
    row = env.session.get(CodeRange, issued.range_id)
    assert row.first_n == 1 << 26
    keyring = env.codes.keyring()
    assert [k.key_id for k in keyring.keys] == [0, 1]
    assert parse_serial(keyring, issued.last_serial) == row.last_n
