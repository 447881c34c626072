"""JSON encoding of proofs: round trips, strict parsing, verification."""

from __future__ import annotations

import pytest
from ledger_memlog import MemoryLog

from farmtrace.ledger.errors import FormatError, ProofError
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.proofjson import ConsistencyProof, InclusionProof
from farmtrace.ledger.tlog import prove_record, prove_tree, tree_hash

RECORDS = [f"r{i}".encode() for i in range(7)]
LOG = MemoryLog.of(RECORDS)


def test_inclusion_proof_json_round_trip_and_verify() -> None:
    proof = InclusionProof(2, 7, tuple(prove_record(7, 2, LOG)))
    obj = proof.to_json()
    assert list(obj) == ["leaf_index", "tree_size", "hashes"]
    assert all(len(h) == 44 and h.endswith("=") for h in obj["hashes"])
    assert InclusionProof.from_json(obj) == proof
    proof.verify(leaf_hash(RECORDS[2]), tree_hash(7, LOG))
    with pytest.raises(ProofError):
        proof.verify(leaf_hash(RECORDS[3]), tree_hash(7, LOG))


def test_consistency_proof_json_round_trip_and_verify() -> None:
    proof = ConsistencyProof(3, 7, tuple(prove_tree(7, 3, LOG)))
    assert ConsistencyProof.from_json(proof.to_json()) == proof
    proof.verify(tree_hash(3, LOG), tree_hash(7, LOG))


GOOD = InclusionProof(2, 7, tuple(prove_record(7, 2, LOG))).to_json()


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "inclusion proof: expected a JSON object, found list"),
        (
            {**GOOD, "extra": 1},
            r"expected keys \['hashes', 'leaf_index', 'tree_size'\], found \['extra', 'hashes'",
        ),
        (
            {**GOOD, "leaf_index": True},
            "inclusion proof.leaf_index: expected a non-negative integer, found True",
        ),
        ({**GOOD, "tree_size": "7"}, "inclusion proof.tree_size: expected a non-negative integer, found '7'"),
        ({**GOOD, "hashes": "abc"}, "inclusion proof.hashes: expected a list of base64 hashes, found str"),
        (
            {**GOOD, "hashes": [GOOD["hashes"][0].rstrip("=")]},
            r"inclusion proof.hashes\[0\]: expected standard base64",
        ),
        (
            {**GOOD, "hashes": ["AAAA"]},
            r"inclusion proof.hashes\[0\]: expected a 32-byte hash, found 3 bytes",
        ),
    ],
)
def test_malformed_proof_json_is_refused(obj: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        InclusionProof.from_json(obj)
