"""One aggregate query per group of figures, each computed by the database (docs/reports.md).

Every function returns {scope key: {figure: value}} for the rows that had anything in the
period; the database counts and sums, Python only merges the few result rows. Times are
compared as moments against the period's UTC bounds; a figure's time is its event's time
(when it happened), not when it was recorded, so late records land in the right period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    distinct,
    func,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from farmtrace.trace.codes.models import CodeRange, CodeVoid, Scan
from farmtrace.trace.models.complaints import Complaint
from farmtrace.trace.models.projection import Batch, BatchFlag, LabTest, Recall
from farmtrace.trace.reports import sql
from farmtrace.trace.reports.period import Period
from farmtrace.trace.reports.scopes import COUNTY_KEY, Scope, batch_keys
from farmtrace.trace.state import EXCURSION_FLAG

Rows = dict[str | None, dict[str, Any]]


def county_key() -> ColumnElement[Any]:
    # A constant in the SQL text, not a parameter: PostgreSQL cannot type a bare $1 in a
    # select list.
    return literal_column(f"'{COUNTY_KEY}'", String)


# Entries are filtered by recorded_at first (indexed), then by their event time. The rules
# keep an event time at most minutes after its recording; a day of margin is generous.
RECORDING_MARGIN = timedelta(days=1)
# Beyond this many days the scan figures walk the whole scan index once (scans_by_range)
# rather than sorting the period's scans (a month of 10M scans a year: ~0.8M to sort).
LONG_PERIOD_DAYS = 62


@dataclass(frozen=True)
class Window:
    """A period and scope, with bounds in the forms the dialect compares."""

    session: Session
    dialect: str
    period: Period
    scope: Scope
    # Results a later query of the same report reuses (sales grouped once, two tables from it).
    memo: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def open(cls, session: Session, period: Period, scope: Scope) -> Window:
        return cls(session, sql.prepare(session), period, scope)

    @property
    def utc(self) -> tuple[datetime, datetime]:
        return self.period.utc_bounds()

    def column_in(self, column: Any) -> ColumnElement[bool]:
        start, end = self.utc
        return and_(
            column >= sql.column_bound(self.dialect, start), column < sql.column_bound(self.dialect, end)
        )

    def moment_in(self, moment: Any) -> ColumnElement[bool]:
        start, end = self.utc
        return and_(
            moment >= sql.moment_bound(self.dialect, start), moment < sql.moment_bound(self.dialect, end)
        )

    def recorded_since(self) -> datetime:
        return sql.column_bound(self.dialect, self.utc[0] - RECORDING_MARGIN)

    def fetch(self, query: Select[Any]) -> Rows:
        return {
            row["key"]: {k: v for k, v in row.items() if k != "key"}
            for row in self.session.execute(query).mappings()
        }


class Keyer:
    """Joins a query to its batch's scope key (nothing to join for the county)."""

    def __init__(self, scope: Scope) -> None:
        self.keys: Subquery | None = batch_keys(scope)
        self.key: ColumnElement[Any] = county_key() if self.keys is None else self.keys.c.key

    def join(self, query: Select[Any], batch_id: Any) -> Select[Any]:
        return query if self.keys is None else query.join(self.keys, self.keys.c.batch_id == batch_id)

    def group(self, query: Select[Any]) -> Select[Any]:
        return query if self.keys is None else query.group_by(self.key)


def batches(w: Window) -> Rows:
    """Batches registered (by harvest registration) and derived (split, merge, transform), and
    the quantity of the registered ones, as recorded now (registered plus harvested)."""
    k = Keyer(w.scope)
    registered = Batch.origin == "registered"

    def registered_quantity(dimension: str) -> Any:
        amount = sql.quantity_in(w.dialect, Batch.quantity_in, Batch.unit, dimension)
        return func.sum(case((registered, amount), else_=None)).label(f"quantity_{dimension}")

    query = select(
        k.key.label("key"),
        func.count(case((registered, 1))).label("batches_registered"),
        func.count(case((~registered, 1))).label("batches_derived"),
        registered_quantity("mass"),
        registered_quantity("volume"),
        registered_quantity("count"),
    ).select_from(Batch)
    query = k.join(query, Batch.id).where(w.column_in(Batch.registered_at))
    return w.fetch(k.group(query))


