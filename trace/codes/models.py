"""Tables of farmtrace.trace.codes (docs/codes.md §8).

codes_range, codes_void and codes_reprint mirror ledger entries (codes.issued, codes.voided,
codes.reprinted) and, like the ledger, are never updated or deleted (the migration installs
triggers). The scan tables are working data: the log grows by one row per counted scan, the
inbox is a queue the flush empties, the tally holds per-item counts, the salts rotate daily.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base

# SQLite gives INTEGER PRIMARY KEY autoincrement semantics only to INTEGER, not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

APPEND_ONLY_TABLES = ("codes_range", "codes_void", "codes_reprint")


class SerialKeyRow(Base):
    """A serial key (trace.serials.SerialKey): 32 secret bytes sealed under the master key."""

    __tablename__ = "codes_serial_key"

    key_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A retired key's codes read as unknown and the allocator skips its block.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Allocator(Base):
    """The one row holding the next unused code number; issuance locks it (FOR UPDATE)."""

    __tablename__ = "codes_allocator"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    next_n: Mapped[int] = mapped_column(BigInteger)


class CodeRange(Base):
    """Code numbers first_n .. first_n + count - 1, issued to one batch by one ledger entry."""

    __tablename__ = "codes_range"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), index=True)
    # Resolution: WHERE first_n <= n ORDER BY first_n DESC LIMIT 1 walks this index once.
    first_n: Mapped[int] = mapped_column(BigInteger, unique=True)
    count: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[int] = mapped_column(SmallInteger)
    station_org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    layout: Mapped[str | None] = mapped_column(String(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @property
    def last_n(self) -> int:
        return self.first_n + self.count - 1


class CodeVoid(Base):
    """Codes first_n .. first_n + count - 1 of a range declared void (a whole range, or one code)."""

    __tablename__ = "codes_void"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    range_id: Mapped[int] = mapped_column(ForeignKey("codes_range.id"), index=True)
    first_n: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    voided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CodeReprint(Base):
    """Labels of a range (or one code) printed again, with the reason."""

    __tablename__ = "codes_reprint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    range_id: Mapped[int] = mapped_column(ForeignKey("codes_range.id"), index=True)
    first_n: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    reprinted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Scan(Base):
    """One counted scan. No raw IP: a salted hash of the client and a coarse place."""

    __tablename__ = "codes_scan"
    __table_args__ = (Index("ix_codes_scan_n_scanned_at", "n", "scanned_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    n: Mapped[int] = mapped_column(BigInteger)
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    place: Mapped[str | None] = mapped_column(String(32))
    client_hash: Mapped[bytes] = mapped_column(LargeBinary(16))


class ScanInbox(Base):
    """Scans not yet added to their item's tally; flush_scans takes rows out exactly once."""

    __tablename__ = "codes_scan_inbox"

    scan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, index=True)


class ScanTally(Base):
    """Per-item scan count and first/last scan, exact up to the last flush."""

    __tablename__ = "codes_scan_tally"

    n: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_place: Mapped[str | None] = mapped_column(String(32))


class ScanSalt(Base):
    """The random salt of one UTC day for client and place hashes; deleted when the day is over."""

    __tablename__ = "codes_scan_salt"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
