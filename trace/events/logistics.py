"""Packing and logistics: pickup, warehouse in/out, hand-off, delivery, cold-chain readings."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from farmtrace.trace.events.fields import (
    Choice,
    DecimalText,
    ListOf,
    Moment,
    PlaceRef,
    Quantity,
    Slug,
    Text,
    WholeNumber,
)
from farmtrace.trace.events.schema import PayloadSchema
from farmtrace.trace.text import format_decimal
from farmtrace.trace.units import PACKAGE_KINDS, QUANTITY_UNITS, TEMPERATURE_MAX_C, TEMPERATURE_MIN_C

MAX_READINGS = 1000


class PackingSchema(PayloadSchema):
    packages = WholeNumber(minimum=1, maximum=1_000_000, required=True)
    package = Choice(PACKAGE_KINDS, required=True)
    net_quantity = Quantity(required=True)
    net_unit = Choice(tuple(QUANTITY_UNITS), required=True)
    place = PlaceRef()
    notes = Text(500)


class PickupSchema(PayloadSchema):
    carrier = Slug(required=True)
    place = PlaceRef(required=True)
    destination = PlaceRef()
    vehicle = Text(32)
    notes = Text(500)


class WarehouseInSchema(PayloadSchema):
    place = PlaceRef(required=True)
    notes = Text(500)


class WarehouseOutSchema(PayloadSchema):
    place = PlaceRef(required=True)
    destination = PlaceRef()
    notes = Text(500)


class HandoffSchema(PayloadSchema):
    to = Slug(required=True)
    place = PlaceRef(required=True)
    notes = Text(500)


class DeliverySchema(PayloadSchema):
    station = Slug(required=True)
    place = PlaceRef(required=True)
    notes = Text(500)


def Celsius(**kwargs: Any) -> DecimalText:
    return DecimalText(minimum=TEMPERATURE_MIN_C, maximum=TEMPERATURE_MAX_C, **kwargs)


class ReadingSchema(PayloadSchema):
    time = Moment(required=True)
    celsius = Celsius(required=True)


class TemperatureSchema(PayloadSchema):
    min_celsius = Celsius(required=True)
    max_celsius = Celsius(required=True)
    readings = ListOf(fields.Nested(ReadingSchema), maximum=MAX_READINGS, required=True)
    device = Text(64)
    place = PlaceRef()

    @validates_schema
    def _range(self, data: dict[str, Any], **kwargs: Any) -> None:
        low, high = data.get("min_celsius"), data.get("max_celsius")
        if low is not None and high is not None and high <= low:
            raise ValidationError(
                {
                    "max_celsius": f"must be greater than min_celsius {format_decimal(low)}, found {format_decimal(high)}"
                }
            )
