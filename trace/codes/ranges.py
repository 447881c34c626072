"""Reading a batch's code ranges: all of them in code order (or one, checked to be the
batch's), the key a range's serials were made with, and the URI prefix all its codes share."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.errors import InvalidInput, NotFound
from farmtrace.trace.gs1.qr_uri import qr_uri
from farmtrace.trace.serials import SerialKey, SerialKeyring, make_serial


def batch_ranges(session: Session, batch_id: str, range_id: int | None = None) -> list[CodeRange]:
    """The batch's code ranges in code-number order; with `range_id`, only that one, or
    NotFound when the batch has no such range."""
    query = select(CodeRange).where(CodeRange.batch_id == batch_id).order_by(CodeRange.first_n)
    if range_id is not None:
        query = query.where(CodeRange.id == range_id)
    ranges = list(session.scalars(query))
    if range_id is not None and not ranges:
        raise NotFound("range", f"range: batch {batch_id} has no code range {range_id!r}")
    return ranges


def range_key(keyring: SerialKeyring, rng: CodeRange) -> SerialKey:
    """The key a range's serials were made with, or InvalidInput when it is retired or missing."""
    key = keyring.get(rng.key_id)
    if key is None:
        raise InvalidInput(
            "range", f"range: the serial key {rng.key_id} of range {rng.id} is retired or missing"
        )
    return key


def uri_prefix(domain: str, key: SerialKey, first_n: int, gtin: str | None, lot: str) -> str:
    """What every URI of a range starts with: each is this prefix plus the code's serial (all
    serials of a range have the same length and letter case). The lot is in the URI only with a
    GTIN."""
    first = make_serial(key, first_n)
    uri = qr_uri(domain, first, gtin=gtin, lot=lot if gtin else None)
    assert uri.endswith(first)
    return uri[: -len(first)]
