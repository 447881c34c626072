"""Storage layout and proof construction for the append-only Merkle log.

A Python port of the design of Go's golang.org/x/mod/sumdb/tlog (tlog.go): every hash
of every complete subtree is stored once, at a dense "stored hash index" (Crosby and
Wallach, "Efficient Data Structures for Tamper-Evident Logging", §3.3). Appending record
n stores 1 + (trailing one bits of n) new hashes; any tree root, inclusion proof
("record proof") or consistency proof ("tree proof") for any tree size then needs only
O(log n) stored hashes, which this module names up front and fetches in ONE call to the
storage's HashReader.

Hashes are RFC 6962 §2.1 (see hashing.py), so roots and proofs are those of RFC 6962 /
RFC 9162 and verify with proof.verify_inclusion / proof.verify_consistency.

Reader calls per operation (each call passes at most ~2·log2(n) + 2 sorted indexes):
    stored_hashes / stored_hashes_for_record_hash   at most 1 (none when n is even)
    stored_hashes_for_batch                        at most 1 for the whole batch
    tree_hash                                      at most 1 (none for n == 0)
    prove_record, prove_tree                       at most 1 (none for an empty proof)

Differences from Go: the tree of size 0 has root SHA-256("") (RFC 6962), not all zeros;
integers are unbounded Python ints, so sizes are only checked to be non-negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from farmtrace.ledger.errors import TreeError
from farmtrace.ledger.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash


class HashReader(Protocol):
    """Reads stored hashes by stored hash index (see stored_hash_index).

    read_hashes must return exactly one 32-byte hash per index, in the order asked, or
    raise. Indexes are passed sorted ascending where the algorithm allows it (as Go's
    tlog does), which suits `WHERE idx IN (...) ORDER BY idx` queries, but callers must
    not rely on it: map results back by position, not by sorting.
    """

    def read_hashes(self, indexes: list[int]) -> list[bytes]: ...


def stored_hash_index(level: int, n: int) -> int:
    """The storage position of the n'th hash at the given tree level (0 = leaves).

    Level L's n'th hash is stored right after level L+1's (2n+1)'th hash, that is, as
    soon as the subtree it roots is complete.
    """
    if level < 0 or n < 0:
        raise TreeError(f"stored_hash_index: expected level >= 0 and n >= 0, found level={level} n={n}")
    for _ in range(level):
        n = 2 * n + 1
    # Level 0's n'th hash is written at n + n/2 + n/4 + ... (until n/2**i reaches zero).
    index = 0
    while n > 0:
        index += n
        n >>= 1
    return index + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The inverse of stored_hash_index: (level, n) for a stored hash index."""
    if index < 0:
        raise TreeError(f"split_stored_hash_index: expected index >= 0, found {index}")
    # stored_hash_index(0, n) < 2n, so the record we want is in [index/2, index/2 + log2(index)].
    n = index // 2
    index_n = stored_hash_index(0, n)
    while True:
        # Record n+1 comes after 1 + trailing_zeros(n+1) hashes stored with record n.
        x = index_n + 1 + _trailing_zeros(n + 1)
        if x > index:
            break
        n += 1
        index_n = x
    # The hash was stored with record n: it is one of (0, n), (1, n/2), (2, n/4), ...
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a tree of n records has stored (= stored_hash_index(0, n))."""
    _check_size("stored_hash_count", n)
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def stored_hashes(n: int, data: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to store, from index stored_hash_count(n) on, when appending record n."""
    return stored_hashes_for_record_hash(n, leaf_hash(data), reader)


def stored_hashes_for_record_hash(n: int, record_hash: bytes, reader: HashReader) -> list[bytes]:
    """Like stored_hashes, given the record's leaf hash instead of its data."""
    return stored_hashes_for_batch(n, [record_hash], reader)


def stored_hashes_for_batch(n: int, record_hashes: Sequence[bytes], reader: HashReader) -> list[bytes]:
    """The hashes to store when appending records n, n+1, ... with the given leaf hashes.

    The result is contiguous: store result[i] at stored_hash_count(n) + i; afterwards
    stored_hash_count(n + len(record_hashes)) hashes exist. Reads the O(log n) older
    hashes it needs (the left siblings along the tree's right edge) in one reader call.
    """
    _check_size("stored_hashes_for_batch", n)
    for i, h in enumerate(record_hashes):
        _check_hash(f"record hash {n + i}", h)
    record_hashes = [bytes(h) for h in record_hashes]
    start = stored_hash_count(n)
    needed: set[int] = set()
    for i in range(n, n + len(record_hashes)):
        for level in range(_trailing_zeros(i + 1)):
            index = stored_hash_index(level, (i >> level) - 1)
            if index < start:
                needed.add(index)
    old_indexes = sorted(needed)
    known = dict(zip(old_indexes, _read(reader, old_indexes), strict=True))

    new: list[bytes] = []
    for i, h in zip(range(n, n + len(record_hashes)), record_hashes, strict=True):
        new.append(h)
        # Each trailing 1 bit of i completes a subtree: hash it with its left sibling.
        for level in range(_trailing_zeros(i + 1)):
            index = stored_hash_index(level, (i >> level) - 1)
            left = known[index] if index < start else new[index - start]
            h = node_hash(left, h)
            new.append(h)
    if start + len(new) != stored_hash_count(n + len(record_hashes)):  # pragma: no cover
        raise AssertionError("tlog: bad index math in stored_hashes_for_batch")
    return new


