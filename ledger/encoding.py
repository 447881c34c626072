"""Base64 as the ledger writes it: RFC 4648 §4 standard alphabet, with padding.

Every hash, signature and key in the ledger's text and JSON formats is written this way
(as in C2SP signed-note and tlog-checkpoint). Decoding is strict: exactly one text
decodes to a given byte string, so a re-encoded value always equals the original.
"""

from __future__ import annotations

import base64
import binascii

from farmtrace.ledger.errors import FormatError

HASH_SIZE = 32


def b64encode(data: bytes) -> str:
    """RFC 4648 §4 base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, field: str) -> bytes:
    """Decode canonical RFC 4648 §4 base64; `field` names the input in error messages.

    Rejects characters outside the alphabet, missing or extra padding, and non-zero
    padding bits (which would let two texts decode to the same bytes).
    """
    if not isinstance(text, str):
        raise FormatError(f"{field}: expected a base64 string, found {type(text).__name__}")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise FormatError(f"{field}: expected standard base64 with padding, found {text!r} ({exc})") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise FormatError(f"{field}: base64 {text!r} is not in canonical form")
    return data


def decode_hash(text: str, field: str) -> bytes:
    """Decode a base64 SHA-256 hash (exactly 32 bytes)."""
    data = b64decode(text, field)
    if len(data) != HASH_SIZE:
        raise FormatError(f"{field}: expected a {HASH_SIZE}-byte hash, found {len(data)} bytes")
    return data
