"""Projections of the batch chains: what the ledger's entries mean, kept queryable.

Every row here is derived from ledger entries and written in the transaction that appends
them; trace.projections.rebuild_projections() deletes and recomputes them all from the
ledger, and must produce the same rows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class Batch(Base):
    __tablename__ = "trace_batch"
    __table_args__ = (UniqueConstraint("product_id", "lot"),)

    id: Mapped[str] = mapped_column(ForeignKey("ledger_chain.batch"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("trace_product.id"), index=True)
    lot: Mapped[str] = mapped_column(String(20))
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    origin_place_id: Mapped[str | None] = mapped_column(ForeignKey("trace_place.id"))
    origin: Mapped[str] = mapped_column(String(16))  # registered, split, merge, transform
    unit: Mapped[str] = mapped_column(String(16))
    production_date: Mapped[date | None] = mapped_column(Date)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    custodian_org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    location_place_id: Mapped[str | None] = mapped_column(ForeignKey("trace_place.id"))
    quantity_in: Mapped[str] = mapped_column(String(32))
    quantity_out: Mapped[str] = mapped_column(String(32))
    packed_packages: Mapped[int] = mapped_column(Integer)
    conformity: Mapped[str] = mapped_column(String(16))  # untested, conformant, non_conformant
    recalled: Mapped[bool] = mapped_column(Boolean)
    head_seq: Mapped[int] = mapped_column(Integer)


class BatchProducer(Base):
    __tablename__ = "trace_batch_producer"

    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), primary_key=True)


class BatchFlag(Base):
    """A warning about a recorded event (pre-harvest interval, failed test, cold-chain excursion)."""

    __tablename__ = "trace_batch_flag"

    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    message: Mapped[str] = mapped_column(Text)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LineageEdge(Base):
    """`child` was made from `parent` by a split, merge or transform; `quantity` of the
    parent went into it, or NULL when the record does not say (a transform with several
    outputs and no stated shares: see LineageTake for what left the parent in all)."""

    __tablename__ = "trace_lineage_edge"

    parent_batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True)
    child_batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(16))


class LineageTake(Base):
    """What left `batch` in one lineage operation (its lineage.* entry at `seq`), once per
    input: `quantity` in all, into `outputs` batches."""

    __tablename__ = "trace_lineage_take"

    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    outputs: Mapped[int] = mapped_column(Integer)


class BatchCertificate(Base):
    __tablename__ = "trace_batch_certificate"

    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)


class LabTest(Base):
    __tablename__ = "trace_lab_test"

    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab_org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    sample_id: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))
    report_sha256: Mapped[str] = mapped_column(String(64))
    tested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Recall(Base):
    """A recall as it reaches one batch: the origin batch itself, or one downstream of it."""

    __tablename__ = "trace_recall"

    recall_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"), primary_key=True, index=True)
    origin_batch_id: Mapped[str] = mapped_column(ForeignKey("trace_batch.id"))
    reason: Mapped[str] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(ForeignKey("trace_org.id"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issue_seq: Mapped[int] = mapped_column(Integer)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lift_seq: Mapped[int | None] = mapped_column(Integer)
