"""Small helpers the resource modules share: the JSON body, the actor, entry ids, docs."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar

from flask import g, request
from flask_smorest.utils import deepupdate
from marshmallow import RAISE, Schema, fields

from farmtrace.web.api import idempotency
from farmtrace.web.api.auth import current_principal

F = TypeVar("F", bound=Callable[..., Any])

# Lineage and recall services add ".in.N"/".out.N" suffixes within the ledger's 128.
CLIENT_ID_MAX = 110


# The largest id or sequence number a path or body may name: a 32-bit SQL INTEGER. Larger
# numbers name nothing (and PostgreSQL would refuse to compare them to the column).
MAX_ROW_NUMBER = 2**31 - 1


def row_number(value: int, field: str) -> int:
    """`value` if it can name a row; NotFound (naming `field`) if it cannot."""
    from farmtrace.trace.errors import NotFound

    if not 0 <= value <= MAX_ROW_NUMBER:
        raise NotFound(field, f"{field}: no {field} {value}")
    return value


def json_body() -> Any:
    """The request's JSON (415 if it is not JSON, 400 if it does not parse); validated by
    the domain's schemas, which name every bad field."""
    return request.get_json()


def json_object() -> dict[str, Any]:
    from farmtrace.trace.errors import InvalidInput

    data = json_body()
    if not isinstance(data, dict):
        raise InvalidInput("(body)", f"(body): expected a JSON object, found {type(data).__name__}")
    return data


class EventEnvelope(Schema):
    """What every event write carries around its payload; the payload is the domain's to check."""

    class Meta:
        unknown = RAISE

    event_time = fields.Raw(metadata={"description": "RFC 3339 with offset; default now"})
    payload = fields.Raw(required=True)


def envelope(data: Any = None, schema: type[Schema] = EventEnvelope) -> dict[str, Any]:
    """The body checked against `schema`'s fields (unknown ones refused); values left raw."""
    return schema().load(json_object() if data is None else data)


def body_is(prefix: str) -> None:
    """The body is the object the domain names `prefix` ("place.id"): errors say "id"."""
    g.api_body_prefix = prefix


def actor() -> str:
    """The organisation the request acts for: the one that owns its token."""
    return current_principal().org_id


def entry_id(suffix: str = "") -> str | None:
    """The ledger entry id for this write, derived from its Idempotency-Key (None without)."""
    principal = current_principal()
    return idempotency.client_id(principal.org_id, idempotency.current_key(), suffix, CLIENT_ID_MAX)


def request_body(schema: type[Schema] | Schema, description: str = "") -> Callable[[F], F]:
    """Document the JSON body as `schema` (the domain's), without parsing it here: the domain
    service validates it, so there is one set of rules and one set of messages."""

    def decorator(func: F) -> F:
        apidoc = deepcopy(getattr(func, "_apidoc", {}))
        body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": schema}}}
        if description:
            body["description"] = description
        apidoc["manual_doc"] = deepupdate(deepcopy(apidoc.get("manual_doc", {})), {"requestBody": body})
        func._apidoc = apidoc  # type: ignore[attr-defined]
        return func

    return decorator
