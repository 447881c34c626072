"""RFC 6962 §2.1 hashing against the transparency-dev/merkle constants."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from _paths import reference_dir

from farmtrace.ledger.hashing import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    NODE_PREFIX,
    leaf_hash,
    merkle_tree_hash,
    node_hash,
)

VECTORS = json.loads((reference_dir() / "merkle" / "vectors.json").read_text())
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaf_inputs_hex"]]


def test_prefixes_and_empty_root_are_rfc6962() -> None:
    assert LEAF_PREFIX == b"\x00"
    assert NODE_PREFIX == b"\x01"
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == VECTORS["root_hashes_by_size_hex"]["0"]


def test_leaf_and_node_hash_by_hand() -> None:
    assert leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_leaf_hashes_match_level_zero_node_hashes() -> None:
    assert [leaf_hash(x).hex() for x in LEAVES] == VECTORS["node_hashes_by_level_hex"][0]


@pytest.mark.parametrize("size", range(0, 9))
def test_merkle_tree_hash_matches_reference_roots(size: int) -> None:
    hashes = [leaf_hash(x) for x in LEAVES[:size]]
    assert merkle_tree_hash(hashes).hex() == VECTORS["root_hashes_by_size_hex"][str(size)]


def test_complete_subtree_hashes_match_reference_levels() -> None:
    level = [leaf_hash(x) for x in LEAVES]
    for expected in VECTORS["node_hashes_by_level_hex"][1:]:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        assert [h.hex() for h in level] == expected


def test_go_sumdb_record_hash() -> None:
    vector = VECTORS["sumdb_record_hash"]
    digest = leaf_hash(vector["record"].encode())
    assert base64.b64encode(digest).decode() == vector["record_hash_b64"]
