"""Print jobs (farmtrace.trace.printing): which labels of a code range went to which printer,
and how far printing is known to have got.

Working data, not part of the record: `confirmed` and `state` are updated while a job runs,
so this is not an append-only table. What the record must keep (a reprint and its reason)
is a `codes.reprinted` ledger entry; the job row only points at it by its `reprint` flag.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class PrintJobRow(Base):
    """Labels first_index .. last_index (indexes within the range: code n = first_n + index)."""

    __tablename__ = "print_job"
    __table_args__ = (
        # "What of this range is printed or being printed?" reads every job of one range.
        Index("ix_print_job_range_id_first_index", "range_id", "first_index"),
        Index("ix_print_job_station_org_id_started_at", "station_org_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key to trace_batch: that table is a projection, rebuilt from the ledger.
    batch_id: Mapped[str] = mapped_column(String(13), index=True)
    range_id: Mapped[int] = mapped_column(ForeignKey("codes_range.id"))
    first_index: Mapped[int] = mapped_column(Integer)
    last_index: Mapped[int] = mapped_column(Integer)
    station_org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"))
    layout: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(16))
    dpi: Mapped[int | None] = mapped_column(Integer)  # None for vector output (PDF)
    printer: Mapped[str] = mapped_column(String(500))  # transport URI, e.g. tcp://10.0.0.7:9100
    # Fixed when the job starts so that a resumed run prints the same labels.
    packed_on: Mapped[date] = mapped_column(Date)
    brand: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))  # trace.printing.STATES
    confirmed: Mapped[int] = mapped_column(Integer)  # labels from first_index on, confirmed
    # For file targets: the file's length at the last confirmation (where a resume continues).
    output_bytes: Mapped[int | None] = mapped_column(BigInteger)
    reprint: Mapped[bool] = mapped_column(Boolean)
    reprint_reason: Mapped[str | None] = mapped_column(Text)
    # Set by the console (pause, resume, cancel); the printing process polls it.
    requested: Mapped[str | None] = mapped_column(String(16))
    runner: Mapped[str | None] = mapped_column(String(100))  # host:pid of the printing process
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(128), unique=True)
