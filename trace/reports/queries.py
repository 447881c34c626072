"""One aggregate query per group of figures, each computed by the database (docs/reports.md).

Every function returns {scope key: {figure: value}} for the rows that had anything in the
period; the database counts and sums, Python only merges the few result rows. Times are
compared as moments against the period's UTC bounds; a figure's time is its event's time
(when it happened), not when it was recorded, so late records land in the right period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.models import CodeRange, CodeVoid, Scan
from farmtrace.trace.events import types as t
from farmtrace.trace.models.complaints import Complaint
from farmtrace.trace.models.projection import Batch, BatchFlag, BatchProducer, LabTest, Recall
from farmtrace.trace.models.registry import Org
from farmtrace.trace.reports import sql
from farmtrace.trace.reports.period import Period
from farmtrace.trace.reports.scopes import COUNTY_KEY, Scope, batch_keys, place_areas
from farmtrace.trace.state import EXCURSION_FLAG

Rows = dict[str | None, dict[str, Any]]


def county_key() -> ColumnElement[Any]:
    # A constant in the SQL text, not a parameter: PostgreSQL cannot type a bare $1 in a
    # select list.
    return literal_column(f"'{COUNTY_KEY}'", String)


DAY_MS = 86_400_000
# Entries are filtered by recorded_at first (indexed), then by their event time. The rules
# keep an event time at most minutes after its recording; a day of margin is generous.
RECORDING_MARGIN = timedelta(days=1)
PERCENTILES = {"lead_time_median": 0.5, "lead_time_p90": 0.9}


@dataclass(frozen=True)
class Window:
    """A period and scope, with bounds in the forms the dialect compares."""

    session: Session
    dialect: str
    period: Period
    scope: Scope

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
    """Counted scans and distinct items scanned. Per scope, each scanned item is first
    reduced to (item, scans) and then mapped to its batch through its code range."""
    in_period = w.column_in(Scan.scanned_at)
    if w.scope is Scope.COUNTY:
        query = select(
            county_key().label("key"),
            func.count().label("scans"),
            func.count(distinct(Scan.n)).label("unique_items_scanned"),
        ).where(in_period)
        return {k: v for k, v in w.fetch(query).items() if v["scans"]}
    per_item = select(Scan.n, func.count().label("scans")).where(in_period).group_by(Scan.n).subquery("item")
    batch_of = (
        select(CodeRange.batch_id)
        .where(CodeRange.first_n <= per_item.c.n)
        .order_by(CodeRange.first_n.desc())
        .limit(1)
        .correlate(per_item)
        .scalar_subquery()
    )
    items = select(batch_of.label("batch_id"), per_item.c.scans).subquery("scanned_item")
    k = Keyer(w.scope)
    query = select(
        k.key.label("key"),
        func.sum(items.c.scans).label("scans"),
        func.count().label("unique_items_scanned"),
    ).select_from(items)
    return w.fetch(k.group(k.join(query, items.c.batch_id)))


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
        .where(w.column_in(LabTest.tested_at), verdict == "fail")
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


# -- sales -------------------------------------------------------------------------------


def sale_rows(w: Window) -> Subquery:
    """(batch, quantity, unit, channel) of each sale in the period, with the latest
    correction's payload in place of the original's (record.corrected restates a payload)."""
    d = w.dialect
    doc = sql.json_doc(d, EntryRow.canonical)
    sale = (
        select(EntryRow.batch, EntryRow.entry_hash, doc.label("doc"))
        .where(EntryRow.entry_type == t.SOLD, EntryRow.recorded_at >= w.recorded_since())
        .cte("sale_entry")
    )
    fix = aliased(EntryRow)
    fix_doc = sql.json_doc(d, fix.canonical)
    amends = sql.json_text(d, fix_doc, "amends")
    corrections = (
        select(
            sql.b64decode_hash(d, amends).label("target"),
            sql.json_text(d, fix_doc, "payload", "payload", "quantity").label("quantity"),
            sql.json_text(d, fix_doc, "payload", "payload", "unit").label("unit"),
            sql.json_text(d, fix_doc, "payload", "payload", "channel").label("channel"),
            func.row_number().over(partition_by=amends, order_by=fix.seq.desc()).label("newest"),
        )
        .where(fix.entry_type == t.CORRECTED)
        .subquery("correction")
    )
    latest = select(corrections).where(corrections.c.newest == 1).subquery("latest_correction")
    event_time = sql.json_text(d, sale.c.doc, "event_time")
    return (
        select(
            sale.c.batch.label("batch"),
            func.coalesce(latest.c.quantity, sql.json_text(d, sale.c.doc, "payload", "quantity")).label(
                "quantity"
            ),
            func.coalesce(latest.c.unit, sql.json_text(d, sale.c.doc, "payload", "unit")).label("unit"),
            func.coalesce(latest.c.channel, sql.json_text(d, sale.c.doc, "payload", "channel")).label(
                "channel"
            ),
        )
        .select_from(sale)
        .outerjoin(latest, latest.c.target == sale.c.entry_hash)
        .where(w.moment_in(sql.moment_of_text(d, event_time)))
        .subquery("sale")
    )


def poverty_batches() -> Subquery:
    """Batches with a registered poverty-alleviation household among their producers."""
    return (
        select(BatchProducer.batch_id)
        .join(Org, Org.id == BatchProducer.org_id)
        .where(Org.poverty_household.is_(True))
        .group_by(BatchProducer.batch_id)
        .subquery("poverty_batch")
    )


def _sale_sums(w: Window, sales: Subquery, prefix: str, only: Any = None) -> list[Any]:
    def when(value: Any) -> Any:
        return value if only is None else case((only, value), else_=None)

    return [
        func.count(when(literal(1))).label(f"{prefix}"),
        func.sum(when(sql.quantity_in(w.dialect, sales.c.quantity, sales.c.unit, "mass"))).label(
            f"{prefix}_mass"
        ),
        func.sum(when(sql.quantity_in(w.dialect, sales.c.quantity, sales.c.unit, "volume"))).label(
            f"{prefix}_volume"
        ),
        func.sum(when(sql.quantity_in(w.dialect, sales.c.quantity, sales.c.unit, "count"))).label(
            f"{prefix}_count"
        ),
    ]


def sales(w: Window) -> Rows:
    s = sale_rows(w)
    poor = poverty_batches()
    is_poor = poor.c.batch_id.is_not(None)
    k = Keyer(w.scope)
    query = (
        select(k.key.label("key"), *_sale_sums(w, s, "sales"), *_sale_sums(w, s, "poverty_sales", is_poor))
        .select_from(s)
        .outerjoin(poor, poor.c.batch_id == s.c.batch)
    )
    rows = w.fetch(k.group(k.join(query, s.c.batch)))
    s = sale_rows(w)
    k = Keyer(w.scope)
    households = (
        select(k.key.label("key"), func.count(distinct(Org.id)).label("poverty_households_selling"))
        .select_from(s)
        .join(BatchProducer, BatchProducer.batch_id == s.c.batch)
        .join(Org, and_(Org.id == BatchProducer.org_id, Org.poverty_household.is_(True)))
    )
    return _merge(rows, w.fetch(k.group(k.join(households, s.c.batch))))


def sales_by_channel(w: Window) -> list[dict[str, Any]]:
    s = sale_rows(w)
    query = (
        select(s.c.channel.label("channel"), *_sale_sums(w, s, "sales"))
        .group_by(s.c.channel)
        .order_by(s.c.channel)
    )
    return [dict(row) for row in w.session.execute(query).mappings()]


def household_sales(w: Window) -> list[dict[str, Any]]:
    """Sales per poverty-alleviation household: PERSONAL DATA, for operator exports only."""
    s = sale_rows(w)
    query = (
        select(Org.id.label("household"), Org.name_zh.label("name_zh"), *_sale_sums(w, s, "sales"))
        .select_from(s)
        .join(BatchProducer, BatchProducer.batch_id == s.c.batch)
        .join(Org, and_(Org.id == BatchProducer.org_id, Org.poverty_household.is_(True)))
        .group_by(Org.id, Org.name_zh)
        .order_by(Org.id)
    )
    return [dict(row) for row in w.session.execute(query).mappings()]


# -- logistics ---------------------------------------------------------------------------


def shipment_leads(w: Window) -> Subquery:
    """(key, lead_ms) of each delivery to a village station in the period whose carrier
    picked the goods up at a county-level place (not inside any town): the county centre →
    village leg, from its pickup to its delivery, both read from the batch's chain."""
    d = w.dialect
    doc = sql.json_doc(d, EntryRow.canonical)
    delivered = (
        select(
            EntryRow.batch.label("batch"),
            EntryRow.seq.label("seq"),
            sql.json_text(d, doc, "payload", "station").label("station"),
            sql.json_text(d, doc, "event_time").label("event_time"),
        )
        .where(EntryRow.entry_type == t.DELIVERED, EntryRow.recorded_at >= w.recorded_since())
        .subquery("delivery")
    )
    earlier = aliased(EntryRow)
    pickup_seq = (
        select(func.max(earlier.seq))
        .where(
            earlier.batch == delivered.c.batch,
            earlier.entry_type == t.PICKED_UP,
            earlier.seq < delivered.c.seq,
        )
        .correlate(delivered)
        .scalar_subquery()
    )
    legs = (
        select(delivered, pickup_seq.label("pickup_seq"))
        .where(w.moment_in(sql.moment_of_text(d, delivered.c.event_time)))
        .subquery("leg")
    )
    pickup = aliased(EntryRow)
    pickup_doc = sql.json_doc(d, pickup.canonical)
    station = aliased(Org)
    areas = place_areas()
    pickup_area = areas.alias("pickup_area")
    station_area = areas.alias("station_area")
    lead = sql.millis_between(
        d,
        sql.moment_of_text(d, legs.c.event_time),
        sql.moment_of_text(d, sql.json_text(d, pickup_doc, "event_time")),
    )
    if w.scope is Scope.TOWN:
        key: Any = station_area.c.town_id
    elif w.scope is Scope.COUNTY:
        key = county_key()
    else:
        key = None
    query = (
        select(legs.c.batch, lead.label("lead_ms"))
        .select_from(legs)
        .join(station, and_(station.id == legs.c.station, station.kind == "village_station"))
        .join(pickup, and_(pickup.batch == legs.c.batch, pickup.seq == legs.c.pickup_seq))
        .join(pickup_area, pickup_area.c.place_id == sql.json_text(d, pickup_doc, "payload", "place"))
        .outerjoin(station_area, station_area.c.place_id == station.place_id)
        .where(pickup_area.c.town_id.is_(None), pickup_area.c.county_id.is_not(None))
    )
    if key is not None:
        return query.add_columns(key.label("key")).subquery("lead")
    keys = batch_keys(w.scope)
    assert keys is not None
    return (
        query.add_columns(keys.c.key.label("key"))
        .join(keys, keys.c.batch_id == legs.c.batch)
        .subquery("lead")
    )


