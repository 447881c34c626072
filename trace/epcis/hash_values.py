"""Canonical value forms for the EPCIS Event Hash ID (CBV 2.0 §8.9, README rules 6, 8-9, 14-18).

Each function takes text as it appears in an EPCIS 2.0 JSON event and returns the text
that goes into the pre-hash string; see event_hash for the rule numbering.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from farmtrace.trace.epcis import cbv
from farmtrace.trace.epcis.epc_uri import canonical_gs1_uri
from farmtrace.trace.errors import EpcisInputError


def expand_bare_terms(event: Mapping[str, Any]) -> dict[str, Any]:
    """Rule 16: bare CBV terms -> Web URIs, in the fields whose JSON-LD type is @vocab."""
    out = dict(event)
    for key, table in (("bizStep", cbv.BIZ_STEP_URIS), ("disposition", cbv.DISPOSITION_URIS)):
        if key in out:
            out[key] = _term(out[key], table)
    persistent = out.get("persistentDisposition")
    if isinstance(persistent, Mapping):
        out["persistentDisposition"] = {
            k: _term(v, cbv.DISPOSITION_URIS) if k in ("set", "unset") else v for k, v in persistent.items()
        }
    for key, table in (
        ("bizTransactionList", cbv.BIZ_TRANSACTION_TYPE_URIS),
        ("sourceList", cbv.SOURCE_DESTINATION_TYPE_URIS),
        ("destinationList", cbv.SOURCE_DESTINATION_TYPE_URIS),
    ):
        if isinstance(out.get(key), list):
            out[key] = [_with_terms(item, {"type": table}) for item in out[key]]
    report_terms = {
        "type": cbv.MEASUREMENT_TYPE_URIS,
        "exception": cbv.SENSOR_ALERT_TYPE_URIS,
        "component": cbv.COMPONENT_URIS,
    }
    if isinstance(out.get("sensorElementList"), list):
        elements = []
        for element in out["sensorElementList"]:
            if isinstance(element, Mapping) and "sensorReport" in element:
                reports = element["sensorReport"]
                reports = reports if isinstance(reports, list) else [reports]
                element = {**element, "sensorReport": [_with_terms(r, report_terms) for r in reports]}
            elements.append(element)
        out["sensorElementList"] = elements
    return out


def _term(value: Any, table: Mapping[str, str]) -> Any:
    if isinstance(value, list):
        return [_term(v, table) for v in value]
    return table.get(value, value) if isinstance(value, str) else value


def _with_terms(item: Any, tables: Mapping[str, Mapping[str, str]]) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {k: _term(v, tables[k]) if k in tables else v for k, v in item.items()}


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def canonical_value(text: str) -> str:
    """Rules 6, 14, 17, 18: legacy CBV URN -> Web URI, numbers trimmed, GS1 ids as DL."""
    text = cbv.web_uri_of_legacy_urn(text)
    text = canonical_number(text)
    return canonical_gs1_uri(text) or text


def canonical_number(text: str) -> str:
    """Rule 6: a decimal number without a plus sign, leading or trailing zeros.

    Written as Python writes the double nearest to it, which is what the reference
    implementation and its vectors do ("26.0" -> "26", "0.050" -> "0.05"). Text that is
    not a plain decimal number is returned unchanged.
    """
    if _DECIMAL.fullmatch(text) is None:
        return text
    number = float(text)
    if not math.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<frac>\d+))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)"
)


def normalise_timestamp(field: str, text: str) -> str:
    """Rules 8-9: the instant in UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`.

    Digits beyond the microsecond are dropped and the microseconds rounded half to even
    to milliseconds, as the vectors were made (`.1415` -> `.142`, `.1425` -> `.142`).
    A time without a UTC offset names no instant and is refused.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise EpcisInputError(
            field, f"{field}: expected an RFC 3339 date-time with a UTC offset, found {text!r}"
        )
    micro = int((m["frac"] or "")[:6].ljust(6, "0"))
    millis, remainder = divmod(micro, 1000)
    if remainder > 500 or (remainder == 500 and millis % 2 == 1):
        millis += 1
    try:
        local = datetime.fromisoformat(f"{m['date']}T{m['h']}:{m['m']}:{m['s'] or '00'}")
        offset = _utc_offset(m["tz"])
        instant = (local.replace(tzinfo=offset) + timedelta(milliseconds=millis)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise EpcisInputError(field, f"{field}: {text!r} is not a valid date-time ({exc})") from exc
    return instant.strftime("%Y-%m-%dT%H:%M:%S") + f".{instant.microsecond // 1000:03d}Z"


def _utc_offset(tz: str) -> timezone:
    if tz in ("Z", "z"):
        return UTC
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if tz[0] == "-" else delta)
