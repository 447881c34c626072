"""Bulk appends on a real database: order, chains, per-entry idempotency, all-or-nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest
from ledger_env import LedgerEnv
from sqlalchemy import func, select

from farmtrace.ledger.append import MAX_BULK, Draft, Ledger, check_retry
from farmtrace.ledger.errors import AppendError, IdempotencyConflict, KeyNotUsable, NoSuchChain
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.models import EntryRow, Unsequenced
from farmtrace.ledger.sequencer import integrate, tree_size

EVENT_TIME = datetime(2026, 8, 30, 9, 30, tzinfo=timezone(timedelta(hours=8)))


def draft(batch: str, client_id: str, kind: str = "farming.input", **payload: str) -> Draft:
    return Draft(batch, kind, EVENT_TIME, "coop-1", client_id, payload)


def open_batches(env: LedgerEnv, *batches: str) -> SigningKey:
    signer = env.keystore.create_org_key("coop-1")
    for batch in batches:
        env.ledger.open_chain(draft(batch, f"{batch}-reg", "batch.registered", lot="L1"), signer)
    env.session.commit()
    return signer


def count(env: LedgerEnv, model: type = EntryRow) -> int:
    return env.session.scalar(select(func.count()).select_from(model))


def assert_linear(env: LedgerEnv, batch: str, length: int) -> None:
    entries = env.ledger.entries(batch)
    assert [stored.entry.seq for stored in entries] == list(range(length))
    for before, after in pairwise(entries):
        assert after.entry.prev == before.entry.hash
        assert after.entry.recorded_at >= before.entry.recorded_at


def test_bulk_across_batches_continues_each_chain_in_order(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1", "B2")
    drafts = [draft("B1" if i % 3 else "B2", f"e{i}", n=str(i)) for i in range(30)]
    stored = env.ledger.append_many(drafts, signer)
    env.session.commit()
    assert [s.entry.client_id for s in stored] == [d.client_id for d in drafts]
    assert all(s.created for s in stored)
    assert_linear(env, "B1", 1 + 20)
    assert_linear(env, "B2", 1 + 10)
    # Within a chain, row ids (the sequencer's order) follow seq.
    b1 = [s for s in stored if s.entry.batch == "B1"]
    assert [s.id for s in b1] == sorted(s.id for s in b1)
    assert count(env, Unsequenced) == count(env)


def test_retrying_a_whole_bulk_records_nothing_new(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    drafts = [draft("B1", f"e{i}", n=str(i)) for i in range(50)]
    first = env.ledger.append_many(drafts, signer)
    env.session.commit()
    before = count(env)
    again = env.ledger.append_many(drafts, signer)
    env.session.commit()
    assert count(env) == before
    assert [s.created for s in again] == [False] * 50
    assert [(s.id, s.entry.seq, s.entry.hash) for s in again] == [
        (s.id, s.entry.seq, s.entry.hash) for s in first
    ]


def test_mix_of_stored_and_new_ids_records_only_the_new(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    first = env.ledger.append_many([draft("B1", f"e{i}", n=str(i)) for i in range(5)], signer)
    env.session.commit()
    mixed = [
        draft("B1", "e3", n="3"),
        draft("B1", "e5", n="5"),
        draft("B1", "e4", n="4"),
        draft("B1", "e6", n="6"),
    ]
    stored = env.ledger.append_many(mixed, signer)
    env.session.commit()
    assert [s.created for s in stored] == [False, True, False, True]
    assert stored[0].entry.hash == first[3].entry.hash and stored[2].entry.hash == first[4].entry.hash
    assert [stored[1].entry.seq, stored[3].entry.seq] == [6, 7]
    assert stored[1].entry.prev == first[4].entry.hash and stored[3].entry.prev == stored[1].entry.hash
    assert_linear(env, "B1", 8)


def test_an_id_repeated_within_one_bulk_is_recorded_once(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    stored = env.ledger.append_many(
        [draft("B1", "x", n="1"), draft("B1", "y"), draft("B1", "x", n="1")], signer
    )
    assert [s.created for s in stored] == [True, True, False]
    assert stored[2].entry.hash == stored[0].entry.hash and stored[2].id == stored[0].id
    assert_linear(env, "B1", 3)


def test_a_conflicting_id_refuses_the_whole_bulk(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    env.ledger.append(draft("B1", "harvest-1", kg="120"), signer)
    env.session.commit()
    before = count(env)
    bulk = [draft("B1", "new-1"), draft("B1", "harvest-1", kg="121"), draft("B1", "new-2")]
    with pytest.raises(
        IdempotencyConflict, match=r"'harvest-1' was already used for a different entry \(payload differs\)"
    ):
        env.ledger.append_many(bulk, signer)
    with pytest.raises(
        IdempotencyConflict, match=r"'dup' was already used for a different entry \(payload differs\)"
    ):
        env.ledger.append_many([draft("B1", "dup", n="1"), draft("B1", "dup", n="2")], signer)
    env.session.commit()
    assert count(env) == before


def test_an_unknown_chain_or_revoked_key_refuses_the_whole_bulk(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    before = count(env)
    with pytest.raises(NoSuchChain, match="no chain 'B9'; register the batch first"):
        env.ledger.append_many([draft("B1", "a"), draft("B9", "b")], signer)
    env.keystore.revoke(signer.key_id, "rotated")
    env.session.commit()
    with pytest.raises(KeyNotUsable, match=f"key {signer.key_id} is not valid at"):
        env.ledger.append_many([draft("B1", "c"), draft("B1", "d")], signer)
    assert count(env) == before + 1  # the revocation entry only


def test_bulk_size_is_bounded(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    with pytest.raises(AppendError, match=f"drafts: at most {MAX_BULK} per call, found {MAX_BULK + 1}"):
        env.ledger.append_many([draft("B1", f"e{i}") for i in range(MAX_BULK + 1)], signer)
    assert env.ledger.append_many([], signer) == []


def test_a_full_bulk_is_integrated_by_the_sequencer(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1", "B2")
    stored = env.ledger.append_many([draft(f"B{1 + i % 2}", f"e{i}") for i in range(MAX_BULK)], signer)
    env.session.commit()
    assert len(stored) == MAX_BULK and all(s.created for s in stored)
    done = integrate(env.session, env.log_signer)
    env.session.commit()
    assert done is not None and done.new_size == tree_size(env.session) == count(env)
    assert count(env, Unsequenced) == 0


@pytest.mark.parametrize("size", [1, 3])
def test_an_insert_refused_by_the_database_stores_nothing_and_retries(
    env: LedgerEnv, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A racing writer that stored an id after our read makes the insert fail on the unique
    client id; the append rolls back its own rows only, reads again and answers from that."""
    signer = open_batches(env, "B1")
    raced = env.ledger.append(draft("B1", "raced", n="0"), signer)
    env.session.commit()
    forgetful = Ledger._read
    calls = []

    def stale_read(self, batches, client_ids, key_ids, revoked):
        state = forgetful(self, batches, client_ids, key_ids, revoked)
        calls.append(client_ids)
        if len(calls) == 1:  # the first read misses the raced id, as if it read too early
            state.stored.pop("raced", None)
        return state

    monkeypatch.setattr(Ledger, "_read", stale_read)
    bulk = [draft("B1", f"n{i}") for i in range(size - 1)] + [draft("B1", "raced", n="0")]
    before = count(env)
    stored = env.ledger.append_many(bulk, signer)
    assert len(calls) == 2
    assert stored[-1].created is False and stored[-1].entry.hash == raced.entry.hash
    assert all(s.created for s in stored[:-1])
    # The transaction is still usable: nothing half-inserted, and more can follow.
    env.ledger.append(draft("B1", "after"), signer)
    env.session.commit()
    assert count(env) == before + size
    assert_linear(env, "B1", 2 + size)


