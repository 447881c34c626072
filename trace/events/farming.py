"""Farming work on the owner's batch: inputs (pesticide, fertiliser), harvest, processing."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, validates_schema

from farmtrace.trace.events.fields import Choice, DecimalText, PlaceRef, Quantity, Text, WholeNumber
from farmtrace.trace.events.schema import PayloadSchema
from farmtrace.trace.units import DOSE_UNITS, QUANTITY_UNITS

INPUT_KINDS = ("pesticide", "fertiliser")
# 农药登记证号: PD (full), LS (temporary), WP (sanitary use) + digits, older ones with "-n".
PESTICIDE_REGISTRATION = re.compile(r"(PD|LS|WP|WL)\d{5,9}(-\d{1,3})?\Z")


class FarmingInputSchema(PayloadSchema):
    kind = Choice(INPUT_KINDS, required=True)
    product_name = Text(100, required=True)
    registration_number = Text(64)
    active_ingredient = Text(100)
    dose = DecimalText(minimum=0, min_inclusive=False, maximum=100000, required=True)
    dose_unit = Choice(DOSE_UNITS, required=True)
    pre_harvest_interval_days = WholeNumber(minimum=0, maximum=365)
    place = PlaceRef()
    area_mu = DecimalText(minimum=0, min_inclusive=False, maximum=10**6)
    notes = Text(500)

    @validates_schema
    def _pesticide_details(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("kind") != "pesticide":
            return
        errors: dict[str, str] = {}
        for name in ("registration_number", "active_ingredient", "pre_harvest_interval_days"):
            if data.get(name) is None:
                errors[name] = "is required for a pesticide"
        number = data.get("registration_number")
        if number is not None and not PESTICIDE_REGISTRATION.match(number):
            errors["registration_number"] = (
                f"expected a pesticide registration number like 'PD20080123', found {number!r}"
            )
        if errors:
            raise ValidationError(errors)


class HarvestSchema(PayloadSchema):
    quantity = Quantity(required=True)
    unit = Choice(tuple(QUANTITY_UNITS), required=True)
    place = PlaceRef()
    notes = Text(500)


class ProcessingSchema(PayloadSchema):
    """A step that keeps the batch's identity (washing, drying, salting, distilling, milling)."""

    step = Text(64, required=True)
    description = Text(500)
    place = PlaceRef()
    loss_quantity = Quantity()
    loss_unit = Choice(tuple(QUANTITY_UNITS))

    @validates_schema
    def _loss_has_unit(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("loss_quantity") is None) != (data.get("loss_unit") is None):
            raise ValidationError({"loss_unit": "loss_quantity and loss_unit go together"})
