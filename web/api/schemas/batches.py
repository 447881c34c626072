"""Response schemas of batches, recorded events, lineage, recalls and code ranges."""

from __future__ import annotations

from marshmallow import Schema, fields

from farmtrace.web.api.schemas.common import Timestamp, nullable_string


class BatchSummaryOut(Schema):
    id = fields.String(required=True)
    product = fields.String(required=True)
    lot = fields.String(required=True)
    owner = fields.String(required=True)
    custodian = fields.String(required=True)
    quantity_in = fields.String(required=True, metadata={"description": "Decimal as text, in `unit`"})
    quantity_out = fields.String(required=True)
    unit = fields.String(required=True)
    conformity = fields.String(
        required=True, metadata={"description": "untested, conformant or non_conformant"}
    )
    recalled = fields.Boolean(required=True)
    flagged = fields.Boolean(
        required=True, metadata={"description": "Has warnings (pre-harvest interval, ...)"}
    )
    registered_at = Timestamp(required=True)


class BatchOut(BatchSummaryOut):
    """Everything the record says about a batch now (from the projections of its chain)."""

    product = fields.Dict(required=True, metadata={"description": "The product, with its certificates"})
    producers = fields.List(fields.Dict(), required=True)
    origin = fields.String(required=True, metadata={"description": "registered, split, merge or transform"})
    origin_place = nullable_string()
    location = nullable_string()
    production_date = nullable_string(metadata={"description": "YYYY-MM-DD"})
    packed_packages = fields.Integer(required=True)
    head_seq = fields.Integer(required=True, metadata={"description": "seq of the chain's latest entry"})
    flags = fields.List(fields.Dict(), required=True)
    recalls = fields.List(fields.Dict(), required=True)
    certificates = fields.List(fields.Dict(), required=True)
    lab_tests = fields.List(fields.Dict(), required=True)
    inputs = fields.List(
        fields.Dict(), required=True, metadata={"description": "Batches this one was made from"}
    )
    outputs = fields.List(
        fields.Dict(),
        required=True,
        metadata={
            "description": "Batches made from this one; an edge's quantity is null where the "
            "record does not say how much went into that batch"
        },
    )
    taken = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "What left this batch in each lineage operation (once per operation)"},
    )
    poverty_mark = fields.Boolean(required=True, metadata={"description": "Shows the 扶贫产品 mark"})
    proof_bundle = fields.String(required=True, metadata={"description": "URL of the batch's proof bundle"})
    epcis = fields.String(required=True, metadata={"description": "URL of the batch's EPCIS export"})


class RecordedEventOut(Schema):
    batch = fields.String(required=True)
    seq = fields.Integer(required=True)
    type = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "Entry hash, base64"})
    created = fields.Boolean(
        required=True, metadata={"description": "false: an earlier request with the same key recorded it"}
    )
    flags = fields.List(
        fields.String(), required=True, metadata={"description": "Warnings this event raised"}
    )
    entry = fields.Dict(required=True, metadata={"description": "The entry's fields as signed"})


class LineageResultOut(Schema):
    operation = fields.String(required=True)
    kind = fields.String(required=True)
    inputs = fields.List(fields.String(), required=True)
    outputs = fields.List(fields.String(), required=True)
    created = fields.Boolean(required=True)
    entries = fields.List(fields.Nested(RecordedEventOut), required=True)


class LineageEdgeOut(Schema):
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)
    kind = fields.String(required=True)
    operation = fields.String(required=True)
    quantity = nullable_string(
        metadata={
            "description": "How much of `from` went into `to`; null when the record does not say "
            "(a transform with several outputs and no stated shares: see `taken`)"
        }
    )
    unit = nullable_string()


class LineageTakeOut(Schema):
    batch = fields.String(required=True, metadata={"description": "The input batch"})
    operation = fields.String(required=True)
    kind = fields.String(required=True)
    quantity = fields.String(required=True, metadata={"description": "What left the input in all"})
    unit = fields.String(required=True)
    outputs = fields.Integer(required=True, metadata={"description": "How many batches the operation made"})


class LineageGraphOut(Schema):
    batch = fields.String(required=True)
    nodes = fields.List(
        fields.String(), required=True, metadata={"description": "The batch, upstream, downstream"}
    )
    edges = fields.List(fields.Nested(LineageEdgeOut), required=True)
    taken = fields.List(
        fields.Nested(LineageTakeOut),
        required=True,
        metadata={"description": "What left each batch of the graph in each operation, once per input"},
    )


class RecallResultOut(Schema):
    recall_id = fields.String(required=True)
    origin = fields.String(required=True)
    batches = fields.List(
        fields.String(), required=True, metadata={"description": "Origin first, then downstream"}
    )
    created = fields.Boolean(required=True)
    entries = fields.List(fields.Nested(RecordedEventOut), required=True)


class RecallOut(Schema):
    recall_id = fields.String(required=True)
    batch = fields.String(required=True, attribute="batch_id")
    origin = fields.String(required=True, attribute="origin_batch_id")
    reason = fields.String(required=True)
    issued_by = fields.String(required=True)
    issued_at = Timestamp(required=True)
    lifted_at = Timestamp(required=True, allow_none=True)
