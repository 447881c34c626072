"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): an offline-verifiable inclusion receipt.

    c2sp.org/tlog-proof@v1\n
    [extra <base64 opaque data>\n]
    index <leaf index, decimal, no leading zeros>\n
    <base64 proof hash>\n ...       (leaf's sibling first, up to the root's child)
    \n
    <the signed checkpoint note, verbatim>

The receipt ties one leaf hash to a checkpoint signed by the log (and possibly
cosigned by witnesses); verifying needs only the log's verifier key. The extra data is
not authenticated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from farmtrace.ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from farmtrace.ledger.encoding import HASH_SIZE, b64decode, b64encode, decode_hash
from farmtrace.ledger.errors import FormatError
from farmtrace.ledger.note import NoteVerifier, parse_note
from farmtrace.ledger.proof import verify_inclusion

RECEIPT_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Receipt:
    """Leaf index, inclusion proof, the signed checkpoint note, optional extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise FormatError(f"receipt index: expected an integer >= 0, found {self.index!r}")
        for i, h in enumerate(self.proof):
            if len(h) != HASH_SIZE:
                raise FormatError(f"receipt proof hash [{i}]: expected {HASH_SIZE} bytes, found {len(h)}")
        if self.extra is not None and not self.extra:
            raise FormatError("receipt extra: omit it rather than give empty extra data")
        parse_checkpoint(parse_note(self.checkpoint_note).text)


def format_receipt(receipt: Receipt) -> str:
    lines = [RECEIPT_HEADER]
    if receipt.extra is not None:
        lines.append(f"extra {b64encode(receipt.extra)}")
    lines.append(f"index {receipt.index}")
    lines.extend(b64encode(h) for h in receipt.proof)
    return "\n".join(lines) + "\n\n" + receipt.checkpoint_note


def parse_receipt(text: str) -> Receipt:
    """Parse a tlog-proof receipt strictly; the checkpoint note is parsed, not verified."""
    if not isinstance(text, str):
        raise FormatError(f"receipt: expected text, found {type(text).__name__}")
    head, sep, checkpoint_note = text.partition("\n\n")
    if not sep:
        raise FormatError("receipt: no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != RECEIPT_HEADER:
        raise FormatError(f"receipt: expected first line {RECEIPT_HEADER!r}, found {lines[0]!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = b64decode(rest[0][len("extra ") :], "receipt extra")
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise FormatError("receipt: expected an 'index <n>' line")
    index_text = rest[0][len("index ") :]
    if not (index_text.isascii() and _DECIMAL.fullmatch(index_text)):
        raise FormatError(f"receipt index: expected a decimal without leading zeros, found {index_text!r}")
    proof = tuple(decode_hash(line, f"receipt proof hash [{i}]") for i, line in enumerate(rest[1:]))
    receipt = Receipt(int(index_text), proof, checkpoint_note, extra)
    if format_receipt(receipt) != text:
        raise FormatError("receipt: not in canonical form")
    return receipt


def open_receipt(
    text: str,
    leaf_hash: bytes,
    log_key: NoteVerifier,
    *,
    origin: str | None = None,
    cosigners: Sequence[NoteVerifier] = (),
) -> tuple[Receipt, Checkpoint]:
    """Verify a receipt for a leaf hash: checkpoint signature, origin, inclusion proof.

    Returns the receipt and the verified checkpoint; raises SignatureError, ProofError
    or FormatError. Cosigner quorum is the caller's policy (see open_checkpoint).
    """
    receipt = parse_receipt(text)
    checkpoint, _ = open_checkpoint(receipt.checkpoint_note, log_key, origin=origin, cosigners=cosigners)
    verify_inclusion(receipt.index, checkpoint.size, leaf_hash, list(receipt.proof), checkpoint.root_hash)
    return receipt, checkpoint
