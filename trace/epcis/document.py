"""EPCIS 2.0 JSON-LD documents (EPCIS 2.0 §7 data model, §9 JSON/JSON-LD binding).

The domain layer describes what happened with the frozen dataclasses below and calls
`build_document`; every event leaves with its `eventID` set to its EPCIS Event Hash ID
(CBV 2.0 §8.9), computed from exactly the JSON that is emitted, so anyone holding the
document can recompute it (`verify_document_event_ids`).

farmtrace's own fields travel as user extensions in the namespace
`https://{domain}/ns/farmtrace/`, declared in the document's `@context` with the prefix
`ft`: the dataclasses take them as plain local names (`{"labReportNo": "..."}`) and the
builder writes `"ft:labReportNo"`. ILMD keys may also be CBV master-data attributes
written `cbvmda:<name>` (CBV 2.0 §8.x, e.g. `cbvmda:bestBeforeDate`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Union

from farmtrace.trace.epcis import cbv
from farmtrace.trace.epcis.event_hash import EPCIS_CONTEXT_URL, event_hash_id, verify_event_hash_id
from farmtrace.trace.epcis.identifiers import farmtrace_namespace
from farmtrace.trace.errors import EpcisInputError

SCHEMA_VERSION = "2.0"
FT_PREFIX = "ft"
CBVMDA_PREFIX = "cbvmda"
CBVMDA_NAMESPACE = "urn:epcglobal:cbv:mda:"
ACTIONS = ("ADD", "OBSERVE", "DELETE")

Number = Union[int, float, Decimal]
ExtensionValue = Union[
    str, int, float, bool, Decimal, date, datetime, Mapping[str, "ExtensionValue"], Sequence["ExtensionValue"]
]


@dataclass(frozen=True)
class QuantityElement:
    """EPCIS 2.0 §7.3.3.3: a quantity of an EPC class (a batch), `uom` a UN/ECE Rec 20 code."""

    epc_class: str
    quantity: Number | None = None
    uom: str | None = None


@dataclass(frozen=True)
class SensorReport:
    """EPCIS 2.0 §7.3.8.2: one measurement, `type` a GS1 measurement type (e.g. "Temperature")."""

    type: str
    value: Number | None = None
    uom: str | None = None
    time: datetime | None = None
    min_value: Number | None = None
    max_value: Number | None = None
    mean_value: Number | None = None
    exception: str | None = None
    device_id: str | None = None
    chemical_substance: str | None = None
    microorganism: str | None = None
    string_value: str | None = None


@dataclass(frozen=True)
class SensorElement:
    """EPCIS 2.0 §7.3.8: reports of one device (or one reading time) with their metadata."""

    reports: tuple[SensorReport, ...]
    time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    device_id: str | None = None
    device_metadata: str | None = None
    raw_data: str | None = None
    biz_rules: str | None = None


@dataclass(frozen=True)
class BizTransaction:
    """EPCIS 2.0 §7.3.5.4: a business document, `type` a CBV type such as "po" or "testres"."""

    id: str
    type: str | None = None


@dataclass(frozen=True)
class SourceDestination:
    """EPCIS 2.0 §7.3.5.5: a party or place, `type` "owning_party", "possessing_party" or "location"."""

    type: str
    id: str


@dataclass(frozen=True, kw_only=True)
class _Event:
    event_time: datetime
    biz_step: str | None = None
    disposition: str | None = None
    persistent_disposition_set: tuple[str, ...] = ()
    persistent_disposition_unset: tuple[str, ...] = ()
    read_point: str | None = None
    biz_location: str | None = None
    biz_transactions: tuple[BizTransaction, ...] = ()
    sources: tuple[SourceDestination, ...] = ()
    destinations: tuple[SourceDestination, ...] = ()
    sensor_elements: tuple[SensorElement, ...] = ()
    certification_info: str | None = None
    extensions: Mapping[str, ExtensionValue] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ObjectEvent(_Event):
    """EPCIS 2.0 §7.4.2: something happened to items (`epc_list`) or batches (`quantity_list`)."""

    action: str
    epc_list: tuple[str, ...] = ()
    quantity_list: tuple[QuantityElement, ...] = ()
    ilmd: Mapping[str, ExtensionValue] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AggregationEvent(_Event):
    """EPCIS 2.0 §7.4.3: children put into (ADD) or taken out of (DELETE) a parent."""

    action: str
    parent_id: str | None = None
    child_epcs: tuple[str, ...] = ()
    child_quantity_list: tuple[QuantityElement, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TransformationEvent(_Event):
    """EPCIS 2.0 §7.4.6: inputs consumed, outputs produced (split, merge, processing)."""

    input_epc_list: tuple[str, ...] = ()
    input_quantity_list: tuple[QuantityElement, ...] = ()
    output_epc_list: tuple[str, ...] = ()
    output_quantity_list: tuple[QuantityElement, ...] = ()
    transformation_id: str | None = None
    ilmd: Mapping[str, ExtensionValue] = field(default_factory=dict)


Event = ObjectEvent | AggregationEvent | TransformationEvent


def build_document(
    events: Sequence[Event],
    sender: str,
    created_at: datetime,
    *,
    domain: str,
    document_id: str | None = None,
) -> dict[str, Any]:
    """An EPCISDocument holding `events`, each with its EPCIS Event Hash ID as `eventID`.

    `sender` names the sending party (written to the document's `sender`), `domain` is
    our resolver's host, which fixes the `ft` namespace.
    """
    event_jsons = [event_json(event) for event in events]
    prefixes = {FT_PREFIX: farmtrace_namespace(domain)}
    if any(key.startswith(CBVMDA_PREFIX + ":") for e in event_jsons for key in e.get("ilmd", {})):
        prefixes[CBVMDA_PREFIX] = CBVMDA_NAMESPACE
    context: list[Any] = [EPCIS_CONTEXT_URL, prefixes]
    event_list = []
    for body in event_jsons:
        event_id = event_hash_id(body, context)
        event_list.append({"type": body["type"], "eventID": event_id, **body})
    document: dict[str, Any] = {"@context": context, "type": "EPCISDocument"}
    if document_id is not None:
        document["id"] = _uri("id", document_id)
    document.update(
        schemaVersion=SCHEMA_VERSION,
        creationDate=_timestamp("creationDate", created_at)[0],
        sender=_text("sender", sender),
        epcisBody={"eventList": event_list},
    )
    return document


def verify_document_event_ids(document: Mapping[str, Any]) -> None:
    """Raise EventHashMismatch unless every event's eventID is its Event Hash ID."""
    for event in document["epcisBody"]["eventList"]:
        verify_event_hash_id(event, document["@context"])


def event_json(event: Event) -> dict[str, Any]:
    """One event in the EPCIS 2.0 JSON binding, without eventID; raises EpcisInputError."""
    out: dict[str, Any] = {"type": type(event).__name__}
    out["eventTime"], out["eventTimeZoneOffset"] = _timestamp("eventTime", event.event_time)
    if event.certification_info is not None:
        out["certificationInfo"] = _uri("certificationInfo", event.certification_info)
    if isinstance(event, ObjectEvent):
        _put_epcs(out, "epcList", event.epc_list)
        _put_quantities(out, "quantityList", event.quantity_list)
        if not event.epc_list and not event.quantity_list:
            raise EpcisInputError("epcList", "ObjectEvent: expected epc_list or quantity_list, found neither")
        out["action"] = _action(event.action)
    elif isinstance(event, AggregationEvent):
        if event.parent_id is not None:
            out["parentID"] = _uri("parentID", event.parent_id)
        _put_epcs(out, "childEPCs", event.child_epcs)
        _put_quantities(out, "childQuantityList", event.child_quantity_list)
        out["action"] = _action(event.action)
        if event.action != "DELETE" and not (event.child_epcs or event.child_quantity_list):
            raise EpcisInputError("childEPCs", "AggregationEvent: expected child_epcs or child_quantity_list")
    elif isinstance(event, TransformationEvent):
        _put_epcs(out, "inputEPCList", event.input_epc_list)
        _put_quantities(out, "inputQuantityList", event.input_quantity_list)
        _put_epcs(out, "outputEPCList", event.output_epc_list)
        _put_quantities(out, "outputQuantityList", event.output_quantity_list)
        if event.transformation_id is not None:
            out["transformationID"] = _uri("transformationID", event.transformation_id)
        has_input = bool(event.input_epc_list or event.input_quantity_list)
        has_output = bool(event.output_epc_list or event.output_quantity_list)
        if not (has_input and has_output) and not ((has_input or has_output) and event.transformation_id):
            raise EpcisInputError(
                "inputQuantityList",
                "TransformationEvent: expected inputs and outputs (or one side and a transformation_id)",
            )
    else:
        raise EpcisInputError(
            "type", f"expected an ObjectEvent, AggregationEvent or TransformationEvent, found {event!r}"
        )
    _put_common(out, event)
    return out


def _put_common(out: dict[str, Any], event: Event) -> None:
    if event.biz_step is not None:
        out["bizStep"] = cbv.biz_step_value(event.biz_step)
    if event.disposition is not None:
        out["disposition"] = cbv.disposition_value(event.disposition)
    persistent = {}
    for key, terms in (
        ("set", event.persistent_disposition_set),
        ("unset", event.persistent_disposition_unset),
    ):
        if terms:
            persistent[key] = [cbv.disposition_value(term) for term in terms]
    if persistent:
        out["persistentDisposition"] = persistent
    if event.read_point is not None:
        out["readPoint"] = {"id": _uri("readPoint.id", event.read_point)}
    if event.biz_location is not None:
        out["bizLocation"] = {"id": _uri("bizLocation.id", event.biz_location)}
    if event.biz_transactions:
        out["bizTransactionList"] = [_biz_transaction(t) for t in event.biz_transactions]
    for key, parties in (("source", event.sources), ("destination", event.destinations)):
        if parties:
            out[key + "List"] = [
                {
                    "type": _term(f"{key}List.type", p.type, cbv.SOURCE_DESTINATION_TYPE_URIS),
                    key: _uri(key, p.id),
                }
                for p in parties
            ]
    if event.sensor_elements:
        out["sensorElementList"] = [_sensor_element(e) for e in event.sensor_elements]
    ilmd = getattr(event, "ilmd", None)
    if ilmd:
        out["ilmd"] = {_ilmd_key(k): _extension_value(f"ilmd.{k}", v) for k, v in ilmd.items()}
    for key, value in event.extensions.items():
        out[_ft_key("extensions", key)] = _extension_value(key, value)


def _put_epcs(out: dict[str, Any], key: str, epcs: tuple[str, ...]) -> None:
    if epcs:
        out[key] = [_uri(key, epc) for epc in epcs]


def _put_quantities(out: dict[str, Any], key: str, elements: tuple[QuantityElement, ...]) -> None:
    if not elements:
        return
    items = []
    for element in elements:
        item: dict[str, Any] = {"epcClass": _uri(f"{key}.epcClass", element.epc_class)}
        if element.quantity is not None:
            item["quantity"] = _number(f"{key}.quantity", element.quantity)
        if element.uom is not None:
            item["uom"] = _uom(f"{key}.uom", element.uom)
        items.append(item)
    out[key] = items


def _biz_transaction(transaction: BizTransaction) -> dict[str, str]:
    item = {}
    if transaction.type is not None:
        item["type"] = _term("bizTransactionList.type", transaction.type, cbv.BIZ_TRANSACTION_TYPE_URIS)
    item["bizTransaction"] = _uri("bizTransaction", transaction.id)
    return item


def _sensor_element(element: SensorElement) -> dict[str, Any]:
    if not element.reports:
        raise EpcisInputError(
            "sensorReport", "sensorElement: expected at least one sensor report, found none"
        )
    metadata: dict[str, Any] = {}
    for key, when in (
        ("time", element.time),
        ("startTime", element.start_time),
        ("endTime", element.end_time),
    ):
        if when is not None:
            metadata[key] = _timestamp(f"sensorMetadata.{key}", when)[0]
    for key, uri in (
        ("deviceID", element.device_id),
        ("deviceMetadata", element.device_metadata),
        ("rawData", element.raw_data),
        ("bizRules", element.biz_rules),
    ):
        if uri is not None:
            metadata[key] = _uri(f"sensorMetadata.{key}", uri)
    out: dict[str, Any] = {"sensorMetadata": metadata} if metadata else {}
    out["sensorReport"] = [_sensor_report(r) for r in element.reports]
    return out


def _sensor_report(report: SensorReport) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _term("sensorReport.type", report.type, cbv.MEASUREMENT_TYPE_URIS)}
    if report.exception is not None:
        out["exception"] = _term("sensorReport.exception", report.exception, cbv.SENSOR_ALERT_TYPE_URIS)
    for key, uri in (
        ("deviceID", report.device_id),
        ("microorganism", report.microorganism),
        ("chemicalSubstance", report.chemical_substance),
    ):
        if uri is not None:
            out[key] = _uri(f"sensorReport.{key}", uri)
    if report.time is not None:
        out["time"] = _timestamp("sensorReport.time", report.time)[0]
    for key, number in (
        ("value", report.value),
        ("minValue", report.min_value),
        ("maxValue", report.max_value),
        ("meanValue", report.mean_value),
    ):
        if number is not None:
            out[key] = _number(f"sensorReport.{key}", number)
    if report.string_value is not None:
        out["stringValue"] = _text("sensorReport.stringValue", report.string_value)
    if report.uom is not None:
        out["uom"] = _uom("sensorReport.uom", report.uom)
    return out


