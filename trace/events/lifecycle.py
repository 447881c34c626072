"""Batch registration, lineage, recalls and corrections: the events services write themselves."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from farmtrace.trace.events.fields import (
    BatchRef,
    Choice,
    Day,
    ListOf,
    Lot,
    Pattern,
    PlaceRef,
    Quantity,
    Slug,
    Text,
    WholeNumber,
)
from farmtrace.trace.events.schema import PayloadSchema
from farmtrace.trace.units import QUANTITY_UNITS

OPERATION_ID = re.compile(r"L[0-9A-HJKMNP-TV-Z]{12}\Z")
RECALL_ID = re.compile(r"R[0-9A-HJKMNP-TV-Z]{12}\Z")
LINEAGE_KINDS = ("split", "merge", "transform")
CONFORMITY_STATES = ("untested", "conformant", "non_conformant")


def OperationRef(**kwargs: Any) -> Pattern:
    return Pattern(OPERATION_ID, "an operation id like 'L0123456789AB'", **kwargs)


def RecallRef(**kwargs: Any) -> Pattern:
    return Pattern(RECALL_ID, "a recall id like 'R0123456789AB'", **kwargs)


class InputSchema(PayloadSchema):
    batch = BatchRef(required=True)
    quantity = Quantity(required=True)
    unit = Choice(tuple(QUANTITY_UNITS), required=True)


class LineageSchema(PayloadSchema):
    """How an output batch was made: the operation, its kind and its inputs.

    `inputs` give, for a split, this output's part of the input; for a merge, what left each
    input; for a transform, what the operation took from each input in all (the same on each
    of its outputs). `shares` (a transform's, when the actor stated them) give how much of
    each input went into this output.
    """

    operation = OperationRef(required=True)
    kind = Choice(LINEAGE_KINDS, required=True)
    inputs = ListOf(fields.Nested(InputSchema), maximum=50, required=True)
    shares = ListOf(fields.Nested(InputSchema), maximum=50)
    conformity = Choice(CONFORMITY_STATES, required=True)


class BatchRegisteredSchema(PayloadSchema):
    product = Slug(required=True)
    lot = Lot(required=True)
    producers = ListOf(Slug(), minimum=0, maximum=50)
    origin_place = PlaceRef()
    unit = Choice(tuple(QUANTITY_UNITS), required=True)
    quantity = Quantity()
    expected_quantity = Quantity()
    production_date = Day()
    lineage = fields.Nested(LineageSchema)
    notes = Text(500)

    @validates_schema
    def _derived_batches_have_quantity(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("lineage") is not None and data.get("quantity") is None:
            raise ValidationError({"quantity": "is required for a batch made from other batches"})
        producers = data.get("producers") or []
        if len(set(producers)) != len(producers):
            raise ValidationError({"producers": "lists the same producer twice"})


class LineageOutSchema(PayloadSchema):
    """On an input batch: this much went into these output batches."""

    operation = OperationRef(required=True)
    outputs = ListOf(BatchRef(), maximum=100, required=True)
    quantity = Quantity(required=True)
    unit = Choice(tuple(QUANTITY_UNITS), required=True)


class RecallIssuedSchema(PayloadSchema):
    recall_id = RecallRef(required=True)
    origin = BatchRef(required=True)
    level = WholeNumber(minimum=1, maximum=3, required=True)  # 食品召回 一级/二级/三级
    reason = Text(500, required=True)


class RecallLiftedSchema(PayloadSchema):
    recall_id = RecallRef(required=True)
    reason = Text(500, required=True)


class CorrectionSchema(PayloadSchema):
    """Restates the payload of the amended entry (named by the entry's `amends`)."""

    reason = Text(500, required=True)
    payload = fields.Dict(required=True)
