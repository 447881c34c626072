"""The append path on a real database: chains, idempotency, keys, self-custody, triggers."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from ledger_env import OPERATOR, LedgerEnv
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from farmtrace.ledger.append import Draft
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import KEYS_CHAIN, make_entry
from farmtrace.ledger.errors import (
    ChainConflict,
    ChainExists,
    IdempotencyConflict,
    KeyNotUsable,
    NoSuchChain,
    SignatureError,
)
from farmtrace.ledger.keyhistory import KeyHistory
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.models import EntryRow

EVENT_TIME = datetime(2026, 8, 30, 9, 30, tzinfo=timezone(timedelta(hours=8)))


def draft(env: LedgerEnv, batch: str, client_id: str, kind: str = "farming.input", **payload) -> Draft:
    return Draft(
        batch=batch, type=kind, event_time=EVENT_TIME, author="coop-1", client_id=client_id, payload=payload
    )


def open_batch(env: LedgerEnv, batch: str = "B1") -> SigningKey:
    signer = env.keystore.create_org_key("coop-1")
    env.ledger.open_chain(draft(env, batch, f"{batch}-reg", "batch.registered", lot="L1"), signer)
    return signer


def count_entries(env: LedgerEnv) -> int:
    return env.session.scalar(select(func.count()).select_from(EntryRow))


def test_chain_links_each_entry_to_the_one_before(env: LedgerEnv) -> None:
    signer = open_batch(env)
    for i in range(5):
        env.ledger.append(draft(env, "B1", f"e{i}", dose=str(i)), signer)
    entries = env.ledger.entries("B1")
    assert [e.entry.seq for e in entries] == list(range(6))
    assert entries[0].entry.prev is None
    for before, after in itertools.pairwise(entries):
        assert after.entry.prev == before.entry.hash
        assert after.entry.recorded_at >= before.entry.recorded_at


def test_retry_with_same_id_records_nothing_new(env: LedgerEnv) -> None:
    signer = open_batch(env)
    first = env.ledger.append(draft(env, "B1", "harvest-1", kg="120"), signer)
    before = count_entries(env)
    again = env.ledger.append(draft(env, "B1", "harvest-1", kg="120"), signer)
    assert again.created is False
    assert (again.entry.seq, again.entry.hash) == (first.entry.seq, first.entry.hash)
    assert count_entries(env) == before


def test_same_id_different_content_is_a_conflict(env: LedgerEnv) -> None:
    signer = open_batch(env)
    env.ledger.append(draft(env, "B1", "harvest-1", kg="120"), signer)
    with pytest.raises(
        IdempotencyConflict, match=r"'harvest-1' was already used for a different entry \(payload differs\)"
    ):
        env.ledger.append(draft(env, "B1", "harvest-1", kg="121"), signer)


def test_unknown_chain_and_double_open_are_refused(env: LedgerEnv) -> None:
    signer = open_batch(env)
    with pytest.raises(NoSuchChain, match="no chain 'B9'; register the batch first"):
        env.ledger.append(draft(env, "B9", "x"), signer)
    with pytest.raises(ChainExists, match="chain B1 already exists"):
        env.ledger.open_chain(draft(env, "B1", "another-reg", "batch.registered"), signer)


def test_key_chain_replays_from_the_pinned_root(env: LedgerEnv) -> None:
    open_batch(env)
    history = KeyHistory(env.keys.root.public_key)
    for stored in env.ledger.entries(KEYS_CHAIN):
        history.apply(stored.entry, stored.signature)
    roles = sorted(record.role for record in history.keys.values())
    assert roles == ["log", "org", "root"]


def test_revoked_key_cannot_sign(env: LedgerEnv) -> None:
    signer = open_batch(env)
    env.keystore.revoke(signer.key_id, "laptop stolen")
    before = count_entries(env)
    with pytest.raises(
        KeyNotUsable, match=f"key {signer.key_id} is not valid at .* \\(revoked or not yet valid\\)"
    ):
        env.ledger.append(draft(env, "B1", "late"), signer)
    assert count_entries(env) == before


def test_rotation_moves_signing_to_the_new_key(env: LedgerEnv) -> None:
    old = open_batch(env)
    new = env.keystore.rotate("coop-1")
    assert env.keystore.signer_for("coop-1").key_id == new.key_id != old.key_id
    env.ledger.append(draft(env, "B1", "after-rotation"), new)
    with pytest.raises(KeyNotUsable):
        env.ledger.append(draft(env, "B1", "with-old-key"), old)


def test_another_organisations_key_is_refused(env: LedgerEnv) -> None:
    open_batch(env)
    lab = env.keystore.create_org_key("lab-1")
    with pytest.raises(KeyNotUsable, match=f"key {lab.key_id} belongs to lab-1, not to author coop-1"):
        env.ledger.append(draft(env, "B1", "forged"), lab)


def self_signed(env: LedgerEnv, key: SigningKey, client_id: str, seq: int, prev: bytes, **changes):
    fields = {
        "v": 1,
        "batch": "B1",
        "seq": seq,
        "prev": b64encode(prev),
        "type": "lab.tested",
        "event_time": "2026-09-01T08:00:00+08:00",
        "recorded_at": "2026-09-01T00:00:01.000Z",
        "author": "lab-1",
        "key": key.key_id,
        "id": client_id,
        "payload": {"analyte": "chlorpyrifos", "value": "0.01"},
    }
    fields.update(changes)
    entry = make_entry(fields)
    return entry, key.sign(entry.signing_input())


def test_self_custody_entry_is_checked_and_stored(env: LedgerEnv) -> None:
    open_batch(env)
    lab_key = SigningKey.generate()
    env.keystore.register_public_key("lab-1", lab_key.public_key)
    head = env.ledger.head("B1")
    env.clock.now = env.clock.now.replace(second=1)
    entry, signature = self_signed(env, lab_key, "lab-report-7", head.entry.seq + 1, head.entry.hash)
    stored = env.ledger.append_signed(entry, signature)
    assert stored.entry.hash == entry.hash and stored.created
    assert env.ledger.append_signed(entry, signature).created is False


def test_self_custody_wrong_prev_or_signature_stores_nothing(env: LedgerEnv) -> None:
    open_batch(env)
    lab_key = SigningKey.generate()
    env.keystore.register_public_key("lab-1", lab_key.public_key)
    head = env.ledger.head("B1")
    env.clock.now = env.clock.now.replace(second=1)
    before = count_entries(env)
    entry, signature = self_signed(env, lab_key, "r1", head.entry.seq + 1, b"\x07" * 32)
    with pytest.raises(ChainConflict, match=f"chain B1 is at seq {head.entry.seq}"):
        env.ledger.append_signed(entry, signature)
    entry, signature = self_signed(env, lab_key, "r2", head.entry.seq + 1, head.entry.hash)
    with pytest.raises(SignatureError, match="signature does not verify"):
        env.ledger.append_signed(entry, bytes([signature[0] ^ 1]) + signature[1:])
    assert count_entries(env) == before


@pytest.mark.parametrize("statement", ["UPDATE ledger_entry SET seq = seq + 100", "DELETE FROM ledger_entry"])
def test_database_refuses_to_change_the_record(env: LedgerEnv, statement: str) -> None:
    open_batch(env)
    env.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        env.session.execute(text(statement))
    env.session.rollback()
    assert count_entries(env) == 4  # keys/0 (root), keys/1 (log), keys/2 (coop key), B1/0


def test_operator_is_the_author_of_key_entries(env: LedgerEnv) -> None:
    open_batch(env)
    authors = {stored.entry.author for stored in env.ledger.entries(KEYS_CHAIN)}
    assert authors == {OPERATOR}
