"""tlog: stored hash layout, roots and proofs from stored hashes, reader call counts."""

from __future__ import annotations

import json

import pytest
from _paths import reference_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_memlog import MemoryLog

from farmtrace.ledger.errors import TreeError
from farmtrace.ledger.hashing import EMPTY_ROOT, leaf_hash, merkle_tree_hash
from farmtrace.ledger.proof import verify_consistency, verify_inclusion
from farmtrace.ledger.tlog import (
    prove_record,
    prove_tree,
    record_proof_indexes,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    stored_hashes_for_batch,
    tree_hash,
    tree_hash_indexes,
    tree_proof_indexes,
)

VECTORS = json.loads((reference_dir() / "merkle" / "vectors.json").read_text())
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaf_inputs_hex"]]
ROOTS = {int(k): bytes.fromhex(v) for k, v in VECTORS["root_hashes_by_size_hex"].items()}


def hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_stored_hash_layout_of_the_first_records() -> None:
    # Record 0: leaf 0. Record 1: leaf 1, then node (1,0). Record 2: leaf 2. Record 3:
    # leaf 3, node (1,1), node (2,0). (Crosby-Wallach order, as in Go tlog.)
    layout = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4)]
    assert [stored_hash_index(level, n) for level, n in layout] == list(range(8))
    assert [split_stored_hash_index(i) for i in range(8)] == layout


def test_split_inverts_index_and_count_matches_index() -> None:
    for index in range(5000):
        level, n = split_stored_hash_index(index)
        assert stored_hash_index(level, n) == index
    for n in range(2000):
        assert stored_hash_count(n) == stored_hash_index(0, n)


def test_coordinates_out_of_range_raise_tree_error() -> None:
    with pytest.raises(TreeError, match="expected level >= 0 and n >= 0, found level=0 n=-1"):
        stored_hash_index(0, -1)
    with pytest.raises(TreeError, match="found index 3, tree size 3"):
        record_proof_indexes(3, 3)
    with pytest.raises(TreeError, match="found old size 0, new size 4"):
        tree_proof_indexes(4, 0)
    with pytest.raises(TreeError, match="found old size 5, new size 4"):
        prove_tree(4, 5, MemoryLog())


def test_tree_hash_reproduces_reference_roots() -> None:
    log = MemoryLog()
    assert tree_hash(0, log) == EMPTY_ROOT
    for data in LEAVES:
        log.append(data)
    for size in range(0, 9):
        assert tree_hash(size, log) == ROOTS[size]


def test_stored_hashes_appends_what_storage_needs() -> None:
    log = MemoryLog.of(LEAVES[:3])
    new = stored_hashes(3, LEAVES[3], log)
    # Record 3 completes subtrees at levels 1 and 2: one read call for the two left siblings.
    assert len(new) == 3
    assert log.calls == [[stored_hash_index(1, 0), stored_hash_index(0, 2)]]
    assert new[0] == leaf_hash(LEAVES[3])
    assert new[2] == ROOTS[4]


def test_batch_matches_one_by_one_with_one_read() -> None:
    records = [f"record {i}".encode() for i in range(300)]
    one_by_one = MemoryLog.of(records)
    for start in (0, 1, 7, 8, 100, 255):
        for count in (1, 2, 13, 45):
            prefix = MemoryLog.of(records[:start])
            hashes = [leaf_hash(r) for r in records[start : start + count]]
            new = stored_hashes_for_batch(start, hashes, prefix)
            assert len(prefix.calls) <= 1
            if prefix.calls:
                assert len(prefix.calls[0]) <= start.bit_length()
            end = stored_hash_count(start + count)
            assert prefix.hashes + new == one_by_one.hashes[:end]


@pytest.mark.parametrize("case", VECTORS["inclusion_happy_paths"], ids=lambda c: c["source"])
def test_prove_record_reproduces_reference_inclusion_proofs(case: dict) -> None:
    log = MemoryLog.of(LEAVES)
    proof = prove_record(case["tree_size"], case["leaf_index"], log)
    assert hexes(proof) == case["proof"]


@pytest.mark.parametrize(
    "case", VECTORS["legacy_hex_tables"]["inclusion"], ids=lambda c: f"{c['leaf_index']}-{c['tree_size']}"
)
def test_prove_record_reproduces_legacy_tables(case: dict) -> None:
    log = MemoryLog.of(LEAVES)
    assert hexes(prove_record(case["tree_size"], case["leaf_index"], log)) == case["proof"]


@pytest.mark.parametrize("case", VECTORS["consistency_happy_paths"], ids=lambda c: c["source"])
def test_prove_tree_reproduces_reference_consistency_proofs(case: dict) -> None:
    log = MemoryLog.of(LEAVES)
    assert hexes(prove_tree(case["size2"], case["size1"], log)) == case["proof"]
    assert tree_hash(case["size1"], log).hex() == case["root1"]
    assert tree_hash(case["size2"], log).hex() == case["root2"]


