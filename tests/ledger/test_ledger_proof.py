"""Proof verification against every transparency-dev/merkle probe, plus pinned messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from _paths import reference_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_memlog import MemoryLog

from farmtrace.ledger.errors import ProofError, VerificationError
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.proof import (
    root_from_inclusion_proof,
    roots_from_consistency_proof,
    verify_consistency,
    verify_inclusion,
)
from farmtrace.ledger.tlog import prove_record, prove_tree, tree_hash

TESTDATA = reference_dir() / "merkle" / "upstream" / "testdata"
INCLUSION = sorted((TESTDATA / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((TESTDATA / "consistency").rglob("*.json"))
VECTORS = json.loads((reference_dir() / "merkle" / "vectors.json").read_text())


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def probe_id(path: Path) -> str:
    return str(path.relative_to(TESTDATA))


def test_all_upstream_probes_are_present() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == 196


@pytest.mark.parametrize("path", INCLUSION, ids=probe_id)
def test_upstream_inclusion_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    args = (
        probe["leafIdx"],
        probe["treeSize"],
        b64(probe["leafHash"]),
        [b64(h) for h in probe["proof"] or []],
        b64(probe["root"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=probe_id)
def test_upstream_consistency_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    args = (
        probe["size1"],
        probe["size2"],
        [b64(h) for h in probe["proof"] or []],
        b64(probe["root1"]),
        b64(probe["root2"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize("case", VECTORS["inclusion_happy_paths"], ids=lambda c: c["source"])
def test_root_from_inclusion_proof_computes_reference_root(case: dict) -> None:
    root = root_from_inclusion_proof(
        case["leaf_index"],
        case["tree_size"],
        bytes.fromhex(case["leaf_hash"]),
        [bytes.fromhex(h) for h in case["proof"]],
    )
    assert root.hex() == case["root"]


@pytest.mark.parametrize("case", VECTORS["consistency_happy_paths"][1:], ids=lambda c: c["source"])
def test_roots_from_consistency_proof_compute_both_reference_roots(case: dict) -> None:
    old, new = roots_from_consistency_proof(
        case["size1"], case["size2"], [bytes.fromhex(h) for h in case["proof"]], bytes.fromhex(case["root1"])
    )
    assert (old.hex(), new.hex()) == (case["root1"], case["root2"])


ROOT = bytes(32)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, 3, ROOT, [], ROOT), "inclusion proof: leaf index 3 is outside a tree of size 3"),
        ((0, 1, b"", [], ROOT), "inclusion proof: leaf hash: expected a 32-byte hash, found 0 bytes"),
        (
            (0, 2, ROOT, [], ROOT),
            "inclusion proof: expected 1 hashes for leaf 0 in a tree of size 2, found 0",
        ),
        ((0, 2, ROOT, [b"x"], ROOT), r"inclusion proof: hash \[0\]: expected a 32-byte hash, found 1 bytes"),
        (
            (0, 1, ROOT, [], b"\x01" * 32),
            "computed root 0000.* for leaf 0 in a tree of size 1 does not match expected root 0101",
        ),
    ],
)
def test_inclusion_messages(args: tuple, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        verify_inclusion(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((2, 1, [], ROOT, ROOT), "consistency proof: size1 2 is greater than size2 1"),
        ((0, 0, [], ROOT, ROOT), r"from an empty tree \(size1 0 to size2 0\) proves nothing"),
        ((3, 3, [ROOT], ROOT, ROOT), "expected no hashes for equal sizes 3, found 1"),
        ((3, 3, [], ROOT, b"\x01" * 32), "trees of the same size 3 have different roots"),
        ((1, 2, [], ROOT, ROOT), "consistency proof: empty proof from size 1 to size 2"),
        ((3, 4, [ROOT], ROOT, ROOT), "consistency proof: expected 3 hashes from size 3 to size 4, found 1"),
        ((1, 2, [ROOT], ROOT, ROOT), "computed root .* at size 2 does not match expected root2"),
    ],
)
def test_consistency_messages(args: tuple, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        verify_consistency(*args)


def test_proof_error_is_a_verification_error() -> None:
    assert issubclass(ProofError, VerificationError)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_single_bit_flip_is_rejected(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=200))
    log = MemoryLog.of([i.to_bytes(2, "big") for i in range(size)])
    n = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = prove_record(size, n, log)
    root = tree_hash(size, log)
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    tampered = list(proof)
    tampered[which] = (int.from_bytes(proof[which], "big") ^ (1 << bit)).to_bytes(32, "big")
    with pytest.raises(ProofError):
        verify_inclusion(n, size, leaf_hash(n.to_bytes(2, "big")), tampered, root)

    m = data.draw(st.integers(min_value=1, max_value=size - 1))
    cproof = prove_tree(size, m, log)
    which = data.draw(st.integers(min_value=0, max_value=len(cproof) - 1))
    tampered = list(cproof)
    tampered[which] = (int.from_bytes(cproof[which], "big") ^ (1 << bit)).to_bytes(32, "big")
    with pytest.raises(ProofError):
        verify_consistency(m, size, tampered, tree_hash(m, log), root)
