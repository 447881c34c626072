"""Loading a payload through its schema, and turning marshmallow's errors into SchemaInvalid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError

from farmtrace.trace.errors import SchemaInvalid
from farmtrace.trace.events.fields import jsonable
from farmtrace.trace.text import describe

# marshmallow's own messages, reworded to read after a field name like ours do.
_REWORDED = {
    "Missing data for required field.": "is required",
    "Unknown field.": "is not a known field",
    "Field may not be null.": "must not be null",
    "Invalid input type.": "expected an object",
    "Not a valid list.": "expected a list",
    "Not a valid mapping type.": "expected an object",
    "Invalid value.": "is not valid",
}


class PayloadSchema(Schema):
    """Base of every payload schema: unknown fields are refused, not silently dropped."""

    class Meta:
        unknown = RAISE


def load_payload(schema: Schema, data: object, prefix: str = "payload") -> dict[str, Any]:
    """`data` validated by `schema`, as signed JSON; SchemaInvalid names every bad field."""
    if not isinstance(data, Mapping):
        raise SchemaInvalid(
            prefix, f"{prefix}: expected an object, found {describe(data)}", {prefix: "expected an object"}
        )
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        errors = flatten_errors(exc.messages, prefix)
        field, reason = next(iter(errors.items()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaInvalid(field, f"{field}: {reason}{more}", errors) from None
    return jsonable(loaded)


def flatten_errors(messages: Any, prefix: str) -> dict[str, str]:
    """{"results": {0: {"unit": ["..."]}}} -> {"payload.results[0].unit": "..."}."""
    out: dict[str, str] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_errors(value, path))
    elif isinstance(messages, list | tuple):
        texts = [m for m in messages if isinstance(m, str)]
        nested = [m for m in messages if not isinstance(m, str)]
        if texts:
            out[prefix] = "; ".join(_REWORDED.get(text, text) for text in texts)
        for item in nested:
            out.update(flatten_errors(item, prefix))
    else:
        out[prefix] = _REWORDED.get(str(messages), str(messages))
    return out
