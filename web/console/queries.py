"""Read-only queries for the console's lists, kept out of the views.

Each is one or two indexed SQL queries over the projection and codes tables; none loads
more rows than the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from farmtrace.ledger.models import Checkpoint
from farmtrace.trace.codes.models import CodeRange, Scan
from farmtrace.trace.models.projection import Batch, LabTest, Recall
from farmtrace.trace.models.registry import Org, Place, Product


@dataclass(frozen=True)
class ScanStats:
    codes: int  # codes issued to the batch
    scans: int  # counted scans of its codes
    items: int  # distinct codes scanned at least once
    last: datetime | None


NO_SCANS = ScanStats(0, 0, 0, None)


def scan_stats(session: Session, batch_ids: list[str]) -> dict[str, ScanStats]:
    if not batch_ids:
        return {}
    issued = dict(
        session.execute(
            select(CodeRange.batch_id, func.sum(CodeRange.count))
            .where(CodeRange.batch_id.in_(batch_ids))
            .group_by(CodeRange.batch_id)
        ).all()
    )
    scanned = {
        batch: (int(count), int(items), last)
        for batch, count, items, last in session.execute(
            select(
                CodeRange.batch_id,
                func.count(Scan.id),
                func.count(func.distinct(Scan.n)),
                func.max(Scan.scanned_at),
            )
            .join(Scan, (Scan.n >= CodeRange.first_n) & (Scan.n < CodeRange.first_n + CodeRange.count))
            .where(CodeRange.batch_id.in_(batch_ids))
            .group_by(CodeRange.batch_id)
        ).all()
    }
    out = {}
    for batch in batch_ids:
        count, items, last = scanned.get(batch, (0, 0, None))
        out[batch] = ScanStats(int(issued.get(batch) or 0), count, items, _aware(last))
    return out


def awaiting_lab(session: Session, limit: int = 100) -> list[Batch]:
    """Batches with goods on hand (registered with a quantity, or harvested) and no lab test
    yet, not recalled: the samples a lab is waiting to test, oldest first."""
    tested = select(LabTest.batch_id)
    rows = session.scalars(
        select(Batch)
        .where(Batch.conformity == "untested", Batch.recalled.is_(False), Batch.id.not_in(tested))
        .order_by(Batch.registered_at, Batch.id)
        .limit(limit * 4)
    )
    return [row for row in rows if Decimal(row.quantity_in) > 0][:limit]


@dataclass(frozen=True)
class RecallSummary:
    recall_id: str
    origin: str
    reason: str
    issued_by: str
    issued_at: datetime
    lifted_at: datetime | None
    batches: int


def recalls(session: Session, limit: int = 100) -> list[RecallSummary]:
    rows = session.execute(
        select(
            Recall.recall_id,
            Recall.origin_batch_id,
            func.min(Recall.reason),
            func.min(Recall.issued_by),
            func.min(Recall.issued_at),
            func.max(Recall.lifted_at),
            func.count(),
        )
        .group_by(Recall.recall_id, Recall.origin_batch_id)
        .order_by(func.min(Recall.issued_at).desc())
        .limit(limit)
    ).all()
    return [
        RecallSummary(rid, origin, reason, by, _aware(at), _aware(lifted), int(count))
        for rid, origin, reason, by, at, lifted, count in rows
    ]


def checkpoints(session: Session, limit: int = 50) -> list[Checkpoint]:
    return list(session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(limit)))


def recent_ranges(session: Session, station: str | None, limit: int = 20) -> list[CodeRange]:
    query = select(CodeRange).order_by(CodeRange.id.desc()).limit(limit)
    if station is not None:
        query = query.where(CodeRange.station_org_id == station)
    return list(session.scalars(query))


def batches(session: Session, ids: list[str]) -> dict[str, Batch]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(Batch).where(Batch.id.in_(ids)))}


def names(session: Session) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Chinese names of every organisation, place and product (a county has hundreds, not millions)."""
    orgs = dict(session.execute(select(Org.id, Org.name_zh)).all())
    places = dict(session.execute(select(Place.id, Place.name_zh)).all())
    products = dict(session.execute(select(Product.id, Product.name_zh)).all())
    return orgs, places, products


def counts(session: Session) -> dict[str, int]:
    def count(query: object) -> int:
        return int(session.scalar(query) or 0)  # type: ignore[arg-type]

    return {
        "orgs": count(select(func.count()).select_from(Org)),
        "batches": count(select(func.count()).select_from(Batch)),
        "recalled": count(select(func.count()).select_from(Batch).where(Batch.recalled.is_(True))),
        "codes": count(select(func.coalesce(func.sum(CodeRange.count), 0))),
        "scans": count(select(func.count()).select_from(Scan)),
    }


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
