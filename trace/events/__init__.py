"""Typed events: one marshmallow schema per entry type, with units and ranges.

`validate_payload(type, payload)` returns the payload as the JSON the ledger will sign,
or raises SchemaInvalid naming every bad field as `payload.<field>`.
"""

from __future__ import annotations

import functools
from typing import Any

from marshmallow import Schema

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import types as t
from farmtrace.trace.events.commerce import SaleSchema
from farmtrace.trace.events.farming import FarmingInputSchema, HarvestSchema, ProcessingSchema
from farmtrace.trace.events.lifecycle import (
    BatchRegisteredSchema,
    CorrectionSchema,
    LineageOutSchema,
    RecallIssuedSchema,
    RecallLiftedSchema,
)
from farmtrace.trace.events.logistics import (
    DeliverySchema,
    HandoffSchema,
    PackingSchema,
    PickupSchema,
    TemperatureSchema,
    WarehouseInSchema,
    WarehouseOutSchema,
)
from farmtrace.trace.events.quality import CertificationSchema, ConformitySchema, LabTestSchema
from farmtrace.trace.events.schema import load_payload

SCHEMAS: dict[str, type[Schema]] = {
    t.BATCH_REGISTERED: BatchRegisteredSchema,
    t.FARMING_INPUT: FarmingInputSchema,
    t.HARVESTED: HarvestSchema,
    t.PROCESSED: ProcessingSchema,
    t.LAB_TESTED: LabTestSchema,
    t.CERTIFICATION_ATTACHED: CertificationSchema,
    t.CONFORMITY_DECIDED: ConformitySchema,
    t.PACKED: PackingSchema,
    t.PICKED_UP: PickupSchema,
    t.WAREHOUSE_IN: WarehouseInSchema,
    t.WAREHOUSE_OUT: WarehouseOutSchema,
    t.HANDED_OFF: HandoffSchema,
    t.DELIVERED: DeliverySchema,
    t.TEMPERATURE: TemperatureSchema,
    t.SOLD: SaleSchema,
    t.RECALL_ISSUED: RecallIssuedSchema,
    t.RECALL_LIFTED: RecallLiftedSchema,
    t.CORRECTED: CorrectionSchema,
    t.SPLIT_OUT: LineageOutSchema,
    t.MERGED_OUT: LineageOutSchema,
    t.TRANSFORMED_OUT: LineageOutSchema,
}


def validate_payload(event_type: str, payload: object, prefix: str = "payload") -> dict[str, Any]:
    schema = SCHEMAS.get(event_type)
    if schema is None:
        raise InvalidInput(
            "type", f"type: unknown event type {event_type!r}; expected one of {', '.join(sorted(SCHEMAS))}"
        )
    return load_payload(_instance(schema), payload, prefix)


@functools.cache
def _instance(schema: type[Schema]) -> Schema:
    # One instance per schema: building one deep-copies its declared fields, which cost more
    # than loading a payload. Loading keeps no state on the instance (these schemas use no
    # context), so one instance serves every call.
    return schema()