def codes(w: Window) -> Rows:
    """Codes issued (one per item) and voided in the period."""
    k = Keyer(w.scope)
    issued = select(k.key.label("key"), func.sum(CodeRange.count).label("items_coded")).select_from(CodeRange)
    issued = k.join(issued, CodeRange.batch_id).where(w.column_in(CodeRange.issued_at))
    rows = w.fetch(k.group(issued))
    k = Keyer(w.scope)
    voided = (
        select(k.key.label("key"), func.sum(CodeVoid.count).label("items_voided"))
        .select_from(CodeVoid)
        .join(CodeRange, CodeRange.id == CodeVoid.range_id)
    )
    voided = k.join(voided, CodeRange.batch_id).where(w.column_in(CodeVoid.voided_at))
    return _merge(rows, w.fetch(k.group(voided)))


def scans(w: Window) -> Rows:
    """Counted scans and distinct items scanned.

    Two plans, by the period's length. A short period reads its scans on the scanned_at index,
    reduces them to (item, scans) and places each item in its code range (items_in_batches):
    work grows with the period's scans. A long period walks the (n, scanned_at) index range
    by range instead (scans_by_range): one ordered pass over all scans, no sort, cheaper than
    sorting most of them. The two give the same figures (tested).
    """
    if w.period.days > LONG_PERIOD_DAYS:
        per_range = scans_by_range(w)
        k = Keyer(w.scope)
        query = select(
            k.key.label("key"),
            func.sum(per_range.c.scans).label("scans"),
            func.sum(per_range.c.item_count).label("unique_items_scanned"),
        ).select_from(per_range)
        rows = w.fetch(k.group(k.join(query, per_range.c.batch_id)))
        return {key: v for key, v in rows.items() if v["scans"]}
    per_item = (
        select(Scan.n, func.count().label("scans"))
        .where(w.column_in(Scan.scanned_at))
        .group_by(Scan.n)
        .subquery("item")
    )
    if w.scope is Scope.COUNTY:
        query = select(
            county_key().label("key"),
            func.sum(per_item.c.scans).label("scans"),
            func.count().label("unique_items_scanned"),
        ).select_from(per_item)
        return {k: v for k, v in w.fetch(query).items() if v["scans"]}
    items = items_in_batches(per_item)
    k = Keyer(w.scope)
    query = select(
        k.key.label("key"),
        func.sum(items.c.scans).label("scans"),
        func.count().label("unique_items_scanned"),
    ).select_from(items)
    return w.fetch(k.group(k.join(query, items.c.batch_id)))


def scans_by_range(w: Window) -> Subquery:
    """(batch_id, scans, item_count) per batch: a nested loop over code ranges, each reading its
    slice of the (n, scanned_at) index. Ranges never overlap, so distinct items add up."""
    query = (
        select(
            CodeRange.batch_id,
            func.count().label("scans"),
            func.count(distinct(Scan.n)).label("item_count"),
        )
        .select_from(CodeRange)
        .join(Scan, and_(Scan.n >= CodeRange.first_n, Scan.n < CodeRange.first_n + CodeRange.count))
        .where(w.column_in(Scan.scanned_at))
        .group_by(CodeRange.batch_id)
    )
    return query.subquery("range_scans")


def items_in_batches(per_item: Subquery) -> Subquery:
    """(batch_id, scans) for each (n, scans) row: the batch of the code range holding n.

    An as-of join done with one sort instead of a lookup per item: range starts and items are
    merged in order of n (a range start before an item at the same n), and a running MAX of
    the range starts gives each item the start of its range; the unique first_n index then
    names the batch. Ranges never overlap and every scanned n lies in an issued range.
    """
    marks = union_all(
        select(
            CodeRange.first_n.label("n"),
            literal_column("0").label("is_item"),
            literal_column("0").label("scans"),
        ),
        select(per_item.c.n, literal_column("1"), per_item.c.scans),
    ).subquery("mark")
    range_start = func.max(case((marks.c.is_item == 0, marks.c.n))).over(
        order_by=(marks.c.n, marks.c.is_item), rows=(None, 0)
    )
    placed = select(marks.c.is_item, marks.c.scans, range_start.label("range_start")).subquery("placed")
    return (
        select(CodeRange.batch_id, placed.c.scans)
        .select_from(placed)
        .join(CodeRange, CodeRange.first_n == placed.c.range_start)
        .where(placed.c.is_item == 1)
        .subquery("scanned_item")
    )


def lab_tests(w: Window) -> Rows:
    k = Keyer(w.scope)
    query = select(
        k.key.label("key"),
        func.count().label("lab_tests"),
        func.count(case((LabTest.verdict == "pass", 1))).label("lab_passed"),
        func.count(case((LabTest.verdict == "fail", 1))).label("lab_failed"),
    ).select_from(LabTest)
    query = k.join(query, LabTest.batch_id).where(w.column_in(LabTest.tested_at))
    return w.fetch(k.group(query))