@pytest.mark.parametrize(
    "case", VECTORS["legacy_hex_tables"]["consistency"], ids=lambda c: f"{c['size1']}-{c['size2']}"
)
def test_prove_tree_reproduces_legacy_tables(case: dict) -> None:
    log = MemoryLog.of(LEAVES)
    assert hexes(prove_tree(case["size2"], case["size1"], log)) == case["proof"]


def test_each_operation_reads_once_and_logarithmically() -> None:
    log = MemoryLog.of([f"r{i}".encode() for i in range(1000)])
    for size in (1, 2, 3, 255, 256, 257, 999, 1000):
        log.calls.clear()
        tree_hash(size, log)
        assert len(log.calls) == 1
        assert len(log.calls[0]) == size.bit_count()
        for n in (0, size // 2, size - 1):
            log.calls.clear()
            proof = prove_record(size, n, log)
            assert len(log.calls) == (1 if proof else 0)
            assert sum(len(c) for c in log.calls) <= 2 * size.bit_length()
            if n:
                log.calls.clear()
                prove_tree(size, n, log)
                assert len(log.calls) <= 1
                assert sum(len(c) for c in log.calls) <= 2 * size.bit_length() + 1


def test_reader_returning_wrong_data_raises_tree_error() -> None:
    class Short(MemoryLog):
        def read_hashes(self, indexes: list[int]) -> list[bytes]:
            return super().read_hashes(indexes)[:-1]

    class Truncated(MemoryLog):
        def read_hashes(self, indexes: list[int]) -> list[bytes]:
            return [h[:31] for h in super().read_hashes(indexes)]

    good = MemoryLog.of(LEAVES[:7])
    for cls, message in (
        (Short, "hash reader returned 2 hashes for 3 indexes"),
        (Truncated, "hash reader result for stored index 6: expected 32 bytes, found 31 bytes"),
    ):
        log = cls()
        log.hashes, log.size = good.hashes, good.size
        with pytest.raises(TreeError, match=message):
            tree_hash(7, log)


def test_every_leaf_size_pair_up_to_300_verifies() -> None:
    # Exhaustive: 45150 inclusion and 45150 consistency proofs, each from one reader call.
    size = 300
    log = MemoryLog.of([i.to_bytes(2, "big") for i in range(size)])
    roots = [tree_hash(t, log) for t in range(size + 1)]
    leaves = [log.hashes[stored_hash_index(0, n)] for n in range(size)]
    for t in range(1, size + 1):
        for n in range(t):
            verify_inclusion(n, t, leaves[n], prove_record(t, n, log), roots[t])
        for m in range(1, t + 1):
            verify_consistency(m, t, prove_tree(t, m, log), roots[m], roots[t])


@settings(max_examples=15, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), seed=st.binary(max_size=8))
def test_every_proof_of_a_random_tree_verifies(size: int, seed: bytes) -> None:
    records = [seed + i.to_bytes(2, "big") for i in range(size)]
    log = MemoryLog.of(records)
    leaves = [leaf_hash(r) for r in records]
    roots = [merkle_tree_hash(leaves[:t]) for t in range(size + 1)]
    for t in range(1, size + 1):
        assert tree_hash(t, log) == roots[t]
    # Every (leaf, size) pair for the full tree and a few smaller ones; all consistency pairs into t.
    for t in {size, max(1, size // 2), max(1, size - 1)}:
        for n in range(t):
            verify_inclusion(n, t, leaves[n], prove_record(t, n, log), roots[t])
        for n in range(1, t + 1):
            verify_consistency(n, t, prove_tree(t, n, log), roots[n], roots[t])


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_all_leaf_size_pairs_verify(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=300))
    log = MemoryLog.of([i.to_bytes(3, "big") for i in range(size)])
    t = data.draw(st.integers(min_value=1, max_value=size))
    n = data.draw(st.integers(min_value=0, max_value=t - 1))
    root = tree_hash(t, log)
    verify_inclusion(n, t, log.hashes[stored_hash_index(0, n)], prove_record(t, n, log), root)
    m = data.draw(st.integers(min_value=1, max_value=t))
    verify_consistency(m, t, prove_tree(t, m, log), tree_hash(m, log), root)


def test_tree_hash_indexes_are_one_per_set_bit() -> None:
    assert tree_hash_indexes(0) == []
    assert tree_hash_indexes(7) == [stored_hash_index(2, 0), stored_hash_index(1, 2), stored_hash_index(0, 6)]


def test_reader_may_return_memoryviews_as_some_drivers_do() -> None:
    class Views(MemoryLog):
        def read_hashes(self, indexes: list[int]) -> list[bytes]:
            return [memoryview(h) for h in super().read_hashes(indexes)]  # type: ignore[misc]

    good = MemoryLog.of(LEAVES)
    log = Views()
    log.hashes, log.size = good.hashes, good.size
    assert tree_hash(8, log) == ROOTS[8]
    assert prove_record(8, 3, log) == prove_record(8, 3, good)
    with pytest.raises(TreeError, match="record hash 8: expected 32 bytes, found str"):
        stored_hashes_for_batch(8, ["x" * 32], log)  # type: ignore[list-item]
