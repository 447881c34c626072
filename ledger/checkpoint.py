"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed tree head of the log.

The checkpoint is the text of a signed note (note.py):

    <origin>\n
    <tree size, ASCII decimal, no leading zeros>\n
    <root hash, base64 of 32 bytes>\n
    [<extension line>\n ...]

Parsing is strict: a text parses only if format_checkpoint would write it back
byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from farmtrace.ledger.encoding import HASH_SIZE, b64encode, decode_hash
from farmtrace.ledger.errors import FormatError, SignatureError
from farmtrace.ledger.note import Note, NoteVerifier, SignerKey, open_note, sign_note

MAX_TREE_SIZE = 2**63 - 1  # as Go's int64: what other verifiers can represent
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    """Origin, tree size, RFC 6962 root hash and opaque extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, int)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise FormatError(f"checkpoint tree size: expected an integer 0 to 2**63-1, found {self.size!r}")
        if len(self.root_hash) != HASH_SIZE:
            raise FormatError(
                f"checkpoint root hash: expected {HASH_SIZE} bytes, found {len(self.root_hash)}"
            )
        for i, line in enumerate(self.extensions):
            _check_line(line, f"checkpoint extension line {i + 1}")


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """tlog-checkpoint §Note text: the checkpoint body, ending in a newline."""
    lines = [checkpoint.origin, str(checkpoint.size), b64encode(checkpoint.root_hash)]
    return "\n".join([*lines, *checkpoint.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, without signatures), strictly."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("checkpoint: expected text ending in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError(
            f"checkpoint: expected at least 3 lines (origin, size, root hash), found {len(lines)}"
        )
    origin, size_text, root_text, *extensions = lines
    if not (size_text.isascii() and _DECIMAL.fullmatch(size_text)):
        raise FormatError(
            f"checkpoint tree size: expected a decimal without leading zeros, found {size_text!r}"
        )
    root = decode_hash(root_text, "checkpoint root hash")
    checkpoint = Checkpoint(origin, int(size_text), root, tuple(extensions))
    if format_checkpoint(checkpoint) != text:  # pragma: no cover - the checks above are exhaustive
        raise FormatError("checkpoint: not in canonical form")
    return checkpoint


def sign_checkpoint(checkpoint: Checkpoint, signer: SignerKey) -> str:
    """The checkpoint as a signed note, signed by the log key."""
    return sign_note(format_checkpoint(checkpoint), signer)


def open_checkpoint(
    msg: str | bytes,
    log_key: NoteVerifier,
    *,
    origin: str | None = None,
    cosigners: Sequence[NoteVerifier] = (),
) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint: the log key must have signed it, origin must match.

    `origin` defaults to the log key's name (tlog-checkpoint §Signatures: the key name
    SHOULD match the origin). Cosigner signatures, if listed, are verified too (an
    invalid one rejects the note); whether enough of them signed is the caller's policy.
    """
    note = open_note(msg, [log_key, *cosigners])
    if not any((s.name, s.key_id) == (log_key.name, log_key.key_id) for s in note.signatures):
        raise SignatureError(f"checkpoint: not signed by the log key {log_key.name}+{log_key.key_id:08x}")
    checkpoint = parse_checkpoint(note.text)
    expected = log_key.name if origin is None else origin
    if checkpoint.origin != expected:
        raise SignatureError(
            f"checkpoint: origin {checkpoint.origin!r} does not match expected origin {expected!r}"
        )
    return checkpoint, note


def _check_line(line: str, what: str) -> None:
    if not isinstance(line, str) or not line:
        raise FormatError(f"{what}: expected a non-empty line, found {line!r}")
    for i, c in enumerate(line):
        if c < " " or "\ud800" <= c <= "\udfff":
            raise FormatError(f"{what}: character U+{ord(c):04X} at index {i} is not allowed")