def tree_hash_indexes(n: int) -> list[int]:
    """The stored hash indexes tree_hash(n) reads: one per set bit of n."""
    _check_size("tree_hash", n)
    return _sub_tree_index(0, n, [])


def tree_hash(n: int, reader: HashReader) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash of the first n records, from stored hashes."""
    if n == 0:
        return EMPTY_ROOT
    indexes = tree_hash_indexes(n)
    h, rest = _sub_tree_hash(0, n, _read(reader, indexes))
    if rest:  # pragma: no cover
        raise AssertionError("tlog: bad index math in tree_hash")
    return h


def record_proof_indexes(t: int, n: int) -> list[int]:
    """The stored hash indexes prove_record(t, n) reads."""
    if not (0 <= n < t):
        raise TreeError(f"record proof: expected 0 <= index < tree size, found index {n}, tree size {t}")
    return _leaf_proof_index(0, t, n, [])


def prove_record(t: int, n: int, reader: HashReader) -> list[bytes]:
    """RFC 6962 §2.1.1 audit path (RFC 9162 §2.1.3 inclusion proof) of record n in tree t.

    Ordered leaf to root, as RFC 9162 and proof.verify_inclusion expect.
    """
    indexes = record_proof_indexes(t, n)
    if not indexes:
        return []
    proof, rest = _leaf_proof(0, t, n, _read(reader, indexes))
    if rest:  # pragma: no cover
        raise AssertionError("tlog: bad index math in prove_record")
    return proof


def tree_proof_indexes(t: int, n: int) -> list[int]:
    """The stored hash indexes prove_tree(t, n) reads."""
    if not (0 < n <= t):
        raise TreeError(f"tree proof: expected 0 < old size <= new size, found old size {n}, new size {t}")
    return _tree_proof_index(0, t, n, [])


def prove_tree(t: int, n: int, reader: HashReader) -> list[bytes]:
    """RFC 6962 §2.1.2 (RFC 9162 §2.1.4) consistency proof from tree size n to size t.

    Empty when n == t. A proof from size 0 is refused: it would prove nothing.
    """
    indexes = tree_proof_indexes(t, n)
    if not indexes:
        return []
    proof, rest = _tree_proof(0, t, n, _read(reader, indexes))
    if rest:  # pragma: no cover
        raise AssertionError("tlog: bad index math in prove_tree")
    return proof


# Internals: recursive descents over [lo, hi) exactly as RFC 6962 §2.1 defines MTH,
# PATH and PROOF. Each *_index function lists, in order, the stored hashes its twin
# consumes, so one read serves the whole computation.


def _maxpow2(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _sub_tree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    # [lo, hi) splits into complete subtrees of decreasing size, each stored as one hash.
    while lo < hi:
        k = _maxpow2(hi - lo + 1)
        level = k.bit_length() - 1
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _sub_tree_hash(lo: int, hi: int, hashes: list[bytes]) -> tuple[bytes, list[bytes]]:
    count = 0
    while lo < hi:
        lo += _maxpow2(hi - lo + 1)
        count += 1
    h = hashes[count - 1]
    for i in range(count - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h, hashes[count:]


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if lo + 1 == hi:
        return need
    k = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if lo + 1 == hi:
        return [], hashes  # the verifier has the leaf hash itself
    k = _maxpow2(hi - lo)
    if n < lo + k:
        proof, hashes = _leaf_proof(lo, lo + k, n, hashes)
        sibling, hashes = _sub_tree_hash(lo + k, hi, hashes)
    else:
        sibling, hashes = _sub_tree_hash(lo, lo + k, hashes)
        proof, hashes = _leaf_proof(lo + k, hi, n, hashes)
    proof.append(sibling)
    return proof, hashes


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if n == hi:
        return need if lo == 0 else _sub_tree_index(lo, hi, need)
    k = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        _sub_tree_index(lo + k, hi, need)
    else:
        _sub_tree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if n == hi:
        if lo == 0:
            return [], hashes  # exactly the old tree: the verifier knows its root
        h, hashes = _sub_tree_hash(lo, hi, hashes)
        return [h], hashes
    k = _maxpow2(hi - lo)
    if n <= lo + k:
        proof, hashes = _tree_proof(lo, lo + k, n, hashes)
        sibling, hashes = _sub_tree_hash(lo + k, hi, hashes)
    else:
        sibling, hashes = _sub_tree_hash(lo, lo + k, hashes)
        proof, hashes = _tree_proof(lo + k, hi, n, hashes)
    proof.append(sibling)
    return proof, hashes


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = list(reader.read_hashes(list(indexes)))
    if len(hashes) != len(indexes):
        raise TreeError(f"hash reader returned {len(hashes)} hashes for {len(indexes)} indexes")
    for index, h in zip(indexes, hashes, strict=True):
        _check_hash(f"hash reader result for stored index {index}", h)
    # Some database drivers return memoryview for binary columns.
    return [bytes(h) for h in hashes]


def _check_hash(what: str, h: object) -> None:
    if not isinstance(h, (bytes, bytearray, memoryview)):
        raise TreeError(f"{what}: expected {HASH_SIZE} bytes, found {type(h).__name__}")
    if len(h) != HASH_SIZE:
        raise TreeError(f"{what}: expected {HASH_SIZE} bytes, found {len(h)} bytes")


def _check_size(what: str, n: int) -> None:
    if n < 0:
        raise TreeError(f"{what}: expected a tree size >= 0, found {n}")


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1
