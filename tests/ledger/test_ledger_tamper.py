"""An insider edits the database behind the append path; verify_store names what was changed.

Each test builds a genuine store (tests/ledger/ledger_verify_store.py), commits it, edits
rows directly with the append-only triggers bypassed, and checks the FIRST problem the
verification reports: the entry (batch/seq and leaf), leaf or checkpoint that was touched.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_env import ORIGIN, LedgerEnv
from ledger_verify_store import Store, build_store, tamper
from sqlalchemy import select

from farmtrace.ledger.append import Draft
from farmtrace.ledger.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import make_entry, parse_stored_entry
from farmtrace.ledger.errors import StoreVerificationError
from farmtrace.ledger.hashing import merkle_tree_hash
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.models import EntryRow, MerkleHash, MerkleLeaf, PublicKey, SealedKey
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.tlog import stored_hash_count, stored_hashes_for_batch
from farmtrace.ledger.verify import verify_store
from farmtrace.ledger.verify_report import Problem


@pytest.fixture
def store(env: LedgerEnv, engine) -> Store:
    return build_store(env, engine)


def problems(store: Store, **options) -> list[Problem]:
    options.setdefault("workers", 1)
    with pytest.raises(StoreVerificationError) as caught:
        verify_store(store.engine, store.root, **options)
    return caught.value.problems


def first(store: Store, **options) -> Problem:
    return problems(store, **options)[0]


def set_column(store: Store, row: dict, column: str, value: object) -> None:
    tamper(
        store.engine,
        (f"UPDATE ledger_entry SET {column} = :value WHERE id = :id", {"value": value, "id": row["id"]}),
    )


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[position % len(changed)] ^= mask
    return bytes(changed)


def delete_entry(store: Store, batch: str, seq: int) -> dict:
    row = store.row(batch, seq)
    tamper(
        store.engine,
        ("DELETE FROM merkle_leaf WHERE entry_id = :id", {"id": row["id"]}),
        ("DELETE FROM ledger_unsequenced WHERE entry_id = :id", {"id": row["id"]}),
        ("DELETE FROM ledger_entry WHERE id = :id", {"id": row["id"]}),
    )
    return row


def test_the_untouched_store_verifies(store: Store) -> None:
    report = verify_store(store.engine, store.root, workers=1)
    assert (report.entries, report.batches, report.unsequenced) == (22, 4, 1)


# -- changed bytes ----------------------------------------------------------------------


def test_a_changed_byte_in_the_canonical_bytes_is_named(store: Store) -> None:
    row = store.row("B2", 3)
    position = row["canonical"].index(b'"n":"3"') + 5
    set_column(store, row, "canonical", flip(row["canonical"], position))  # "3" -> "2": still valid JSON
    problem = first(store)
    assert problem.where == f"B2/3 (leaf {row['leaf_index']})"
    assert (
        problem.what.startswith("entry_hash column ")
        and "is not the hash of the stored bytes" in problem.what
    )


def test_bytes_that_no_longer_parse_are_named(store: Store) -> None:
    row = store.row("B1", 1)
    set_column(store, row, "canonical", row["canonical"].replace(b'"v":1', b'"v":1.0'))
    problem = first(store)
    assert problem.where == f"B1/1 (leaf {row['leaf_index']})"
    assert "stored bytes are not a valid canonical entry: JSON input: number 1.0" in problem.what


def test_a_changed_byte_in_a_signature_is_named(store: Store) -> None:
    row = store.row("B1", 2)
    set_column(store, row, "signature", flip(row["signature"], 10))
    assert str(first(store)) == (
        f"B1/2 (leaf {row['leaf_index']}): signature does not verify with key {store.lab.key_id}"
    )


def test_a_changed_key_entry_is_named_first(store: Store) -> None:
    row = store.row("keys", 2)  # registers coop-1's first key
    set_column(store, row, "signature", flip(row["signature"], 0))
    found = problems(store)
    assert found[0].where == f"keys/2 (leaf {row['leaf_index']})"
    assert found[0].what == "key history: signature does not verify with the key"


def test_a_changed_entry_hash_column_is_named(store: Store) -> None:
    row = store.row("B3", 1)
    set_column(store, row, "entry_hash", flip(row["entry_hash"], 31))
    problem = first(store)
    assert problem.where == f"B3/1 (leaf {row['leaf_index']})"
    assert problem.what.startswith(
        f"entry_hash column {b64encode(flip(row['entry_hash'], 31))} is not the hash"
    )


def test_a_changed_index_column_is_named(store: Store) -> None:
    row = store.row("B2", 2)
    set_column(store, row, "author", "lab-1")
    assert (
        str(first(store))
        == f"B2/2 (leaf {row['leaf_index']}): column author is 'lab-1' but the entry says 'coop-1'"
    )


# -- deleted, swapped, re-ordered -----------------------------------------------------------


@pytest.mark.parametrize(("workers", "chunk_rows"), [(1, 2000), (2, 3), (2, 5)])
def test_a_deleted_entry_in_the_middle_of_a_chain_is_named(
    store: Store, workers: int, chunk_rows: int
) -> None:
    row = delete_entry(store, "B2", 3)
    found = problems(store, workers=workers, chunk_rows=chunk_rows)
    assert str(found[0]) == "B2/3: missing: B2/4 follows B2/2"
    assert any(str(p).startswith(f"leaf {row['leaf_index']}: missing: no entry is leaf") for p in found)


def test_a_deleted_last_entry_of_a_chain_is_named_by_its_leaf(store: Store) -> None:
    row = delete_entry(store, "B3", 3)  # B3's last entry, in the middle of the log
    problem = first(store)
    assert problem.leaf == row["leaf_index"]
    assert str(problem) == (
        f"leaf {row['leaf_index']}: missing: no entry is leaf {row['leaf_index']} "
        f"(its stored hash is {b64encode(row['entry_hash'])})"
    )


def test_the_deleted_newest_entry_is_named_by_its_leaf_and_the_checkpoint(store: Store) -> None:
    row = delete_entry(store, "B2", 5)  # the newest leaf of the log
    found = problems(store)
    size = store.checkpoint_sizes()[-1]
    assert row["leaf_index"] == size - 1
    assert str(found[0]).startswith(
        f"leaf {size - 1}: missing: merkle_hash holds 1 hash beyond the {size - 1} leaves"
    )
    assert str(found[1]) == (
        f"checkpoint {size}: covers {size} leaves, but the stored tree has {size - 1}: "
        f"leaf {size - 1} is missing"
    )


def test_a_deleted_queued_entry_at_the_head_of_a_chain_is_not_detectable(store: Store) -> None:
    # Not yet in any checkpoint: nothing commits to it. The sequencer's bounded delay
    # (default 1 s) is the window in which an insider can silently drop an entry.
    delete_entry(store, "B1", 5)
    verify_store(store.engine, store.root, workers=1)


def test_an_entry_dropped_from_the_queue_is_named(store: Store) -> None:
    row = store.row("B1", 5)
    tamper(store.engine, ("DELETE FROM ledger_unsequenced WHERE entry_id = :id", {"id": row["id"]}))
    assert str(first(store)) == "B1/5: neither a leaf of the Merkle log nor waiting in the unsequenced queue"


def test_swapped_seq_columns_are_named(store: Store) -> None:
    one, two = store.row("B1", 1), store.row("B1", 2)
    tamper(
        store.engine,
        ("UPDATE ledger_entry SET seq = -1 WHERE id = :id", {"id": one["id"]}),
        ("UPDATE ledger_entry SET seq = 1 WHERE id = :id", {"id": two["id"]}),
        ("UPDATE ledger_entry SET seq = 2 WHERE id = :id", {"id": one["id"]}),
    )
    assert str(first(store)) == f"B1/1 (leaf {two['leaf_index']}): column seq is 1 but the entry says 2"


def test_swapped_leaves_are_named(store: Store) -> None:
    one, two = store.row("B3", 1), store.row("B3", 2)
    low, high = sorted((one["leaf_index"], two["leaf_index"]))
    tamper(
        store.engine,
        ("UPDATE merkle_leaf SET leaf_index = -1 WHERE leaf_index = :leaf", {"leaf": low}),
        ("UPDATE merkle_leaf SET leaf_index = :low WHERE leaf_index = :high", {"low": low, "high": high}),
        ("UPDATE merkle_leaf SET leaf_index = :high WHERE leaf_index = -1", {"high": high}),
    )
    problem = first(store)
    assert (problem.batch, problem.seq, problem.leaf) == ("B3", 2, low)
    assert "merkle_hash holds hash " in problem.what and "but the entry's hash is" in problem.what


# -- re-written history ----------------------------------------------------------------------


def rewrite_tail(store: Store, batch: str, from_seq: int, signer_for) -> list[dict]:
    """Change the payloads of batch/from_seq.. and re-chain and re-sign them, as an insider
    holding signing keys would; the Merkle log is not touched here."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(EntryRow.id, EntryRow.canonical, EntryRow.seq)
            .where(EntryRow.batch == batch, EntryRow.seq >= from_seq - 1)
            .order_by(EntryRow.seq)
        ).all()
    prev = parse_stored_entry(rows[0].canonical).hash
    statements, rewritten = [], []
    for row in rows[1:]:
        fields = dict(parse_stored_entry(row.canonical).fields)
        signer = signer_for(fields["key"])
        fields.update(
            prev=b64encode(prev), key=signer.key_id, payload={**fields["payload"], "rewritten": "yes"}
        )
        entry = make_entry(fields)
        statements.append(
            (
                "UPDATE ledger_entry SET canonical = :c, signature = :s, entry_hash = :h, key_id = :k WHERE id = :id",
                {
                    "c": entry.canonical,
                    "s": signer.sign(entry.signing_input()),
                    "h": entry.hash,
                    "k": signer.key_id,
                    "id": row.id,
                },
            )
        )
        rewritten.append({"seq": row.seq, "hash": entry.hash})
        prev = entry.hash
    tamper(store.engine, *statements)
    return rewritten


