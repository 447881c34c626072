"""Checked conversions of Python values to EPCIS 2.0 JSON values, for the document builder.

Each raises EpcisInputError naming the EPCIS field, what was expected and what was found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from farmtrace.trace.epcis.model import Number
from farmtrace.trace.errors import EpcisInputError

FT_PREFIX = "ft"
CBVMDA_PREFIX = "cbvmda"
ACTIONS = ("ADD", "OBSERVE", "DELETE")

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_LOCAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_UOM = re.compile(r"[A-Z0-9]{2,3}")
_OFFSET_LIMIT_MINUTES = 14 * 60


def timestamp(field: str, when: datetime) -> tuple[str, str]:
    """RFC 3339 text at millisecond precision and its offset (EPCIS 2.0 §7.3.1, §7.4.1)."""
    if not isinstance(when, datetime):
        raise EpcisInputError(field, f"{field}: expected a datetime, found {when!r}")
    offset = when.utcoffset()
    if offset is None:
        raise EpcisInputError(
            field, f"{field}: expected a datetime with a UTC offset, found naive {when.isoformat()}"
        )
    seconds = int(offset.total_seconds())
    if seconds % 60 or abs(seconds) > _OFFSET_LIMIT_MINUTES * 60:
        raise EpcisInputError(
            field, f"{field}: expected a whole-minute UTC offset within ±14:00, found {offset}"
        )
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return when.isoformat(timespec="milliseconds"), f"{sign}{hours:02d}:{minutes:02d}"


def uri(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.isascii() or _SCHEME.fullmatch(value) is None:
        raise EpcisInputError(field, f"{field}: expected an absolute ASCII URI, found {value!r}")
    return value


def text(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EpcisInputError(field, f"{field}: expected non-empty text, found {value!r}")
    return value


def number(field: str, value: Number) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise EpcisInputError(field, f"{field}: expected a number, found {value!r}")
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise EpcisInputError(field, f"{field}: expected a finite number, found {value!r}")
    return int(number) if isinstance(value, Decimal) and value == value.to_integral_value() else number


def uom(field: str, value: str) -> str:
    if not isinstance(value, str) or _UOM.fullmatch(value) is None:
        raise EpcisInputError(
            field, f"{field}: expected a UN/ECE Rec 20 unit code like 'KGM', found {value!r}"
        )
    return value


def action(value: str) -> str:
    if value not in ACTIONS:
        raise EpcisInputError("action", f"action: expected one of {', '.join(ACTIONS)}, found {value!r}")
    return value


def term(field: str, value: str, table: Mapping[str, str]) -> str:
    """A bare CBV/GS1 term, or a private vocabulary URI (EPCIS 2.0 §7.2)."""
    if value in table or (isinstance(value, str) and ":" in value and _SCHEME.fullmatch(value)):
        return value
    raise EpcisInputError(
        field, f"{field}: expected a standard term (e.g. {next(iter(table))!r}) or a URI, found {value!r}"
    )


def ft_key(field: str, name: str) -> str:
    if not isinstance(name, str) or _LOCAL_NAME.fullmatch(name) is None:
        raise EpcisInputError(
            field, f"{field}: expected an extension name like 'labReportNo', found {name!r}"
        )
    return f"{FT_PREFIX}:{name}"


def ilmd_key(name: str) -> str:
    prefix, colon, local = name.partition(":")
    if colon and prefix == CBVMDA_PREFIX and _LOCAL_NAME.fullmatch(local):
        return name
    return ft_key("ilmd", name)


def extension_value(field: str, value: Any) -> Any:
    """Extension content in JSON: objects get `ft:` keys; no nulls, no nested arrays.

    No booleans either: the reference Event Hash ID implementation hashes a JSON boolean
    as Python spells it ("True"), where this one follows the XML binding ("true"), so the
    two would disagree on the event's ID.
    """
    if isinstance(value, bool):
        raise EpcisInputError(
            field, f"{field}: expected text such as 'true' instead of the boolean {value!r}"
        )
    if isinstance(value, str | int):
        return value
    if isinstance(value, float | Decimal):
        return number(field, value)
    if isinstance(value, datetime):
        return timestamp(field, value)[0]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {ft_key(field, k): extension_value(f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if any(isinstance(item, list | tuple) for item in value):
            raise EpcisInputError(
                field, f"{field}: expected a list of values or objects, found a nested list"
            )
        return [extension_value(field, item) for item in value]
    raise EpcisInputError(
        field, f"{field}: expected text, a number, a date, an object or a list, found {value!r}"
    )
