"""Sale of (part of) a batch through a channel, with the order reference."""

from __future__ import annotations

import re

from farmtrace.trace.events.fields import Choice, Pattern, PlaceRef, Quantity, Text
from farmtrace.trace.events.schema import PayloadSchema
from farmtrace.trace.units import QUANTITY_UNITS

SALE_CHANNELS = ("shop", "ecommerce", "livestream", "wholesale", "market", "canteen")
ORDER_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")


class SaleSchema(PayloadSchema):
    channel = Choice(SALE_CHANNELS, required=True)
    order_reference = Pattern(
        ORDER_REFERENCE,
        "an order reference of 1-64 letters, digits, '.', '_', ':', '/' or '-'",
        required=True,
    )
    quantity = Quantity(required=True)
    unit = Choice(tuple(QUANTITY_UNITS), required=True)
    place = PlaceRef()
    notes = Text(500)
