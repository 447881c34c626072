"""Canonical JSON for ledger entries: RFC 8785 (JCS) over the I-JSON subset (RFC 7493).

An entry's hash is computed over its canonical bytes, so two encoders must produce the
same bytes for the same value. JCS fixes key order, whitespace and string escaping; we
add restrictions so that no value depends on floating-point formatting:

- numbers are integers in the I-JSON safe range ±(2**53 - 1); floats are rejected
  entirely, including NaN and Infinity. Decimal quantities (a dose of 1.5 kg, a
  temperature of -18.5 °C) are carried as strings, e.g. ``"1.5"``;
- object keys are strings; strings are valid Unicode (no lone surrogates), so they have
  a UTF-8 encoding.

Errors name the JSON path of the offending value, e.g. ``payload.dose`` or
``events[2].temperature``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from farmtrace.ledger.errors import FormatError

# RFC 7493 §2.2 (I-JSON): integers beyond ±(2**53 - 1) lose precision in IEEE 754 doubles.
MAX_SAFE_INTEGER = 2**53 - 1
MIN_SAFE_INTEGER = -(2**53 - 1)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def canonical_bytes(obj: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of `obj`, after checking the rules above.

    Accepts dict (str keys), list, tuple, str, int, bool and None.
    """
    check_ledger_json(obj)
    try:
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - check_ledger_json is stricter
        raise FormatError(f"cannot canonicalize: {exc}") from None


def check_ledger_json(obj: object, path: str = "") -> None:
    """Raise FormatError naming the path of the first value canonical_bytes would refuse."""
    # Iterative walk: a hostile, deeply nested document must not exhaust the C stack.
    stack: list[tuple[object, str]] = [(obj, path)]
    while stack:
        value, where = stack.pop()
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            if not MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                raise FormatError(
                    f"{_show(where)}: integer {value} is outside the I-JSON safe range "
                    f"±(2**53 - 1); write large numbers as strings"
                )
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise FormatError(f"{_show(where)}: {value!r} is not a JSON number")
            raise FormatError(
                f"{_show(where)}: floating-point number {value!r} is not allowed in ledger JSON; "
                f'write decimals as strings, e.g. "12.5"'
            )
        elif isinstance(value, str):
            _check_unicode(value, where, "string")
        elif isinstance(value, (list, tuple)):
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], f"{where}[{index}]"))
        elif isinstance(value, dict):
            for key in reversed(list(value)):
                if not isinstance(key, str):
                    raise FormatError(
                        f"{_show(where)}: object key {key!r} has type {type(key).__name__}, expected str"
                    )
                _check_unicode(key, where, "object key")
                stack.append((value[key], _join(where, key)))
        else:
            raise FormatError(
                f"{_show(where)}: {type(value).__name__} is not a JSON value "
                f"(expected dict, list, str, int, bool or None)"
            )


def parse_json_strict(data: bytes) -> Any:
    """Parse UTF-8 JSON text that canonical_bytes will accept, refusing ambiguous input.

    Rejects: bytes that are not UTF-8 (including a byte-order mark), duplicate object
    keys, NaN/Infinity, numbers with a fraction or exponent, integers outside the safe
    range, lone surrogate escapes, and anything json.loads rejects. Errors carry the
    position (line, column, character offset) or the JSON path.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"JSON input: expected bytes, found {type(data).__name__}")
    raw = bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise FormatError("JSON input: starts with a UTF-8 byte-order mark; expected plain UTF-8")
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"JSON input: not valid UTF-8 at byte {exc.start} (byte 0x{raw[exc.start]:02x})"
        ) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_reject_float,
        )
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"JSON input: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
        ) from None
    except RecursionError:
        raise FormatError("JSON input: nested too deeply") from None
    except ValueError as exc:  # int() digit limit (sys.get_int_max_str_digits)
        raise FormatError(f"JSON input: {exc}") from None
    check_ledger_json(value)
    return value


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FormatError(f"JSON input: duplicate object key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise FormatError(f"JSON input: {name} is not a JSON number; not allowed in ledger JSON")


def _reject_float(text: str) -> Any:
    raise FormatError(
        f"JSON input: number {text} has a fraction or exponent; ledger JSON allows integers only "
        f'(write decimals as strings, e.g. "{text}")'
    )


def _check_unicode(text: str, where: str, what: str) -> None:
    try:
        text.encode("utf-8", errors="strict")
    except UnicodeEncodeError as exc:
        raise FormatError(
            f"{_show(where)}: {what} contains U+{ord(text[exc.start]):04X} at index {exc.start}, "
            f"a lone surrogate with no UTF-8 encoding"
        ) from None


def _join(where: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key, ensure_ascii=False)}]"


def _show(where: str) -> str:
    return where or "(top level)"
