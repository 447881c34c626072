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

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from farmtrace.trace.epcis import cbv
from farmtrace.trace.epcis import json_values as jv
from farmtrace.trace.epcis.event_hash import EPCIS_CONTEXT_URL, event_hash_id, verify_event_hash_id
from farmtrace.trace.epcis.identifiers import farmtrace_namespace
from farmtrace.trace.epcis.interop import check_reference_hash_agreement
from farmtrace.trace.epcis.json_values import ACTIONS, CBVMDA_PREFIX, FT_PREFIX
from farmtrace.trace.epcis.model import (
    AggregationEvent,
    BizTransaction,
    Event,
    ObjectEvent,
    QuantityElement,
    SensorElement,
    SensorReport,
    SourceDestination,
    TransformationEvent,
)
from farmtrace.trace.errors import EpcisInputError

__all__ = [
    "ACTIONS",
    "AggregationEvent",
    "BizTransaction",
    "ObjectEvent",
    "QuantityElement",
    "SensorElement",
    "SensorReport",
    "SourceDestination",
    "TransformationEvent",
    "build_document",
    "event_json",
    "verify_document_event_ids",
]

SCHEMA_VERSION = "2.0"
CBVMDA_NAMESPACE = "urn:epcglobal:cbv:mda:"


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
    check_reference_hash_agreement(event_jsons)
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
        document["id"] = jv.uri("id", document_id)
    document.update(
        schemaVersion=SCHEMA_VERSION,
        creationDate=jv.timestamp("creationDate", created_at)[0],
        sender=jv.text("sender", sender),
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
    out["eventTime"], out["eventTimeZoneOffset"] = jv.timestamp("eventTime", event.event_time)
    if event.certification_info is not None:
        out["certificationInfo"] = jv.uri("certificationInfo", event.certification_info)
    if isinstance(event, ObjectEvent):
        _put_epcs(out, "epcList", event.epc_list)
        _put_quantities(out, "quantityList", event.quantity_list)
        if not event.epc_list and not event.quantity_list:
            raise EpcisInputError("epcList", "ObjectEvent: expected epc_list or quantity_list, found neither")
        out["action"] = jv.action(event.action)
    elif isinstance(event, AggregationEvent):
        if event.parent_id is not None:
            out["parentID"] = jv.uri("parentID", event.parent_id)
        _put_epcs(out, "childEPCs", event.child_epcs)
        _put_quantities(out, "childQuantityList", event.child_quantity_list)
        out["action"] = jv.action(event.action)
        if event.action != "DELETE" and not (event.child_epcs or event.child_quantity_list):
            raise EpcisInputError("childEPCs", "AggregationEvent: expected child_epcs or child_quantity_list")
    elif isinstance(event, TransformationEvent):
        _put_epcs(out, "inputEPCList", event.input_epc_list)
        _put_quantities(out, "inputQuantityList", event.input_quantity_list)
        _put_epcs(out, "outputEPCList", event.output_epc_list)
        _put_quantities(out, "outputQuantityList", event.output_quantity_list)
        if event.transformation_id is not None:
            out["transformationID"] = jv.uri("transformationID", event.transformation_id)
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
        out["readPoint"] = {"id": jv.uri("readPoint.id", event.read_point)}
    if event.biz_location is not None:
        out["bizLocation"] = {"id": jv.uri("bizLocation.id", event.biz_location)}
    if event.biz_transactions:
        out["bizTransactionList"] = [_biz_transaction(t) for t in event.biz_transactions]
    for key, parties in (("source", event.sources), ("destination", event.destinations)):
        if parties:
            out[key + "List"] = [
                {
                    "type": jv.term(f"{key}List.type", p.type, cbv.SOURCE_DESTINATION_TYPE_URIS),
                    key: jv.uri(key, p.id),
                }
                for p in parties
            ]
    if event.sensor_elements:
        out["sensorElementList"] = [_sensor_element(e) for e in event.sensor_elements]
    ilmd = getattr(event, "ilmd", None)
    if ilmd:
        out["ilmd"] = {jv.ilmd_key(k): jv.extension_value(f"ilmd.{k}", v) for k, v in ilmd.items()}
    for key, value in event.extensions.items():
        out[jv.ft_key("extensions", key)] = jv.extension_value(key, value)


def _put_epcs(out: dict[str, Any], key: str, epcs: tuple[str, ...]) -> None:
    if epcs:
        out[key] = [jv.uri(key, epc) for epc in epcs]


def _put_quantities(out: dict[str, Any], key: str, elements: tuple[QuantityElement, ...]) -> None:
    if not elements:
        return
    items = []
    for element in elements:
        item: dict[str, Any] = {"epcClass": jv.uri(f"{key}.epcClass", element.epc_class)}
        if element.quantity is not None:
            item["quantity"] = jv.number(f"{key}.quantity", element.quantity)
        if element.uom is not None:
            item["uom"] = jv.uom(f"{key}.uom", element.uom)
        items.append(item)
    out[key] = items


def _biz_transaction(transaction: BizTransaction) -> dict[str, str]:
    item = {}
    if transaction.type is not None:
        item["type"] = jv.term("bizTransactionList.type", transaction.type, cbv.BIZ_TRANSACTION_TYPE_URIS)
    item["bizTransaction"] = jv.uri("bizTransaction", transaction.id)
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
            metadata[key] = jv.timestamp(f"sensorMetadata.{key}", when)[0]
    for key, uri in (
        ("deviceID", element.device_id),
        ("deviceMetadata", element.device_metadata),
        ("rawData", element.raw_data),
        ("bizRules", element.biz_rules),
    ):
        if uri is not None:
            metadata[key] = jv.uri(f"sensorMetadata.{key}", uri)
    out: dict[str, Any] = {"sensorMetadata": metadata} if metadata else {}
    out["sensorReport"] = [_sensor_report(r) for r in element.reports]
    return out


def _sensor_report(report: SensorReport) -> dict[str, Any]:
    out: dict[str, Any] = {"type": jv.term("sensorReport.type", report.type, cbv.MEASUREMENT_TYPE_URIS)}
    if report.exception is not None:
        out["exception"] = jv.term("sensorReport.exception", report.exception, cbv.SENSOR_ALERT_TYPE_URIS)
    for key, uri in (
        ("deviceID", report.device_id),
        ("microorganism", report.microorganism),
        ("chemicalSubstance", report.chemical_substance),
    ):
        if uri is not None:
            out[key] = jv.uri(f"sensorReport.{key}", uri)
    if report.time is not None:
        out["time"] = jv.timestamp("sensorReport.time", report.time)[0]
    for key, number in (
        ("value", report.value),
        ("minValue", report.min_value),
        ("maxValue", report.max_value),
        ("meanValue", report.mean_value),
    ):
        if number is not None:
            out[key] = jv.number(f"sensorReport.{key}", number)
    if report.string_value is not None:
        out["stringValue"] = jv.text("sensorReport.stringValue", report.string_value)
    if report.uom is not None:
        out["uom"] = jv.uom("sensorReport.uom", report.uom)
    return out