def test_one_bulk_signs_each_draft_with_its_authors_key(env: LedgerEnv) -> None:
    coop = open_batches(env, "B1")
    carrier = env.keystore.create_org_key("carrier-1")
    env.session.commit()
    drafts = [
        draft("B1", "a"),
        Draft("B1", "logistics.temperature", EVENT_TIME, "carrier-1", "b", {"n": "1"}),
        draft("B1", "c"),
    ]
    stored = env.ledger.append_many(drafts, {"coop-1": coop, "carrier-1": carrier})
    env.session.commit()
    assert [s.entry.key_id for s in stored] == [coop.key_id, carrier.key_id, coop.key_id]
    assert_linear(env, "B1", 4)
    with pytest.raises(AppendError, match="signer: no signing key given for author 'carrier-1'"):
        env.ledger.append_many(drafts, {"coop-1": coop})
    # One key for all: a draft by another organisation is refused as before.
    with pytest.raises(KeyNotUsable, match=f"key {coop.key_id} belongs to coop-1, not to author carrier-1"):
        env.ledger.append_many([Draft("B1", "x.y", EVENT_TIME, "carrier-1", "d", {})], coop)


def test_stored_ids_are_found_in_one_call_and_retries_checked_without_appending(env: LedgerEnv) -> None:
    signer = open_batches(env, "B1")
    first = env.ledger.append_many([draft("B1", f"e{i}", n=str(i)) for i in range(3)], signer)
    found = env.ledger.by_client_ids(["e2", "e0", "nothing", "e2"])
    assert sorted(found) == ["e0", "e2"]
    assert found["e2"].entry.hash == first[2].entry.hash and found["e2"].created is False
    check_retry(found["e0"].entry, draft("B1", "e0", n="0"))
    with pytest.raises(
        IdempotencyConflict, match=r"'e0' was already used for a different entry \(payload differs\)"
    ):
        check_retry(found["e0"].entry, draft("B1", "e0", n="9"))
    check_retry(draft("B1", "later", n="1"), draft("B1", "later", n="1"))
    with pytest.raises(IdempotencyConflict, match=r"\(batch differs\)"):
        check_retry(draft("B1", "later", n="1"), draft("B2", "later", n="1"))