def leaf_hashes(store: Store) -> list[bytes]:
    with store.engine.connect() as conn:
        return [
            bytes(h)
            for h in conn.scalars(
                select(EntryRow.entry_hash)
                .join(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
                .order_by(MerkleLeaf.leaf_index)
            )
        ]


class _NoReads:
    def read_hashes(self, indexes: list[int]) -> list[bytes]:  # pragma: no cover - never called from size 0
        raise AssertionError(indexes)


def rebuild_merkle_hashes(store: Store) -> list[bytes]:
    leaves = leaf_hashes(store)
    hashes = stored_hashes_for_batch(0, leaves, _NoReads())
    tamper(
        store.engine,
        ("DELETE FROM merkle_hash", {}),
        *[
            ("INSERT INTO merkle_hash (idx, hash) VALUES (:idx, :hash)", {"idx": i, "hash": h})
            for i, h in enumerate(hashes)
        ],
    )
    return leaves


def keys_by_id(store: Store, first_coop: SigningKey) -> dict[str, SigningKey]:
    return {key.key_id: key for key in (first_coop, store.coop, store.lab)}


def test_a_rewritten_chain_signed_with_a_fresh_key_is_caught_by_the_signatures(store: Store) -> None:
    fresh = SigningKey.from_seed(hashlib.sha256(b"insider's fresh key").digest())
    rewrite_tail(store, "B1", 2, lambda _key_id: fresh)
    row = store.row("B1", 2)
    assert str(first(store)) == f"B1/2 (leaf {row['leaf_index']}): entry.key: unknown key {fresh.key_id}"


@pytest.fixture
def insider_keys(store: Store) -> dict[str, SigningKey]:
    """Every custodial key, unsealed with the master key, as an insider could."""
    with store.engine.connect() as conn:
        sealed = conn.execute(select(SealedKey.key_id, SealedKey.sealed)).all()
    master = store.env.keystore.master
    return {key_id: master.unseal(key_id, bytes(data)) for key_id, data in sealed}


def test_a_rewritten_chain_with_registered_keys_is_caught_by_the_stored_leaf_hashes(
    store: Store, insider_keys: dict[str, SigningKey]
) -> None:
    rewrite_tail(store, "B3", 1, insider_keys.__getitem__)
    row = store.row("B3", 1)
    problem = first(store)
    assert problem.where == f"B3/1 (leaf {row['leaf_index']})"
    assert problem.what.startswith("merkle_hash holds hash ") and problem.what.endswith(
        b64encode(row["entry_hash"])
    )


def test_a_rewritten_chain_with_recomputed_merkle_hashes_is_caught_by_the_checkpoints(
    store: Store, insider_keys: dict[str, SigningKey]
) -> None:
    rewrite_tail(store, "B3", 1, insider_keys.__getitem__)
    rebuild_merkle_hashes(store)
    leaf = store.row("B3", 1)["leaf_index"]
    sizes = store.checkpoint_sizes()
    signed_after = min(size for size in sizes if size > leaf)
    before = max(size for size in sizes if size <= leaf)
    problem = first(store)
    assert problem.where == f"checkpoint {signed_after}"
    assert problem.what.endswith(f"a leaf in {before}..{signed_after - 1} differs from what was signed")
    assert before <= leaf < signed_after


def test_a_rewritten_log_with_re_signed_checkpoints_is_caught_by_a_trusted_checkpoint(
    store: Store, insider_keys: dict[str, SigningKey]
) -> None:
    published = store.notes[-1]  # kept by a witness before the insider got to work
    rewrite_tail(store, "B3", 1, insider_keys.__getitem__)
    leaves = rebuild_merkle_hashes(store)
    log_signer = store.env.log_signer
    tamper(
        store.engine,
        *[
            (
                "UPDATE ledger_checkpoint SET root_hash = :root, note = :note WHERE tree_size = :size",
                {
                    "root": merkle_tree_hash(leaves[:size]),
                    "note": sign_checkpoint(
                        Checkpoint(ORIGIN, size, merkle_tree_hash(leaves[:size])), log_signer
                    ),
                    "size": size,
                },
            )
            for size in store.checkpoint_sizes()
        ],
    )
    # Everything the database holds is consistent again: only an outside copy can tell.
    verify_store(store.engine, store.root, workers=1)
    size = store.checkpoint_sizes()[-1]
    problem = first(store, trusted_checkpoints=[published])
    assert problem.where == f"trusted checkpoint #1 (size {size})"
    assert problem.what.endswith("the log has forked from what was published")


def test_a_truncated_log_is_caught_by_an_older_trusted_checkpoint(store: Store) -> None:
    published = store.notes[-1]
    sizes = store.checkpoint_sizes()
    keep = sizes[-2]
    with store.engine.connect() as conn:
        doomed = list(conn.scalars(select(MerkleLeaf.entry_id).where(MerkleLeaf.leaf_index >= keep)))
    tamper(
        store.engine,
        ("DELETE FROM merkle_leaf WHERE leaf_index >= :keep", {"keep": keep}),
        *[("DELETE FROM ledger_entry WHERE id = :id", {"id": entry_id}) for entry_id in doomed],
        ("DELETE FROM merkle_hash WHERE idx >= :first", {"first": stored_hash_count(keep)}),
        ("DELETE FROM ledger_checkpoint WHERE tree_size > :keep", {"keep": keep}),
    )
    verify_store(store.engine, store.root, workers=1)  # self-consistent, only shorter
    problem = first(store, trusted_checkpoints=[published])
    assert str(problem) == (
        f"trusted checkpoint #1 (size {sizes[-1]}): the stored tree has only {keep} leaves: "
        f"the log was truncated (leaves {keep}..{sizes[-1] - 1} are missing)"
    )


def test_an_older_trusted_checkpoint_of_a_genuine_log_verifies(store: Store) -> None:
    report = verify_store(store.engine, store.root, workers=1, trusted_checkpoints=store.notes[1:])
    assert report.trusted_checkpoints == len(store.notes) - 1


# -- checkpoints and keys ----------------------------------------------------------------------


def forged_note(leaves: list[bytes], size: int) -> str:
    forger = SignerKey(ORIGIN, hashlib.sha256(b"forger").digest())
    return sign_checkpoint(Checkpoint(ORIGIN, size, merkle_tree_hash(leaves[:size])), forger)


def test_a_forged_checkpoint_row_is_named(store: Store) -> None:
    leaves = leaf_hashes(store)
    size = store.checkpoint_sizes()[-1] - 2
    tamper(
        store.engine,
        (
            "INSERT INTO ledger_checkpoint (tree_size, root_hash, note, created_at) VALUES (:size, :root, :note, :at)",
            {
                "size": size,
                "root": merkle_tree_hash(leaves[:size]),
                "note": forged_note(leaves, size),
                "at": "2026-09-01 00:00:00",
            },
        ),
    )
    problem = first(store)
    assert problem.where == f"checkpoint {size}"
    assert problem.what.startswith("not signed by a registered log key (k")


def test_a_replaced_checkpoint_note_is_named(store: Store) -> None:
    leaves = leaf_hashes(store)
    size = store.checkpoint_sizes()[2]
    tamper(
        store.engine,
        (
            "UPDATE ledger_checkpoint SET note = :note WHERE tree_size = :size",
            {"note": forged_note(leaves, size), "size": size},
        ),
    )
    assert first(store).where == f"checkpoint {size}"


def test_a_changed_stored_node_hash_is_named(store: Store) -> None:
    index = 2  # level 1, leaves 0..1
    with store.engine.connect() as conn:
        original = bytes(conn.scalar(select(MerkleHash.hash).where(MerkleHash.idx == index)))
    tamper(
        store.engine,
        ("UPDATE merkle_hash SET hash = :h WHERE idx = :i", {"h": flip(original, 0), "i": index}),
    )
    problem = first(store)
    assert str(problem).startswith(
        f"stored hash 2: (level 1, leaves 0..1) is {b64encode(flip(original, 0))}, but the leaves give"
    )


def test_a_key_slipped_into_the_index_is_named_with_the_entries_it_signed(store: Store) -> None:
    # The append path trusts ledger_public_key; verify trusts only the key chain.
    fresh = SigningKey.from_seed(hashlib.sha256(b"slipped in").digest())
    env = store.env
    env.session.add(
        PublicKey(
            key_id=fresh.key_id,
            org="coop-1",
            role="org",
            public_key=fresh.public_key,
            valid_from=env.clock.now,
            revoked_at=None,
        )
    )
    stored = env.ledger.append(Draft("B3", "logistics.delivered", env.clock.now, "coop-1", "slipped"), fresh)
    env.session.commit()
    found = problems(store)
    assert (
        str(found[0])
        == f"key {fresh.key_id}: in ledger_public_key, but no valid key-chain entry registers it"
    )
    assert str(found[1]) == f"B3/{stored.entry.seq}: entry.key: unknown key {fresh.key_id}"


def test_the_wrong_root_key_fails_at_the_first_key_entry(store: Store) -> None:
    other = SigningKey.from_seed(hashlib.sha256(b"another operator").digest())
    with pytest.raises(StoreVerificationError) as caught:
        verify_store(store.engine, other.public_key, workers=1)
    assert str(caught.value.problems[0]).startswith("keys/0 (leaf 0): key history: keys/0 registers k")


# -- random corruption -----------------------------------------------------------------------


ENTRIES = [("keys", seq) for seq in range(6)] + [
    (b, seq) for b, n in (("B1", 6), ("B2", 6), ("B3", 4)) for seq in range(n)
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.sampled_from(ENTRIES),
    column=st.sampled_from(["canonical", "signature"]),
    position=st.integers(min_value=0, max_value=10_000),
    mask=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_corruption_is_detected_and_named(
    store: Store, target: tuple[str, int], column: str, position: int, mask: int
) -> None:
    batch, seq = target
    row = store.row(batch, seq)
    set_column(store, row, column, flip(row[column], position, mask))
    try:
        problem = first(store)
        assert (problem.batch, problem.seq) == (batch, seq), str(problem)
    finally:
        set_column(store, row, column, row[column])
    verify_store(store.engine, store.root, workers=1)
