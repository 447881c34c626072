"""The few SQL expressions that differ between SQLite and PostgreSQL, for the report queries.

Ledger entries are stored as their canonical JSON bytes (ledger_entry.canonical); sales and
logistics hand-offs are read from there because no projection table holds them. Event times
in entries are RFC 3339 text with an offset ("2026-06-19T14:00:00+08:00"), so they are
compared as moments, never as text: SQLite's julianday() honours the offset (and keeps
milliseconds), PostgreSQL casts to timestamptz.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Float,
    Numeric,
    Text,
    case,
    cast,
    extract,
    func,
    literal,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from farmtrace.trace.units import QUANTITY_UNITS

SQLITE_B64DECODE = "farmtrace_b64decode"
REPORT_WORK_MEM = "64MB"


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def json_doc(dialect: str, canonical: Any) -> ColumnElement[Any]:
    """An entry's canonical bytes as a JSON document the path functions below accept."""
    if dialect == "postgresql":
        return cast(func.convert_from(canonical, "UTF8"), JSONB)
    return cast(canonical, Text)


def json_text(dialect: str, doc: Any, *path: str) -> ColumnElement[Any]:
    """The text at `path` in `doc` (a string member; NULL when absent)."""
    if dialect == "postgresql":
        return doc[path].astext if len(path) > 1 else doc[path[0]].astext
    return func.json_extract(doc, "$." + ".".join(path))


def moment_of_text(dialect: str, value: Any) -> ColumnElement[Any]:
    """An RFC 3339 time (with offset) as a value that orders and subtracts as a moment."""
    if dialect == "postgresql":
        return cast(value, TIMESTAMP(timezone=True))
    return func.julianday(value)


def moment_bound(dialect: str, moment: datetime) -> ColumnElement[Any]:
    """`moment` in the form moment_of_text produces, computed by the database the same way."""
    iso = moment.astimezone(UTC).isoformat()
    if dialect == "postgresql":
        return cast(literal(iso, Text), TIMESTAMP(timezone=True))
    return func.julianday(literal(iso, Text))


def column_bound(dialect: str, moment: datetime) -> datetime:
    """A bound for a DateTime(timezone=True) column: SQLite stores naive UTC text."""
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None) if dialect == "sqlite" else utc


def millis_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Whole milliseconds from `earlier` to `later` (both from moment_of_text)."""
    if dialect == "postgresql":
        return func.round(extract("epoch", later - earlier) * 1000)
    # julianday keeps integer milliseconds internally; rounding undoes the float division.
    return func.round((later - earlier) * 86_400_000.0)


def local_day_of_column(dialect: str, column: Any, offset_hours: float) -> ColumnElement[Any]:
    """The county's calendar day ('YYYY-MM-DD') of a DateTime(timezone=True) column."""
    if dialect == "postgresql":
        return func.to_char(column.op("AT TIME ZONE")(_pg_offset(offset_hours)), "YYYY-MM-DD")
    return func.date(column, _sqlite_offset(offset_hours))


def local_day_of_text(dialect: str, value: Any, offset_hours: float) -> ColumnElement[Any]:
    """The county's calendar day ('YYYY-MM-DD') of an RFC 3339 time in an entry."""
    if dialect == "postgresql":
        moment = cast(value, TIMESTAMP(timezone=True))
        return func.to_char(moment.op("AT TIME ZONE")(_pg_offset(offset_hours)), "YYYY-MM-DD")
    return func.date(value, _sqlite_offset(offset_hours))


def _pg_offset(hours: float) -> ColumnElement[Any]:
    minutes = round(hours * 60)
    sign = "+" if minutes >= 0 else "-"
    return literal_column(f"INTERVAL '{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}'")


def _sqlite_offset(hours: float) -> str:
    return f"{round(hours * 60):+d} minutes"


def decimal_of(dialect: str, value: Any) -> ColumnElement[Any]:
    """A decimal string as a number: exact NUMERIC on PostgreSQL, REAL (double) on SQLite."""
    return cast(value, Numeric) if dialect == "postgresql" else cast(value, Float)


def factor_to_base(unit: Any, dimension: str) -> ColumnElement[Any]:
    """The factor from `unit` to its dimension's base unit (kg, L), or NULL for other units."""
    whens = [
        (unit == name, literal_column(str(factor)))
        for name, (dim, factor) in QUANTITY_UNITS.items()
        if dim == dimension
    ]
    return case(*whens, else_=None)


def is_count_unit(unit: Any) -> ColumnElement[bool]:
    counts = [name for name, (dim, _f) in QUANTITY_UNITS.items() if dim not in ("mass", "volume")]
    return unit.in_(counts)


def quantity_in(dialect: str, amount_text: Any, unit: Any, dimension: str) -> ColumnElement[Any]:
    """A quantity converted to kg (mass), L (volume) or counted as is (count); else NULL."""
    amount = decimal_of(dialect, amount_text)
    if dimension == "count":
        return case((is_count_unit(unit), amount), else_=None)
    return amount * factor_to_base(unit, dimension)


def b64decode_hash(dialect: str, value: Any) -> ColumnElement[Any]:
    """Base64 text (an entry's `amends`) as bytes, to compare with ledger_entry.entry_hash."""
    if dialect == "postgresql":
        return func.decode(value, "base64")
    return getattr(func, SQLITE_B64DECODE)(value)


def prepare(session: Session) -> str:
    """Ready this session's transaction for report queries; returns the dialect name.

    SQLite: register the one function it lacks. PostgreSQL: transaction-local settings.
    """
    dialect = dialect_of(session)
    if dialect == "postgresql":
        # For this transaction only: these are a handful of large aggregate queries, where
        # JIT compilation costs more than it saves (seconds, on a busy server) and sorts of a
        # year's items should stay in memory.
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
    if dialect == "sqlite":
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        # SQLite has no base64 (3.41 added unhex, not this); corrections are few, so a
        # Python function called once per correction row costs nothing measurable.
        raw.create_function(SQLITE_B64DECODE, 1, _b64decode_or_none, deterministic=True)
    return dialect


def _b64decode_or_none(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def as_decimal(value: Any, places: int = 3) -> Decimal:
    """A SUM as an exact Decimal rounded to `places` (SQLite's REAL sums carry float noise)."""
    if value is None:
        return Decimal(0).quantize(Decimal(1).scaleb(-places))
    if isinstance(value, float):
        value = Decimal(repr(value))
    return Decimal(value).quantize(Decimal(1).scaleb(-places))
