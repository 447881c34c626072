"""GS1 AI 10 (lot) and AI 21 (serial) values: character set, length, percent-encoding.

GS1 General Specifications §3.4.1 (AI 10) and §3.5.2 (AI 21): data format X..20, i.e.
1 to 20 characters of CSET 82 (General Specifications §7.11, figure 7.11-1).

In a GS1 Digital Link URI (GS1 Digital Link URI Syntax, §4 and §7) the value is a
path segment, so RFC 3986 §2.1 percent-encoding applies. When reading we follow GS1's
syntax engine (gs1-syntax-engine, dl.c URIunescape): "%" followed by two hex digits is
decoded, anything else is literal; in the query, "+" means space. When writing we
percent-encode every character outside RFC 3986 §2.3 "unreserved" (A-Z a-z 0-9 - . _ ~),
as the engine's generator does, with upper-case hex digits (RFC 3986 §2.1).
"""

from __future__ import annotations

from typing import Final

from farmtrace.trace.errors import Gs1ValueError

# GS1 General Specifications figure 7.11-1: the 82 characters of CSET 82.
CSET82: Final = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)

# RFC 3986 §2.3: never needs encoding.
URI_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

# CSET 82 characters that a path segment cannot carry literally: "/" ends the segment,
# "?" starts the query, "%" starts an escape, and '"', "<", ">" are not URI characters
# at all (RFC 3986 §2). Everything else in CSET 82 may appear raw in a path segment,
# though we never emit it raw (see percent_encode).
CSET82_MUST_ENCODE_IN_PATH: Final = frozenset('"%/<>?')

AI_VALUE_MAX_LENGTH: Final = 20
_FIELD_BY_AI: Final = {"10": "lot", "21": "serial", "22": "cpv"}
_HEX: Final = "0123456789ABCDEF"


def first_non_cset82(value: str) -> int | None:
    """Index of the first character of `value` outside CSET 82, or None."""
    for index, char in enumerate(value):
        if char not in CSET82:
            return index
    return None


def validate_x20(ai: str, value: str) -> None:
    """Raise Gs1ValueError unless `value` is a valid X..20 value (AI 10, 21 or 22)."""
    field = _FIELD_BY_AI.get(ai, f"ai{ai}")
    if not value:
        raise Gs1ValueError(field, f"Invalid AI ({ai}) value {value!r}: Expected 1 to 20 characters, got 0.")
    if len(value) > AI_VALUE_MAX_LENGTH:
        raise Gs1ValueError(
            field,
            f"Invalid AI ({ai}) value {value!r}: Expected at most {AI_VALUE_MAX_LENGTH} characters, "
            f"got {len(value)}.",
        )
    bad = first_non_cset82(value)
    if bad is not None:
        raise Gs1ValueError(
            field,
            f"Invalid AI ({ai}) value {value!r}: Expected only GS1 CSET 82 characters, "
            f"got {value[bad]!r} at position {bad + 1}.",
        )


def validate_lot(value: str) -> None:
    """Raise Gs1ValueError unless `value` is a valid AI (10) batch/lot number."""
    validate_x20("10", value)


def validate_serial_value(value: str) -> None:
    """Raise Gs1ValueError unless `value` is a valid AI (21) serial number."""
    validate_x20("21", value)


def uppercase_safe(value: str) -> bool:
    """Whether a URI carrying `value` (percent-encoded) can be upper-cased without changing it.

    Upper-casing leaves digits, "-", "." and %XX escapes alone; it changes lower-case
    letters, and "_" and "~" are the only other characters we write raw that a QR code's
    alphanumeric mode cannot hold (see qr_uri).
    """
    return not any(c.islower() or c in "_~" for c in value)


def percent_encode(value: str, *, query: bool = False) -> str:
    """RFC 3986 §2.1 percent-encoding of an AI value for a DL path segment or query value.

    Every UTF-8 byte outside "unreserved" becomes %XX (upper-case hex); in a query value a
    space becomes "+" (as the syntax engine does), though CSET 82 has no space.
    """
    out = []
    for byte in value.encode("utf-8"):
        char = chr(byte)
        if char in URI_UNRESERVED:
            out.append(char)
        elif query and char == " ":
            out.append("+")
        else:
            out.append("%" + _HEX[byte >> 4] + _HEX[byte & 0x0F])
    return "".join(out)


def percent_decode(text: str, *, query: bool = False) -> bytes:
    """Reverse percent-encoding as GS1's syntax engine does (dl.c URIunescape).

    "%" followed by two hex digits is one byte; any other "%" is literal. In a query
    value "+" is a space (HTML form encoding); in a path segment it is a literal "+".
    The caller checks the bytes against the AI's character set.
    """
    out = bytearray()
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "%" and index + 2 < length and _is_hex(text[index + 1 : index + 3]):
            out.append(int(text[index + 1 : index + 3], 16))
            index += 3
            continue
        out.extend(b" " if query and char == "+" else char.encode("utf-8"))
        index += 1
    return bytes(out)


def _is_hex(pair: str) -> bool:
    return len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair)
