"""Sales figures, read from the ledger's sale.recorded entries (no projection holds them).

A sale's payload may have been restated by record.corrected entries; the latest correction's
payload counts. Each entry's JSON is parsed once (a MATERIALIZED CTE on PostgreSQL, where an
inlined expression would be parsed again for every field read from it). One grouped pass
by (scope key, channel, poverty) gives both the per-row sums and the channel table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, distinct, func, literal, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import Subquery

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.events import types as t
from farmtrace.trace.models.projection import BatchProducer
from farmtrace.trace.models.registry import Org
from farmtrace.trace.reports import sql
from farmtrace.trace.reports.queries import Keyer, Rows, Window, _merge

SUMS = ("sales", "sales_mass", "sales_volume", "sales_count")


def sale_rows(w: Window) -> Subquery:
    """(batch, quantity, unit, channel) of each sale in the period, corrections applied."""
    d = w.dialect
    docs = entry_docs(w, t.SOLD, "sale_doc")
    sale_cte = select(
        docs.c.batch,
        docs.c.entry_hash,
        sql.json_text(d, docs.c.doc, "event_time").label("event_time"),
        sql.json_text(d, docs.c.doc, "payload", "quantity").label("quantity"),
        sql.json_text(d, docs.c.doc, "payload", "unit").label("unit"),
        sql.json_text(d, docs.c.doc, "payload", "channel").label("channel"),
    ).cte("sale_entry")
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
    return (
        select(
            sale_cte.c.batch.label("batch"),
            func.coalesce(latest.c.quantity, sale_cte.c.quantity).label("quantity"),
            func.coalesce(latest.c.unit, sale_cte.c.unit).label("unit"),
            func.coalesce(latest.c.channel, sale_cte.c.channel).label("channel"),
        )
        .select_from(sale_cte)
        .outerjoin(latest, latest.c.target == sale_cte.c.entry_hash)
        .where(w.moment_in(sql.moment_of_text(d, sale_cte.c.event_time)))
        .subquery("sale")
    )


def entry_docs(w: Window, entry_type: str, name: str) -> Any:
    """(batch, seq, entry_hash, doc) of the entries of `entry_type` recorded since the period's
    start (less a margin), each entry's JSON parsed once (MATERIALIZED on PostgreSQL)."""
    doc = sql.json_doc(w.dialect, EntryRow.canonical)
    docs = (
        select(EntryRow.batch, EntryRow.seq, EntryRow.entry_hash, doc.label("doc"))
        .where(EntryRow.entry_type == entry_type, EntryRow.recorded_at >= w.recorded_since())
        .cte(name)
    )
    return docs.prefix_with("MATERIALIZED") if w.dialect == "postgresql" else docs


def poverty_batches() -> Subquery:
    """Batches with a registered poverty-alleviation household among their producers."""
    return (
        select(BatchProducer.batch_id)
        .join(Org, Org.id == BatchProducer.org_id)
        .where(Org.poverty_household.is_(True))
        .group_by(BatchProducer.batch_id)
        .subquery("poverty_batch")
    )


def _sums(w: Window, sales: Subquery) -> list[Any]:
    return [
        func.count().label("sales"),
        func.sum(sql.quantity_in(w.dialect, sales.c.quantity, sales.c.unit, "mass")).label("sales_mass"),
        func.sum(sql.quantity_in(w.dialect, sales.c.quantity, sales.c.unit, "volume")).label("sales_volume"),
        func.sum(sql.quantity_in(w.dialect, sales.c.quantity, sales.c.unit, "count")).label("sales_count"),
    ]


def _groups(w: Window) -> list[dict[str, Any]]:
    """Sums per (scope key, channel, poverty), computed once per window."""
    cached = w.memo.get("sale_groups")
    if cached is not None:
        return cached
    s = sale_rows(w)
    poor = poverty_batches()
    is_poor = case((poor.c.batch_id.is_not(None), literal(1)), else_=literal(0))
    k = Keyer(w.scope)
    query = (
        select(k.key.label("key"), s.c.channel.label("channel"), is_poor.label("poor"), *_sums(w, s))
        .select_from(s)
        .outerjoin(poor, poor.c.batch_id == s.c.batch)
    )
    query = k.join(query, s.c.batch)
    if k.keys is not None:
        query = query.group_by(k.key)
    rows = [dict(r) for r in w.session.execute(query.group_by(s.c.channel, is_poor)).mappings()]
    w.memo["sale_groups"] = rows
    return rows


def sales(w: Window) -> Rows:
    out: Rows = {}
    for group in _groups(w):
        row = out.setdefault(group["key"], {})
        for prefix in ("sales", "poverty_sales") if group["poor"] else ("sales",):
            for name in SUMS:
                target = prefix + name[len("sales") :]
                row[target] = _add(row.get(target), group[name])
    s = sale_rows(w)
    k = Keyer(w.scope)
    households = (
        select(k.key.label("key"), func.count(distinct(Org.id)).label("poverty_households_selling"))
        .select_from(s)
        .join(BatchProducer, BatchProducer.batch_id == s.c.batch)
        .join(Org, and_(Org.id == BatchProducer.org_id, Org.poverty_household.is_(True)))
    )
    return _merge(out, w.fetch(k.group(k.join(households, s.c.batch))))


def sales_by_channel(w: Window) -> list[dict[str, Any]]:
    channels: dict[str, dict[str, Any]] = {}
    for group in _groups(w):
        row = channels.setdefault(group["channel"], {"channel": group["channel"]})
        for name in SUMS:
            row[name] = _add(row.get(name), group[name])
    return [channels[c] for c in sorted(channels, key=str)]


def household_sales(w: Window) -> list[dict[str, Any]]:
    """Sales per poverty-alleviation household: PERSONAL DATA, for operator exports only."""
    s = sale_rows(w)
    query = (
        select(Org.id.label("household"), Org.name_zh.label("name_zh"), *_sums(w, s))
        .select_from(s)
        .join(BatchProducer, BatchProducer.batch_id == s.c.batch)
        .join(Org, and_(Org.id == BatchProducer.org_id, Org.poverty_household.is_(True)))
        .group_by(Org.id, Org.name_zh)
        .order_by(Org.id)
    )
    return [dict(row) for row in w.session.execute(query).mappings()]


def _add(total: Any, value: Any) -> Any:
    """Sum two partial sums of the database's type (None is nothing yet)."""
    if value is None:
        return total
    return value if total is None else total + value
