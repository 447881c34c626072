"""Cursor pagination: newest first, stable while the record grows.

A list is ordered by a (time, id) key, descending. A page is `limit` items plus the URL of
the next page, in the body (`next`) and in a `Link: <...>; rel="next"` header (RFC 8288).
The cursor is the last item's key, opaque to clients (base64url JSON); items recorded
after the first page never shift the pages that follow, unlike page numbers would.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from farmtrace.web.api.errors import BadCursor


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str, kinds: Sequence[type]) -> list[Any]:
    """The key values in `text`, each of the type in `kinds` (datetime, str or int)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadCursor(
            "cursor: not a cursor this API issued; follow the `next` link unchanged", "cursor"
        ) from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise BadCursor("cursor: not a cursor this API issued; follow the `next` link unchanged", "cursor")
    out: list[Any] = []
    for value, kind in zip(values, kinds, strict=True):
        try:
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                out.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
            elif (kind is int and isinstance(value, int) and not isinstance(value, bool)) or (
                kind is str and isinstance(value, str)
            ):
                out.append(value)
            else:
                raise ValueError(value)
        except (TypeError, ValueError):
            raise BadCursor(
                "cursor: not a cursor this API issued; follow the `next` link unchanged", "cursor"
            ) from None
    return out


def keyset_page(
    session: Session,
    query: Select[Any],
    key: Sequence[InstrumentedAttribute[Any]],
    kinds: Sequence[type],
    limit: int,
    cursor: str | None,
    key_of: Callable[[Any], Sequence[Any]] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of `query` ordered by `key` descending, after `cursor`; and the next cursor.

    `key_of` reads the key from a result row; by default the key columns' attributes.
    """
    if cursor:
        last = decode_cursor(cursor, kinds)
        # SQLite stores timezone-aware datetimes as naive UTC text; compare like with like.
        naive = session.get_bind().dialect.name == "sqlite"
        last = [
            v.astimezone(UTC).replace(tzinfo=None) if naive and isinstance(v, datetime) else v for v in last
        ]
        clauses = []
        for i, column in enumerate(key):
            equal = [key[j] == last[j] for j in range(i)]
            clauses.append(and_(*equal, column < last[i]))
        query = query.where(or_(*clauses))
    query = query.order_by(*(column.desc() for column in key)).limit(limit + 1)
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last_row = rows[-1]
    return rows, encode_cursor(key_of(last_row) if key_of else [getattr(last_row, c.key) for c in key])


def db_time(session: Session, moment: datetime) -> datetime:
    """`moment` as the database compares it: SQLite stores aware times as naive UTC text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if session.get_bind().dialect.name == "sqlite":
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def time_filters(
    session: Session, query: Select[Any], column: InstrumentedAttribute[Any], args: dict[str, Any]
) -> Select[Any]:
    """Apply the `since` (inclusive) and `until` (exclusive) query arguments to `column`."""
    if args.get("since") is not None:
        query = query.where(column >= db_time(session, args["since"]))
    if args.get("until") is not None:
        query = query.where(column < db_time(session, args["until"]))
    return query


def next_url(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    args = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    args.append(("cursor", cursor))
    return f"{request.path}?{urlencode(args)}"


def page(items: list[Any], cursor: str | None) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A view's return value for a page schema (see schemas.common.page_schema)."""
    url = next_url(cursor)
    headers = {"Link": f'<{url}>; rel="next"'} if url is not None else {}
    return {"items": items, "next": url}, 200, headers