# --- values ---------------------------------------------------------------------------

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_LOCAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_UOM = re.compile(r"[A-Z0-9]{2,3}")
_OFFSET_LIMIT_MINUTES = 14 * 60


def _timestamp(field: str, when: datetime) -> tuple[str, str]:
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


def _uri(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.isascii() or _SCHEME.fullmatch(value) is None:
        raise EpcisInputError(field, f"{field}: expected an absolute ASCII URI, found {value!r}")
    return value


def _text(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EpcisInputError(field, f"{field}: expected non-empty text, found {value!r}")
    return value


def _number(field: str, value: Number) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise EpcisInputError(field, f"{field}: expected a number, found {value!r}")
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise EpcisInputError(field, f"{field}: expected a finite number, found {value!r}")
    return int(number) if isinstance(value, Decimal) and value == value.to_integral_value() else number


def _uom(field: str, value: str) -> str:
    if not isinstance(value, str) or _UOM.fullmatch(value) is None:
        raise EpcisInputError(
            field, f"{field}: expected a UN/ECE Rec 20 unit code like 'KGM', found {value!r}"
        )
    return value


def _action(value: str) -> str:
    if value not in ACTIONS:
        raise EpcisInputError("action", f"action: expected one of {', '.join(ACTIONS)}, found {value!r}")
    return value


def _term(field: str, value: str, table: Mapping[str, str]) -> str:
    """A bare CBV/GS1 term, or a private vocabulary URI (EPCIS 2.0 §7.2)."""
    if value in table or (isinstance(value, str) and ":" in value and _SCHEME.fullmatch(value)):
        return value
    raise EpcisInputError(
        field, f"{field}: expected a standard term (e.g. {next(iter(table))!r}) or a URI, found {value!r}"
    )


def _ft_key(field: str, name: str) -> str:
    if not isinstance(name, str) or _LOCAL_NAME.fullmatch(name) is None:
        raise EpcisInputError(
            field, f"{field}: expected an extension name like 'labReportNo', found {name!r}"
        )
    return f"{FT_PREFIX}:{name}"


def _ilmd_key(name: str) -> str:
    prefix, colon, local = name.partition(":")
    if colon and prefix == CBVMDA_PREFIX and _LOCAL_NAME.fullmatch(local):
        return name
    return _ft_key("ilmd", name)


def _extension_value(field: str, value: Any) -> Any:
    """Extension content in JSON: objects get `ft:` keys; no nulls, no nested arrays."""
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | Decimal):
        return _number(field, value)
    if isinstance(value, datetime):
        return _timestamp(field, value)[0]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {_ft_key(field, k): _extension_value(f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if any(isinstance(item, list | tuple) for item in value):
            raise EpcisInputError(
                field, f"{field}: expected a list of values or objects, found a nested list"
            )
        return [_extension_value(field, item) for item in value]
    raise EpcisInputError(
        field, f"{field}: expected text, a number, a date, an object or a list, found {value!r}"
    )
