"""C2SP tlog-proof receipts: format, strict parse, offline verification."""

from __future__ import annotations

import pytest
from ledger_memlog import MemoryLog

from farmtrace.ledger.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import FormatError, ProofError, SignatureError
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.receipt import Receipt, format_receipt, open_receipt, parse_receipt
from farmtrace.ledger.tlog import prove_record, tree_hash

LOG = SignerKey("farmtrace.example/log", bytes(range(32)))
RECORDS = [f"entry {i}".encode() for i in range(7)]


def make_receipt(index: int, extra: bytes | None = None) -> str:
    log = MemoryLog.of(RECORDS)
    signed = sign_checkpoint(Checkpoint(LOG.name, 7, tree_hash(7, log)), LOG)
    return format_receipt(Receipt(index, tuple(prove_record(7, index, log)), signed, extra))


def test_receipt_layout() -> None:
    text = make_receipt(3, extra=b"batch B-1")
    lines = text.split("\n")
    assert lines[:3] == ["c2sp.org/tlog-proof@v1", f"extra {b64encode(b'batch B-1')}", "index 3"]
    assert lines[6] == ""  # three proof hashes for leaf 3 of 7, then the blank line
    assert lines[7:10] == ["farmtrace.example/log", "7", lines[9]]
    assert parse_receipt(text).extra == b"batch B-1"
    assert format_receipt(parse_receipt(text)) == text


def test_receipt_opens_for_its_leaf_only() -> None:
    text = make_receipt(5)
    receipt, checkpoint = open_receipt(text, leaf_hash(RECORDS[5]), LOG.verifier_key())
    assert (receipt.index, checkpoint.size) == (5, 7)
    with pytest.raises(ProofError, match="does not match expected root"):
        open_receipt(text, leaf_hash(RECORDS[4]), LOG.verifier_key())


def test_receipt_from_another_log_key_is_refused() -> None:
    other = SignerKey("farmtrace.example/log", bytes(32))
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_receipt(make_receipt(1), leaf_hash(RECORDS[1]), other.verifier_key())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
            "expected first line 'c2sp.org/tlog-proof@v1'",
        ),
        (
            lambda t: t.replace("index 2", "index 02"),
            "receipt index: expected a decimal without leading zeros, found '02'",
        ),
        (lambda t: t.replace("index 2\n", ""), "expected an 'index <n>' line"),
        (
            lambda t: t.replace("\n\n", "\n", 1),
            r"receipt proof hash \[3\]: expected standard base64 .* found .farmtrace.example/log.",
        ),
        (
            lambda t: t.replace("index 2\n", "index 2\nnot-base64\n"),
            r"receipt proof hash \[0\]: expected standard base64",
        ),
        (lambda t: t.replace("index 2\n", "extra \nindex 2\n"), "omit it rather than give empty extra data"),
    ],
)
def test_malformed_receipts_are_refused(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FormatError, match=message):
        parse_receipt(mutate(make_receipt(2)))


def test_receipt_with_tampered_proof_is_refused() -> None:
    text = make_receipt(2)
    lines = text.split("\n")
    lines[2] = b64encode(bytes(32))
    with pytest.raises(ProofError):
        open_receipt("\n".join(lines), leaf_hash(RECORDS[2]), LOG.verifier_key())
