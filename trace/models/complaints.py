"""Consumers' problem reports ("report a problem" on the scan page) and how the operator
handled them. Working data, not part of the record: a complaint may carry a phone number,
which is personal data and never goes into the ledger, a public page or a public export.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class Complaint(Base):
    __tablename__ = "trace_complaint"
    __table_args__ = (Index("ix_trace_complaint_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key to trace_batch: that table is a projection, deleted and rebuilt from
    # the ledger (trace.projections.rebuild_projections). The batch is checked on submit.
    batch_id: Mapped[str] = mapped_column(String(13), index=True)
    serial: Mapped[str | None] = mapped_column(String(20))
    problem_type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(24))  # personal data: the operator only
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16))  # see trace.complaints.STATUSES
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str | None] = mapped_column(Text)
