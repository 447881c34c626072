"""Our own vectors (tests/vectors/ledger): recomputed from scratch, mutations rejected."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from _paths import VECTORS_DIR
from ledger_memlog import MemoryLog

from farmtrace.ledger.canonical import canonical_bytes, parse_json_strict
from farmtrace.ledger.checkpoint import format_checkpoint, open_checkpoint
from farmtrace.ledger.cosignature import CosignatureVerifier, verify_cosignature
from farmtrace.ledger.errors import FormatError, LedgerError
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.note import (
    format_signer_key,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)
from farmtrace.ledger.proof import verify_consistency, verify_inclusion
from farmtrace.ledger.receipt import open_receipt
from farmtrace.ledger.tiles import parse_entry_bundle, parse_tile_path, read_tile_data
from farmtrace.ledger.tlog import prove_record, prove_tree, tree_hash

DIR = VECTORS_DIR / "ledger"
MERKLE = json.loads((DIR / "merkle-7.json").read_text(encoding="utf-8"))
CHECKPOINT = json.loads((DIR / "checkpoint.json").read_text(encoding="utf-8"))
CANONICAL = json.loads((DIR / "canonical.json").read_text(encoding="utf-8"))


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_every_vector_file_has_a_description() -> None:
    for data in (MERKLE, CHECKPOINT, CANONICAL):
        assert data["description"]


def test_seven_leaf_root_by_hand_with_hashlib() -> None:
    def leaf(data: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + data).digest()

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    leaves = [
        leaf(json.dumps(x["object"], ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())
        for x in MERKLE["leaves"][:4]
    ]
    # The first four objects have ASCII-sortable keys, so sorted compact json.dumps is their JCS form.
    leaves += [leaf(x["canonical"].encode("utf-8")) for x in MERKLE["leaves"][4:]]
    # RFC 6962 §2.1: 7 leaves split 4 + 3, the 3 split 2 + 1.
    root = node(
        node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])),
        node(node(leaves[4], leaves[5]), leaves[6]),
    )
    assert base64.b64encode(root).decode() == MERKLE["roots"]["7"]
    assert hashlib.sha256(b"").digest() == b64(MERKLE["roots"]["0"])


def test_leaves_roots_and_storage_layout_recompute() -> None:
    canonical = [canonical_bytes(x["object"]) for x in MERKLE["leaves"]]
    assert [c.decode("utf-8") for c in canonical] == [x["canonical"] for x in MERKLE["leaves"]]
    assert [leaf_hash(c) for c in canonical] == [b64(x["leaf_hash"]) for x in MERKLE["leaves"]]
    log = MemoryLog.of(canonical)
    assert {str(t): tree_hash(t, log) for t in range(8)} == {k: b64(v) for k, v in MERKLE["roots"].items()}
    assert log.hashes == [b64(x["hash"]) for x in MERKLE["stored_hashes"]]


def test_proofs_recompute_and_verify() -> None:
    log = MemoryLog.of([x["canonical"].encode("utf-8") for x in MERKLE["leaves"]])
    for case in MERKLE["inclusion"]:
        proof = [b64(h) for h in case["proof"]]
        assert prove_record(case["tree_size"], case["leaf_index"], log) == proof
        verify_inclusion(
            case["leaf_index"], case["tree_size"], b64(case["leaf_hash"]), proof, b64(case["root"])
        )
    for case in MERKLE["consistency"]:
        proof = [b64(h) for h in case["proof"]]
        assert prove_tree(case["size2"], case["size1"], log) == proof
        verify_consistency(case["size1"], case["size2"], proof, b64(case["root1"]), b64(case["root2"]))
    assert len(MERKLE["inclusion"]) == 28 and len(MERKLE["consistency"]) == 28


@pytest.mark.parametrize("case", MERKLE["mutations"], ids=lambda c: c["description"])
def test_merkle_mutations(case: dict) -> None:
    proof = [b64(h) for h in case["proof"]]
    if case["kind"] == "inclusion":
        args = (case["leaf_index"], case["tree_size"], b64(case["leaf_hash"]), proof, b64(case["root"]))
        check = verify_inclusion
    else:
        args = (case["size1"], case["size2"], proof, b64(case["root1"]), b64(case["root2"]))
        check = verify_consistency
    if case["want_err"]:
        with pytest.raises(LedgerError):
            check(*args)
    else:
        check(*args)


def test_tiles_recompute() -> None:
    canonical = [x["canonical"].encode("utf-8") for x in MERKLE["leaves"]]
    log = MemoryLog.of(canonical)
    hash_tile, bundle = MERKLE["tiles"]
    assert read_tile_data(parse_tile_path(hash_tile["path"]), log) == b64(hash_tile["data"])
    tile = parse_tile_path(bundle["path"])
    assert parse_entry_bundle(b64(bundle["data"]), tile.width) == canonical


def test_signed_and_cosigned_checkpoint() -> None:
    log_key = parse_verifier_key(CHECKPOINT["log_vkey"])
    witness_key = parse_verifier_key(CHECKPOINT["witness_vkey"])
    signer = parse_signer_key(CHECKPOINT["log_skey"])
    assert format_signer_key(signer) == CHECKPOINT["log_skey"]
    assert sign_note(CHECKPOINT["checkpoint_text"], signer) == CHECKPOINT["signed_checkpoint"]
    checkpoint, _ = open_checkpoint(CHECKPOINT["signed_checkpoint"], log_key)
    assert checkpoint.size == CHECKPOINT["checkpoint"]["size"]
    assert checkpoint.root_hash == b64(MERKLE["roots"]["7"])
    assert format_checkpoint(checkpoint) == CHECKPOINT["checkpoint_text"]

    _, note = open_checkpoint(
        CHECKPOINT["cosigned_checkpoint"], log_key, cosigners=[CosignatureVerifier(witness_key)]
    )
    assert len(note.signatures) == 2
    verify_cosignature(note.text, note.signatures[1], witness_key)
    # Ed25519 is deterministic, so the published cosignature is reproducible.
    witness = parse_signer_key(CHECKPOINT["witness_skey"])
    message = CHECKPOINT["cosigned_message"].encode()
    assert witness.sign(message) == note.signatures[1].signature[8:]

    receipt, at = open_receipt(CHECKPOINT["receipt"], b64(CHECKPOINT["receipt_leaf_hash"]), log_key)
    assert (receipt.index, at.size) == (CHECKPOINT["receipt_leaf_index"], 7)


@pytest.mark.parametrize("case", CHECKPOINT["mutations"], ids=lambda c: c["description"])
def test_checkpoint_mutations(case: dict) -> None:
    log_key = parse_verifier_key(CHECKPOINT["log_vkey"])
    if case["want_err"]:
        with pytest.raises(LedgerError):
            open_checkpoint(case["note"], log_key)
    else:
        open_checkpoint(case["note"], log_key)
        assert len(parse_note(case["note"]).unverified_signatures) == 2


@pytest.mark.parametrize("case", CANONICAL["cases"], ids=lambda c: c["description"])
def test_canonical_cases(case: dict) -> None:
    data = bytes.fromhex(case["input_hex"]) if "input_hex" in case else case["input"].encode("utf-8")
    if case["want_err"]:
        with pytest.raises(FormatError) as info:
            parse_json_strict(data)
        assert case["error_contains"] in str(info.value)
    else:
        assert canonical_bytes(parse_json_strict(data)).decode("utf-8") == case["canonical"]
