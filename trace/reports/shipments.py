"""Deliveries from the county centre to village stations, and their lead times.

The domain records no shipment as such: a batch's chain has logistics.picked_up (custody to
a carrier, at a place) and logistics.delivered (custody to a station). A county → village
delivery is a logistics.delivered to a village_station whose latest earlier pickup on the
same chain was at a county-level place (a place under the county and inside no town: the
county warehouse, cold store, packing hall). Its lead time runs from that pickup's event time
to the delivery's. Percentiles are percentile_cont: PostgreSQL's own; on SQLite, which has
none, ranks from ROW_NUMBER and COUNT windows pick the two values to interpolate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, func, literal, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import Subquery

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.events import types as t
from farmtrace.trace.models.registry import Org
from farmtrace.trace.reports import sql
from farmtrace.trace.reports.queries import Rows, Window, county_key
from farmtrace.trace.reports.sales import entry_docs
from farmtrace.trace.reports.scopes import Scope, batch_keys, place_areas

DAY_MS = 86_400_000
PERCENTILES = {"lead_time_median": 0.5, "lead_time_p90": 0.9}


def shipment_leads(w: Window) -> Subquery:
    """(key, lead_ms) of each county → village delivery in the period. Per town, a delivery
    counts where it arrives (the receiving station's town); otherwise by its batch."""
    d = w.dialect
    docs = entry_docs(w, t.DELIVERED, "delivery_doc")
    delivered = select(
        docs.c.batch,
        docs.c.seq,
        sql.json_text(d, docs.c.doc, "payload", "station").label("station"),
        sql.json_text(d, docs.c.doc, "event_time").label("event_time"),
    ).cte("delivery")
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
    station = aliased(Org)
    legs = (
        select(
            delivered.c.batch,
            delivered.c.event_time,
            station.place_id.label("station_place"),
            pickup_seq.label("pickup_seq"),
        )
        .join(station, and_(station.id == delivered.c.station, station.kind == "village_station"))
        .where(w.moment_in(sql.moment_of_text(d, delivered.c.event_time)))
        .cte("leg")
    )
    if d == "postgresql":
        legs = legs.prefix_with("MATERIALIZED")  # one pickup lookup per delivery
    pickup = aliased(EntryRow)
    pickup_docs = (
        select(legs, sql.json_doc(d, pickup.canonical).label("doc"))
        .join(pickup, and_(pickup.batch == legs.c.batch, pickup.seq == legs.c.pickup_seq))
        .cte("pickup_doc")
    )
    if d == "postgresql":
        pickup_docs = pickup_docs.prefix_with("MATERIALIZED")  # parse each pickup's JSON once
    pickups = select(
        pickup_docs.c.batch,
        pickup_docs.c.station_place,
        pickup_docs.c.event_time.label("delivered_at"),
        sql.json_text(d, pickup_docs.c.doc, "event_time").label("picked_up_at"),
        sql.json_text(d, pickup_docs.c.doc, "payload", "place").label("pickup_place"),
    ).cte("pickup")
    areas = place_areas()
    pickup_area = areas.alias("pickup_area")
    station_area = areas.alias("station_area")
    lead = sql.millis_between(
        d, sql.moment_of_text(d, pickups.c.delivered_at), sql.moment_of_text(d, pickups.c.picked_up_at)
    )
    query = (
        select(pickups.c.batch, lead.label("lead_ms"))
        .select_from(pickups)
        .join(pickup_area, pickup_area.c.place_id == pickups.c.pickup_place)
        .outerjoin(station_area, station_area.c.place_id == pickups.c.station_place)
        .where(pickup_area.c.town_id.is_(None), pickup_area.c.county_id.is_not(None))
    )
    if w.scope is Scope.TOWN:
        return query.add_columns(station_area.c.town_id.label("key")).subquery("lead")
    if w.scope is Scope.COUNTY:
        return query.add_columns(county_key().label("key")).subquery("lead")
    keys = batch_keys(w.scope)
    assert keys is not None
    return (
        query.add_columns(keys.c.key.label("key"))
        .join(keys, keys.c.batch_id == pickups.c.batch)
        .subquery("lead")
    )


def shipments(w: Window) -> Rows:
    leads = shipment_leads(w)
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
        ).group_by(leads.c.key)
        return w.fetch(query)
    # SQLite has no percentile_cont: rank the lead times in SQL and interpolate between the
    # two ranks around p·(n−1), exactly as percentile_cont defines it.
    partition = leads.c.key if w.scope is not Scope.COUNTY else None
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
