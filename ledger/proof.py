"""Verification of Merkle inclusion and consistency proofs (RFC 9162 §2.1.3.2, §2.1.4.2).

Follows transparency-dev/merkle proof/verify.go: the proof length is derived from the
tree coordinates and checked before any hashing, every hash must be 32 bytes, and the
computed root is compared only at the end. `root_from_*` functions compute without
comparing; `verify_*` functions compare and return None or raise ProofError.

Edge cases fixed by the upstream test probes (see docs/ledger-format.md):
- an inclusion proof needs 0 <= leaf_index < tree_size, so nothing is in an empty tree;
- a consistency proof from size 0 is refused, even to size 0: it proves nothing, and a
  client holding no checkpoint should simply verify the newer one;
- for size1 == size2 the proof must be empty and the two roots are compared as given.
"""

from __future__ import annotations

from collections.abc import Sequence

from farmtrace.ledger.errors import ProofError
from farmtrace.ledger.hashing import HASH_SIZE, node_hash


def root_from_inclusion_proof(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1-5)."""
    if not (0 <= leaf_index < tree_size):
        raise ProofError(f"inclusion proof: leaf index {leaf_index} is outside a tree of size {tree_size}")
    _check_hash("inclusion proof: leaf hash", leaf_hash)
    _check_proof_hashes("inclusion proof", proof)
    # The path to leaf_index and the path to the last leaf diverge `inner` levels up;
    # above that, every sibling is a left-hand subtree on the tree's right border.
    inner = (leaf_index ^ (tree_size - 1)).bit_length()
    border = (leaf_index >> inner).bit_count()
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof: expected {inner + border} hashes for leaf {leaf_index} "
            f"in a tree of size {tree_size}, found {len(proof)}"
        )
    h = _chain_inner(leaf_hash, proof[:inner], leaf_index)
    return _chain_border_right(h, proof[inner:])


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` with `root`."""
    computed = root_from_inclusion_proof(leaf_index, tree_size, leaf_hash, proof)
    _check_hash("inclusion proof: root", root)
    if computed != root:
        raise ProofError(
            f"inclusion proof: computed root {computed.hex()} for leaf {leaf_index} in a tree "
            f"of size {tree_size} does not match expected root {root.hex()}"
        )


def roots_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """The (old root, new root) implied by a consistency proof, for 0 < size1 < size2.

    RFC 9162 §2.1.4.2: the proof is the inclusion proof of the last complete subtree of
    the old tree, seeded with root1 itself when size1 is a power of two. Chaining only
    the left-hand hashes rebuilds the old root; chaining all of them, the new root.
    """
    if not (0 < size1 < size2):
        raise ProofError(f"consistency proof: expected 0 < size1 < size2, found size1 {size1}, size2 {size2}")
    _check_hash("consistency proof: root1", root1)
    _check_proof_hashes("consistency proof", proof)
    if not proof:
        raise ProofError(f"consistency proof: empty proof from size {size1} to size {size2}")

    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = _trailing_zeros(size1)
    inner -= shift  # shift < inner because size1 < size2
    if size1 == 1 << shift:
        seed, path = root1, list(proof)  # root1 is itself the subtree; not repeated
    else:
        seed, path = proof[0], list(proof[1:])
    expected = inner + border + (0 if size1 == 1 << shift else 1)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof: expected {expected} hashes from size {size1} to size "
            f"{size2}, found {len(proof)}"
        )
    mask = (size1 - 1) >> shift
    old = _chain_border_right(_chain_inner_right(seed, path[:inner], mask), path[inner:])
    new = _chain_border_right(_chain_inner(seed, path[:inner], mask), path[inner:])
    return old, new


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of size2 with root2 extends the tree of size1 with root1."""
    if size1 > size2:
        raise ProofError(f"consistency proof: size1 {size1} is greater than size2 {size2}")
    if size1 == 0:
        raise ProofError(f"consistency proof: from an empty tree (size1 0 to size2 {size2}) proves nothing")
    if size1 == size2:
        if len(proof) != 0:
            raise ProofError(
                f"consistency proof: expected no hashes for equal sizes {size1}, found {len(proof)}"
            )
        if root1 != root2:
            raise ProofError(
                f"consistency proof: trees of the same size {size1} have different roots "
                f"{root1.hex()} and {root2.hex()}"
            )
        return
    _check_hash("consistency proof: root2", root2)
    old, new = roots_from_consistency_proof(size1, size2, proof, root1)
    if old != root1:
        raise ProofError(
            f"consistency proof: computed root {old.hex()} at size {size1} does not match "
            f"expected root1 {root1.hex()}"
        )
    if new != root2:
        raise ProofError(
            f"consistency proof: computed root {new.hex()} at size {size2} does not match "
            f"expected root2 {root2.hex()}"
        )


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Below the divergence point the bit of index at each level says which side we are on.
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Only left-hand siblings existed in the old tree, so right-hand ones are skipped.
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _check_hash(what: str, h: object) -> None:
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        found = f"{len(h)} bytes" if isinstance(h, (bytes, bytearray)) else type(h).__name__
        raise ProofError(f"{what}: expected a {HASH_SIZE}-byte hash, found {found}")


def _check_proof_hashes(what: str, proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"{what}: hash [{i}]", h)


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1
