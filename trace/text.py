"""Checks for the text, identifiers, decimals and times that people and scripts send us.

Every check raises InvalidInput naming the field, so the API and the console can show the
reason next to the input. Length is checked before anything else, so a 10 MB "name" costs
one len() call and no regular expression.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from farmtrace.trace.errors import InvalidInput

# Ids of organisations, places and products: readable slugs, chosen once by the operator.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,47}\Z")
PLACE_ID = re.compile(r"[a-z0-9][a-z0-9.-]{1,63}\Z")
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_DECIMAL = re.compile(r"-?\d{1,15}(\.\d{1,6})?\Z")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


def control_character(value: str) -> int | None:
    """Index of the first control or format character (Unicode Cc, Cf, Cs, Co), or None.

    Tabs and newlines count too: every text we accept is a single line.
    """
    for index, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            return index
    return None


class Problem(Exception):
    """Why a value was refused, without the field name (callers add it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def in_field(field: str, check, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run a `check_*` function, turning its Problem into InvalidInput naming `field`."""
    try:
        return check(*args, **kwargs)
    except Problem as exc:
        raise InvalidInput(field, f"{field}: {exc.reason}") from None


def check_text(value: object, *, max_length: int = 200, required: bool = True) -> str:
    """`value` as NFC text without surrounding spaces, or Problem."""
    if not isinstance(value, str):
        raise Problem(f"expected text, found {describe(value)}")
    if len(value) > max_length * 4:  # before any per-character work on a huge value
        raise Problem(f"expected at most {max_length} characters, found {len(value)}")
    text = unicodedata.normalize("NFC", value).strip()
    bad = control_character(text)
    if bad is not None:
        raise Problem(f"contains the control character U+{ord(text[bad]):04X} at position {bad + 1}")
    if len(text) > max_length:
        raise Problem(f"expected at most {max_length} characters, found {len(text)}")
    if required and not text:
        raise Problem("must not be empty")
    return text


def check_pattern(value: object, pattern: re.Pattern[str], expected: str) -> str:
    if not isinstance(value, str) or len(value) > 200 or not pattern.match(value):
        raise Problem(f"expected {expected}, found {describe(value)}")
    return value


SLUG_EXPECTED = "2-48 lower-case letters, digits or '-', like 'coop-longcun'"
PLACE_EXPECTED = "2-64 lower-case letters, digits, '.' or '-', like 'wuhua.huacheng'"
CLIENT_ID_EXPECTED = "1-128 letters, digits, '.', '_', ':' or '-'"


def clean_text(field: str, value: object, *, max_length: int = 200, required: bool = True) -> str:
    return in_field(field, check_text, value, max_length=max_length, required=required)


def slug(field: str, value: object) -> str:
    return in_field(field, check_pattern, value, SLUG, SLUG_EXPECTED)


def place_id(field: str, value: object) -> str:
    return in_field(field, check_pattern, value, PLACE_ID, PLACE_EXPECTED)


def client_id(field: str, value: object) -> str:
    return in_field(field, check_pattern, value, CLIENT_ID, CLIENT_ID_EXPECTED)


def check_decimal(value: object) -> Decimal:
    """A decimal given as a string ("1.5") or an integer; never a float (JSON has no exact ones)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Problem(f'expected a decimal number as a string like "1.5", found {describe(value)}')
    text = str(value)
    if not _DECIMAL.match(text):
        raise Problem(f'expected a decimal number like "1.5", found {describe(text)}')
    try:
        return Decimal(text)
    except InvalidOperation:  # the pattern admits only valid decimals; be safe anyway
        raise Problem(f"expected a decimal number, found {describe(text)}") from None


def format_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros: 1.50 -> "1.5", 100 -> "100" (never "1E+2")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def check_moment(value: object) -> datetime:
    """An RFC 3339 date-time with a UTC offset, as a timezone-aware datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and 10 < len(value) <= 40 and "T" in value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Problem(
                f"expected a time like 2026-09-01T08:30:00+08:00, found {describe(value)}"
            ) from None
    else:
        raise Problem(f"expected a time like 2026-09-01T08:30:00+08:00, found {describe(value)}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Problem(f"{value!s} has no UTC offset; add one such as +08:00")
    return moment


def parse_moment(field: str, value: object) -> datetime:
    return in_field(field, check_moment, value)


def check_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Problem(f"expected a date like 2026-09-01, found {describe(value)}")


def describe(value: object) -> str:
    """A short, safe rendering of a refused value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"the number {value!r} (send decimals as strings)"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else f"text of {len(value)} characters"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def sha256_hex(field: str, value: object) -> str:
    return in_field(field, check_pattern, value, _SHA256_HEX, "64 lower-case hex digits (a SHA-256)")
