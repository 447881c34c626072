"""Schemas every resource shares: problems, pages, entries as the ledger stores them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import INCLUDE, Schema, fields, validate


class FieldErrorSchema(Schema):
    field = fields.String(
        required=True, metadata={"description": "Dotted path of the input, e.g. payload.dose"}
    )
    message = fields.String(required=True)
    in_ = fields.String(data_key="in", metadata={"description": "body, query, path or header"})


class ProblemSchema(Schema):
    """RFC 9457 problem details, with `errors` naming each offending field."""

    class Meta:
        unknown = INCLUDE  # RFC 9457 §3.2: problem types may add members

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
    rule = fields.String(metadata={"description": "Stable code of the domain rule that refused the write"})
    scope = fields.String(metadata={"description": "The scope the token lacks"})


class PageQuerySchema(Schema):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Items per page (1-500)"},
    )
    cursor = fields.String(
        validate=validate.Length(max=300),
        metadata={"description": "Opaque; from the previous page's `next` link"},
    )


class TimeRangeQuerySchema(PageQuerySchema):
    since = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "Only items at or after this time (RFC 3339)"}
    )
    until = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "Only items before this time"}
    )


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """{"items": [...], "next": url or null}: one page of a list, newest first."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next": fields.String(
                required=True, allow_none=True, metadata={"description": "URL of the next page, or null"}
            ),
        },
        name=name,
    )


class EntrySchema(Schema):
    """A stored ledger entry: its fields (as signed), the signature and the entry hash."""

    entry = fields.Dict(required=True, metadata={"description": "The entry's fields (docs/ledger-format.md)"})
    signature = fields.String(required=True, metadata={"description": "Ed25519 signature, base64"})
    hash = fields.String(
        required=True, metadata={"description": "RFC 6962 leaf hash of the canonical entry, base64"}
    )


class Timestamp(fields.DateTime):
    """An RFC 3339 time with offset; SQLite hands back naive UTC, which is made aware here."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def nullable_string(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, required=True, **kwargs)
