"""Merkle tree hashing of RFC 6962 §2.1 (unchanged in RFC 9162 §2.1.1), with SHA-256.

Domain separation: a leaf hash is SHA-256(0x00 || data) and an interior node hash is
SHA-256(0x01 || left || right), so a leaf can never be passed off as a node (second
preimage attacks). The empty tree's hash is SHA-256 of the empty string.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from farmtrace.ledger.encoding import HASH_SIZE

# RFC 6962 §2.1: prefix bytes for leaf and interior node hashes.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

# RFC 6962 §2.1: MTH({}) = SHA-256().
EMPTY_ROOT = hashlib.sha256(b"").digest()

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "leaf_hash",
    "merkle_tree_hash",
    "node_hash",
]


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1 leaf hash: SHA-256(0x00 || data). Go tlog calls this RecordHash."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def merkle_tree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH of a list of leaf hashes held in memory.

    The direct definition: split at k, the largest power of two smaller than n. Used for
    tiles, entry bundles and tests; a log of any size uses tlog.tree_hash instead, which
    reads O(log n) stored hashes.
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(merkle_tree_hash(leaf_hashes[:k]), merkle_tree_hash(leaf_hashes[k:]))