def shipments(w: Window) -> Rows:
    leads = shipment_leads(w)
    grouped = w.scope is not Scope.COUNTY
    within = func.count(case((leads.c.lead_ms <= DAY_MS, 1))).label("delivered_within_24h")
    if w.dialect == "postgresql":
        query = select(
            leads.c.key,
            func.count().label("shipments"),
            within,
            *(
                func.percentile_cont(p).within_group(leads.c.lead_ms).label(name)
                for name, p in PERCENTILES.items()
            ),
        )
        return w.fetch(query.group_by(leads.c.key))
    # SQLite has no percentile_cont: rank the lead times in SQL and interpolate between the
    # two ranks around p·(n−1), exactly as percentile_cont defines it.
    partition = leads.c.key if grouped else None
    ranked = select(
        leads.c.key,
        leads.c.lead_ms,
        func.row_number().over(partition_by=partition, order_by=leads.c.lead_ms).label("rank"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery("ranked")

    def percentile(p: float) -> Any:
        position = literal(p, Float) * (ranked.c.n - 1)
        below = cast(position, Integer)  # floor: position is never negative
        fraction = position - below
        return func.sum(
            case(
                (ranked.c.rank == below + 1, ranked.c.lead_ms * (1 - fraction)),
                (ranked.c.rank == below + 2, ranked.c.lead_ms * fraction),
                else_=0,
            )
        )

    query = select(
        ranked.c.key,
        func.count().label("shipments"),
        func.count(case((ranked.c.lead_ms <= DAY_MS, 1))).label("delivered_within_24h"),
        *(percentile(p).label(name) for name, p in PERCENTILES.items()),
    ).group_by(ranked.c.key)
    return w.fetch(query)


def _merge(*parts: Rows) -> Rows:
    merged: Rows = {}
    for part in parts:
        for key, values in part.items():
            merged.setdefault(key, {}).update(values)
    return merged
