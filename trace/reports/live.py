"""What the data wall and the disclosure page show beside the report figures: daily series
for trend charts, the latest lab results, recalls in force, published checkpoints and keys.

Everything here is public: no person is named (organisations are: a lab, a cooperative), and
no phone number or household flag is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from farmtrace.ledger.models import Checkpoint, CosignatureRow, EntryRow, PublicKey
from farmtrace.trace.codes.models import Scan
from farmtrace.trace.events import types as t
from farmtrace.trace.models.projection import Batch, LabTest, Recall
from farmtrace.trace.models.registry import Org, Product
from farmtrace.trace.reports import sql
from farmtrace.trace.reports.period import custom

SERIES = ("scans", "sales", "batches", "lab_tests")


@dataclass(frozen=True)
class Series:
    name: str
    days: tuple[date, ...]
    values: tuple[int, ...]


def daily_series(session: Session, last_day: date, days: int, tz: Any = None) -> dict[str, Series]:
    """Per-day counts of scans, sales, batches registered and lab tests over the `days`
    county days ending with `last_day`, grouped by day in SQL (missing days are 0)."""
    period = custom(
        last_day - timedelta(days=days - 1), last_day + timedelta(days=1), *(() if tz is None else (tz,))
    )
    dialect = sql.prepare(session)
    offset = period.utc_offset_hours()
    start, end = period.utc_bounds()
    lo, hi = sql.column_bound(dialect, start), sql.column_bound(dialect, end)

    def by_day(column: Any, *where: Any) -> dict[str, int]:
        day = sql.local_day_of_column(dialect, column, offset)
        query = select(day, func.count()).where(column >= lo, column < hi, *where).group_by(day)
        return {str(d): int(n) for d, n in session.execute(query)}

    doc = sql.json_doc(dialect, EntryRow.canonical)
    event_time = sql.json_text(dialect, doc, "event_time")
    sale_day = sql.local_day_of_text(dialect, event_time, offset)
    moment = sql.moment_of_text(dialect, event_time)
    sales = select(sale_day, func.count()).where(
        EntryRow.entry_type == t.SOLD,
        EntryRow.recorded_at >= sql.column_bound(dialect, start - timedelta(days=1)),
        moment >= sql.moment_bound(dialect, start),
        moment < sql.moment_bound(dialect, end),
    )
    counted = {
        "scans": by_day(Scan.scanned_at),
        "sales": {str(d): int(n) for d, n in session.execute(sales.group_by(sale_day))},
        "batches": by_day(Batch.registered_at),
        "lab_tests": by_day(LabTest.tested_at),
    }
    all_days = tuple(period.start + timedelta(days=i) for i in range(period.days))
    return {
        name: Series(name, all_days, tuple(counted[name].get(d.isoformat(), 0) for d in all_days))
        for name in SERIES
    }


@dataclass(frozen=True)
class LabResultView:
    batch_id: str
    product: str
    lot: str
    lab: str
    verdict: str
    tested_at: datetime
    failed_analytes: tuple[str, ...]


def latest_lab_results(session: Session, limit: int = 8) -> list[LabResultView]:
    lab = aliased(Org)
    query = (
        select(LabTest, Product.name_zh, Batch.lot, lab.name_zh)
        .join(Batch, Batch.id == LabTest.batch_id)
        .join(Product, Product.id == Batch.product_id)
        .join(lab, lab.id == LabTest.lab_org_id)
        .order_by(LabTest.tested_at.desc(), LabTest.batch_id, LabTest.seq.desc())
        .limit(limit)
    )
    return [
        LabResultView(
            test.batch_id,
            product,
            lot,
            lab_name,
            test.verdict,
            _aware(test.tested_at),
            tuple(str(r.get("analyte", "")) for r in test.results if r.get("verdict") == "fail"),
        )
        for test, product, lot, lab_name in session.execute(query)
    ]


@dataclass(frozen=True)
class RecallView:
    recall_id: str
    batch_id: str
    product: str
    lot: str
    level: int | None
    reason: str
    issued_at: datetime
    batches: int  # batches the recall reached, the origin included


def recalls_in_force(session: Session, limit: int = 50) -> list[RecallView]:
    """Recalls not lifted, newest first, counted at their origin batch."""
    dialect = sql.prepare(session)
    reached = (
        select(Recall.recall_id, func.count().label("batches")).group_by(Recall.recall_id).subquery("reached")
    )
    level = sql.json_text(dialect, sql.json_doc(dialect, EntryRow.canonical), "payload", "level")
    query = (
        select(Recall, Product.name_zh, Batch.lot, level, reached.c.batches)
        .join(Batch, Batch.id == Recall.batch_id)
        .join(Product, Product.id == Batch.product_id)
        .join(reached, reached.c.recall_id == Recall.recall_id)
        .outerjoin(EntryRow, and_(EntryRow.batch == Recall.batch_id, EntryRow.seq == Recall.issue_seq))
        .where(Recall.batch_id == Recall.origin_batch_id, Recall.lifted_at.is_(None))
        .order_by(Recall.issued_at.desc(), Recall.recall_id)
        .limit(limit)
    )
    return [
        RecallView(
            recall.recall_id,
            recall.batch_id,
            product,
            lot,
            None if lvl is None else int(lvl),
            recall.reason,
            _aware(recall.issued_at),
            int(batches),
        )
        for recall, product, lot, lvl, batches in session.execute(query)
    ]


@dataclass(frozen=True)
class Cosignature:
    witness: str
    key_id: str  # 8 hex digits, as in the witness's vkey
    timestamp: datetime
    line: str  # the signature line, "— <name> <base64>"


@dataclass(frozen=True)
class PublishedCheckpoint:
    tree_size: int
    created_at: datetime
    note: str  # the signed note as the log signed it
    cosignatures: tuple[Cosignature, ...]


def checkpoints_page(
    session: Session, page: int, per_page: int = 20
) -> tuple[list[PublishedCheckpoint], int]:
    """Page `page` (from 1) of published checkpoints, newest first, and the total count."""
    total = session.scalar(select(func.count()).select_from(Checkpoint)) or 0
    rows = session.scalars(
        select(Checkpoint).order_by(Checkpoint.tree_size.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    sizes = [row.tree_size for row in rows]
    cosigned: dict[int, list[Cosignature]] = {}
    if sizes:
        for cs in session.scalars(
            select(CosignatureRow).where(CosignatureRow.tree_size.in_(sizes)).order_by(CosignatureRow.id)
        ):
            when = datetime.fromtimestamp(cs.timestamp, UTC)
            cosigned.setdefault(cs.tree_size, []).append(
                Cosignature(cs.witness_name, cs.key_id, when, cs.signature_line)
            )
    return [
        PublishedCheckpoint(r.tree_size, _aware(r.created_at), r.note, tuple(cosigned.get(r.tree_size, ())))
        for r in rows
    ], total


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    role: str
    public_key: bytes
    valid_from: datetime
    revoked_at: datetime | None


def log_and_root_keys(session: Session) -> list[PublishedKey]:
    """The root key (it signs the key history) and every log key, current ones first."""
    rows = session.scalars(
        select(PublicKey)
        .where(PublicKey.role.in_(("root", "log")))
        .order_by(PublicKey.revoked_at.is_not(None), PublicKey.role, PublicKey.valid_from)
    )
    return [
        PublishedKey(
            r.key_id, r.role, r.public_key, _aware(r.valid_from), r.revoked_at and _aware(r.revoked_at)
        )
        for r in rows
    ]


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def county_name(session: Session) -> str | None:
    """The operator's name (县级运营中心), for page titles."""
    return session.scalar(select(Org.name_zh).where(Org.kind == "operator").order_by(Org.created_at).limit(1))
