"""verify_store and verify_batch on a genuine store: every count right, in process and in a
process pool, from an engine or inside a caller's session; the root key's public forms."""

from __future__ import annotations

import pytest
from ledger_env import ORIGIN, LedgerEnv
from ledger_verify_store import Store, build_store, tamper
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import FormatError, StoreVerificationError, VerificationError
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.note import VerifierKey, format_verifier_key
from farmtrace.ledger.verify import format_root_key, parse_root_key, verify_batch, verify_store


@pytest.fixture
def store(env: LedgerEnv, engine) -> Store:
    return build_store(env, engine)


@pytest.mark.parametrize(("workers", "chunk_rows"), [(1, 2000), (2, 4), (2, 7)])
def test_a_genuine_store_verifies(store: Store, workers: int, chunk_rows: int) -> None:
    seen: list[tuple[int, int]] = []
    report = verify_store(
        store.engine,
        store.root,
        log_origin=ORIGIN,
        workers=workers,
        chunk_rows=chunk_rows,
        progress=lambda done, total: seen.append((done, total)),
    )
    sizes = store.checkpoint_sizes()
    assert report.ok and report.problems == ()
    assert (report.entries, report.batches, report.signatures, report.unsequenced) == (22, 4, 22, 1)
    assert (report.leaves, report.tree_size, report.checkpoints) == (21, sizes[-1], len(sizes))
    assert report.stored_hashes == 39 and report.log_origin == ORIGIN
    assert report.root_key_id == store.env.keys.root.key_id
    assert seen[-1] == (22, 22) and [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert report.to_json()["ok"] is True


def test_inside_a_callers_session(store: Store) -> None:
    with Session(store.engine) as session:
        report = verify_store(session, store.root, workers=1)
    assert report.entries == 22


def test_a_wrong_origin_fails_at_every_checkpoint(store: Store) -> None:
    with pytest.raises(StoreVerificationError) as caught:
        verify_store(store.engine, store.root, log_origin="elsewhere.example/log", workers=1)
    assert str(caught.value.problems[0]).startswith(
        f"checkpoint {store.checkpoint_sizes()[0]}: not signed by"
    )
    assert caught.value.report.ok is False


def test_an_empty_store_fails_closed(engine) -> None:
    root = SigningKey.from_seed(bytes(32))
    with pytest.raises(StoreVerificationError) as caught:
        verify_store(engine, root.public_key, workers=1)
    assert str(caught.value) == f"keys/0: missing: no entry registers the root key {root.key_id}"


def test_one_batch_verifies_with_its_inclusion_proof(store: Store) -> None:
    with Session(store.engine) as session:
        report = verify_batch(session, "B1", store.root)
    assert (report.batch, report.entries, report.signatures, report.included) == ("B1", 6, 6, 5)
    assert report.tree_size == store.checkpoint_sizes()[-1] and report.log_origin == ORIGIN


def test_one_batch_names_its_bad_entry(store: Store) -> None:
    row = store.row("B2", 1)
    tamper(
        store.engine,
        ("UPDATE ledger_entry SET signature = :s WHERE id = :id", {"s": bytes(64), "id": row["id"]}),
    )
    with Session(store.engine) as session, pytest.raises(StoreVerificationError) as caught:
        verify_batch(session, "B2", store.root)
    assert str(caught.value.problems[0]) == (
        f"B2/1 (leaf {row['leaf_index']}): signature does not verify with key {row['key_id']}"
    )
    with Session(store.engine) as session:
        verify_batch(session, "B1", store.root)  # the other batches are fine


def test_one_batch_without_a_checkpoint_fails(env: LedgerEnv, engine) -> None:
    coop = env.keystore.create_org_key("coop-1")
    env.ledger.open_chain(Draft("B9", "batch.registered", env.clock.now, "coop-1", "b9"), coop)
    env.session.commit()
    with Session(engine) as session, pytest.raises(StoreVerificationError) as caught:
        verify_batch(session, "B9", env.keys.root.public_key)
    assert str(caught.value.problems[0]) == "batch B9: no checkpoint has been signed yet; run the sequencer"
    with (
        Session(engine) as session,
        pytest.raises(VerificationError, match="batch B0: no such batch in the store"),
    ):
        verify_batch(session, "B0", env.keys.root.public_key)


def test_root_key_public_forms_round_trip() -> None:
    key = SigningKey.from_seed(bytes(range(32)))
    line = format_root_key(key.public_key)
    assert line == f"{key.key_id} {b64encode(key.public_key)}\n"
    assert parse_root_key(line) == key.public_key
    assert parse_root_key(b64encode(key.public_key)) == key.public_key
    assert parse_root_key(format_verifier_key(VerifierKey("county-root", key.public_key))) == key.public_key
    other = SigningKey.from_seed(bytes(32))
    with pytest.raises(FormatError, match=f"root key: id {other.key_id} does not match the key"):
        parse_root_key(f"{other.key_id} {b64encode(key.public_key)}")
    with pytest.raises(FormatError, match="root key: expected 32 bytes of Ed25519 public key, found 31"):
        parse_root_key(b64encode(bytes(31)))
    with pytest.raises(FormatError, match="root key: expected standard base64"):
        parse_root_key("not-a-key!")
    with pytest.raises(
        FormatError, match="root key: expected '<key id> <base64 key>' or base64, found 'two words'"
    ):
        parse_root_key("two words")
