"""The EPCIS 2.0 event data model as farmtrace fills it in (EPCIS 2.0 §7.3-§7.4).

Frozen values: the domain layer builds them, document.build_document turns them into
JSON-LD. Times must carry a UTC offset; identifiers are absolute URIs (identifiers.py
makes ours); extension and ILMD fields are plain local names placed in the `ft` namespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeAlias

Number: TypeAlias = int | float | Decimal
ExtensionValue: TypeAlias = (
    str
    | int
    | float
    | bool
    | Decimal
    | date
    | datetime
    | Mapping[str, "ExtensionValue"]
    | Sequence["ExtensionValue"]
)


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