def failures_by_analyte(w: Window) -> list[tuple[str, int, int]]:
    """(analyte, failed results, batches) of tests in the period, most failures first."""
    if w.dialect == "postgresql":
        result = func.json_array_elements(LabTest.results).table_valued("value").lateral("result")
        analyte = result.c.value.op("->>")(literal_column("'analyte'"))
        verdict = result.c.value.op("->>")(literal_column("'verdict'"))
    else:
        result = func.json_each(LabTest.results).table_valued("value").alias("result")
        analyte = func.json_extract(result.c.value, "$.analyte")
        verdict = func.json_extract(result.c.value, "$.verdict")
    query = (
        select(
            analyte.label("analyte"), func.count().label("failures"), func.count(distinct(LabTest.batch_id))
        )
        .select_from(LabTest)
        .join(result, true())
        # A test's verdict is "fail" iff a result failed (a rule), so only failed tests are opened.
        .where(w.column_in(LabTest.tested_at), LabTest.verdict == "fail", verdict == "fail")
        .group_by(analyte)
        .order_by(func.count().desc(), analyte)
    )
    return [(str(a), int(n), int(b)) for a, n, b in w.session.execute(query)]


def recalls(w: Window) -> Rows:
    """Recalls issued and lifted (counted at their origin batch) and batches they reached."""
    k = Keyer(w.scope)
    origin = Recall.batch_id == Recall.origin_batch_id
    issued = select(
        k.key.label("key"),
        func.count(distinct(case((origin, Recall.recall_id)))).label("recalls_issued"),
        func.count().label("recalled_batches"),
    ).select_from(Recall)
    # Each row is one batch a recall reached; its own batch decides its scope row.
    issued = k.join(issued, Recall.batch_id).where(w.column_in(Recall.issued_at))
    rows = w.fetch(k.group(issued))
    k = Keyer(w.scope)
    lifted = select(k.key.label("key"), func.count().label("recalls_lifted")).select_from(Recall)
    lifted = k.join(lifted, Recall.batch_id).where(origin, w.column_in(Recall.lifted_at))
    return _merge(rows, w.fetch(k.group(lifted)))


def excursions(w: Window) -> Rows:
    """Cold-chain excursions: temperature records with readings outside their range."""
    k = Keyer(w.scope)
    query = select(
        k.key.label("key"),
        func.count().label("cold_chain_excursions"),
        func.count(distinct(BatchFlag.batch_id)).label("excursion_batches"),
    ).select_from(BatchFlag)
    query = k.join(query, BatchFlag.batch_id).where(
        BatchFlag.kind == EXCURSION_FLAG, w.column_in(BatchFlag.event_time)
    )
    return w.fetch(k.group(query))


def complaints(w: Window) -> Rows:
    """Consumers' problem reports received in the period (trace_complaint), whatever their status."""
    k = Keyer(w.scope)
    query = select(k.key.label("key"), func.count().label("complaints")).select_from(Complaint)
    query = k.join(query, Complaint.batch_id).where(w.column_in(Complaint.created_at))
    return w.fetch(k.group(query))


def complaints_by_type(w: Window) -> list[tuple[str, int]]:
    query = (
        select(Complaint.problem_type, func.count())
        .where(w.column_in(Complaint.created_at))
        .group_by(Complaint.problem_type)
        .order_by(func.count().desc(), Complaint.problem_type)
    )
    return [(str(kind), int(n)) for kind, n in w.session.execute(query)]


def complaint_list(w: Window) -> list[dict[str, Any]]:
    """Every complaint of the period with its phone number: PERSONAL DATA, operator exports only."""
    query = (
        select(
            Complaint.id,
            Complaint.batch_id,
            Batch.product_id,
            Complaint.problem_type,
            Complaint.status,
            Complaint.created_at,
            Complaint.phone,
        )
        .outerjoin(Batch, Batch.id == Complaint.batch_id)
        .where(w.column_in(Complaint.created_at))
        .order_by(Complaint.created_at, Complaint.id)
    )
    return [dict(row) for row in w.session.execute(query).mappings()]


def _merge(*parts: Rows) -> Rows:
    merged: Rows = {}
    for part in parts:
        for key, values in part.items():
            merged.setdefault(key, {}).update(values)
    return merged
