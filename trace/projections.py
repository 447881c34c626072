"""Keeping the projection tables in step with the ledger, and rebuilding them from it.

After an entry is appended, `commit` applies it to the batch's state and writes only what
that entry changed (the batch row, and child rows keyed by its seq); `write_appended` does
the same once for several entries a bulk applied to the state itself. A registration's
lineage edges read the inputs' take rows (what left each input, and into how many outputs),
so those are written first, also by a rebuild. A correction rewrites the batch's rows
(`write_full`). `rebuild_projections` deletes every projection row and replays every batch
chain; `snapshot` lets a test (or `farmtrace batches rebuild --check`) compare the two
paths row for row.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Ledger, StoredEntry
from farmtrace.ledger.models import Chain
from farmtrace.trace.errors import NotFound
from farmtrace.trace.models.projection import (
    Batch,
    BatchCertificate,
    BatchFlag,
    BatchProducer,
    LabTest,
    LineageEdge,
    LineageTake,
    Recall,
)
from farmtrace.trace.state import BatchState, Edge, Event, apply, replay
from farmtrace.trace.text import format_decimal

BATCH_CHAIN = re.compile(r"B[0-9A-HJKMNP-TV-Z]{12}\Z")
# Children first: the order rows must be deleted in (and the reverse of insertion).
CHILD_TABLES = (BatchFlag, BatchCertificate, LabTest, Recall, LineageTake, LineageEdge, BatchProducer)


def chain_events(session: Session, batch_id: str) -> list[Event]:
    return [Event.from_stored(s) for s in Ledger(session).entries(batch_id)]


def require_batch_id(batch_id: object, field: str = "batch") -> str:
    if not isinstance(batch_id, str) or not BATCH_CHAIN.match(batch_id):
        shown = batch_id if not isinstance(batch_id, str) else batch_id[:64]
        raise NotFound(field, f"{field}: no batch {shown!r}")
    return batch_id


def load_state(session: Session, batch_id: str, field: str = "batch") -> BatchState:
    """The batch's state, replayed from its chain in the ledger (the record, not the projection)."""
    require_batch_id(batch_id, field)
    events = chain_events(session, batch_id)
    if not events:
        raise NotFound(field, f"{field}: no batch {batch_id!r}")
    return replay(events)


def commit(session: Session, state: BatchState | None, stored: StoredEntry) -> BatchState:
    """Apply a just-appended entry to `state` (None for a registration) and write its rows."""
    event = Event.from_stored(stored)
    if state is None:
        state = replay([event])
        _write_batch(session, state)
        session.flush()
        _write_children(session, state, seqs={0})
        _write_lineage(session, state)
    else:
        flags_before = len(state.flags)
        apply(state, event)
        _write_batch(session, state)
        _write_children(session, state, seqs={event.seq})
        assert all(f.seq == event.seq for f in state.flags[flags_before:])
    session.flush()
    return state


def write_appended(session: Session, state: BatchState, seqs: Collection[int]) -> None:
    """Write what the entries `seqs` (already applied to `state`, none a registration or a
    correction) changed: the batch row once, and their child rows."""
    _write_batch(session, state)
    _write_children(session, state, seqs=set(seqs))


def write_full(session: Session, state: BatchState) -> None:
    """Replace every projection row of one batch (after a correction changed its past)."""
    for table in CHILD_TABLES[:-2]:
        session.execute(delete(table).where(table.batch_id == state.id))
    _write_batch(session, state)
    session.flush()
    _write_children(session, state, seqs=None)
    session.flush()


def rebuild_projections(session: Session) -> int:
    """Delete all projection rows and recompute them from the ledger; returns the batch count."""
    for table in (*CHILD_TABLES, Batch):
        session.execute(delete(table))
    session.flush()
    chains = [c for c in session.scalars(select(Chain.batch).order_by(Chain.batch)) if BATCH_CHAIN.match(c)]
    states = [replay(chain_events(session, chain)) for chain in chains]
    for state in states:  # every batch row first: child rows refer to other batches
        _write_batch(session, state)
    session.flush()
    for state in states:
        _write_children(session, state, seqs=None)
    session.flush()
    for state in states:  # edges read the inputs' take rows, written just above
        _write_lineage(session, state)
    session.flush()
    return len(states)


def _write_batch(session: Session, state: BatchState) -> None:
    row = session.get(Batch, state.id)
    if row is None:
        row = Batch(id=state.id)
        session.add(row)
    row.product_id = state.product
    row.lot = state.lot
    row.owner_org_id = state.owner
    row.origin_place_id = state.origin_place
    row.origin = state.origin
    row.unit = state.unit
    row.production_date = state.production_date
    row.registered_at = _utc(state.registered_at)
    row.custodian_org_id = state.custodian
    row.location_place_id = state.location
    row.quantity_in = format_decimal(state.quantity_in)
    row.quantity_out = format_decimal(state.quantity_out)
    row.packed_packages = state.packed_packages
    row.conformity = state.conformity
    row.recalled = state.recalled
    row.head_seq = state.head_seq


def _write_lineage(session: Session, state: BatchState) -> None:
    """The rows of the registration (seq 0) that name other batches: producers, input edges."""
    for producer in state.producers:
        session.add(BatchProducer(batch_id=state.id, org_id=producer))
    for edge in state.inputs:
        quantity, unit = _edge_quantity(session, edge)
        session.add(
            LineageEdge(
                parent_batch_id=edge.parent,
                child_batch_id=state.id,
                kind=edge.kind,
                operation=edge.operation,
                quantity=quantity,
                unit=unit,
            )
        )


def _edge_quantity(session: Session, edge: Edge) -> tuple[str | None, str | None]:
    """How much of the parent went into the child, or (None, None) when the record does not
    say: a transform's `lineage.inputs` give what the operation took from each input in all,
    which went into this output only if the operation made no other (the input's take row,
    from its lineage.transformed entry, counts the outputs). Entries recorded before shares
    existed are read the same way, so their edges no longer overstate."""
    if edge.share is not None:
        return format_decimal(edge.share), edge.share_unit
    outputs = session.scalar(
        select(LineageTake.outputs).where(
            LineageTake.batch_id == edge.parent, LineageTake.operation == edge.operation
        )
    )
    if outputs == 1:
        return format_decimal(edge.quantity), edge.unit
    return None, None


def _write_children(session: Session, state: BatchState, seqs: Collection[int] | None) -> None:
    """Insert the child rows created by the entries `seqs` (all of them when seqs is None),
    but for the registration's producers and edges (_write_lineage)."""

    def wanted(item_seq: int) -> bool:
        return seqs is None or item_seq in seqs

    for take in state.takes:
        if wanted(take.seq):
            session.add(
                LineageTake(
                    batch_id=state.id,
                    seq=take.seq,
                    operation=take.operation,
                    kind=take.kind,
                    quantity=format_decimal(take.quantity),
                    unit=take.unit,
                    outputs=len(take.outputs),
                )
            )
    for flag in state.flags:
        if wanted(flag.seq):
            session.add(
                BatchFlag(
                    batch_id=state.id,
                    seq=flag.seq,
                    idx=flag.idx,
                    kind=flag.kind,
                    message=flag.message,
                    event_time=_utc(flag.event_time),
                )
            )
    for cert in state.certificates:
        if wanted(cert.seq):
            session.add(
                BatchCertificate(
                    batch_id=state.id,
                    seq=cert.seq,
                    scheme=cert.scheme,
                    number=cert.number,
                    issuer=cert.issuer,
                    valid_from=cert.valid_from,
                    valid_until=cert.valid_until,
                )
            )
    for test in state.lab_tests:
        if wanted(test.seq):
            session.add(
                LabTest(
                    batch_id=state.id,
                    seq=test.seq,
                    lab_org_id=test.lab,
                    sample_id=test.sample_id,
                    verdict=test.verdict,
                    report_sha256=test.report_sha256,
                    tested_at=_utc(test.tested_at),
                    results=test.results,
                )
            )
    for recall in state.recalls.values():
        if wanted(recall.issue_seq):
            session.add(_recall_row(state.id, recall))
        elif recall.lift_seq is not None and wanted(recall.lift_seq):
            row = session.get(Recall, (recall.recall_id, state.id))
            assert row is not None
            row.lifted_at = None if recall.lifted_at is None else _utc(recall.lifted_at)
            row.lift_seq = recall.lift_seq


def _recall_row(batch_id: str, recall: Any) -> Recall:
    return Recall(
        recall_id=recall.recall_id,
        batch_id=batch_id,
        origin_batch_id=recall.origin,
        reason=recall.reason,
        issued_by=recall.issued_by,
        issued_at=_utc(recall.issued_at),
        issue_seq=recall.issue_seq,
        lifted_at=None if recall.lifted_at is None else _utc(recall.lifted_at),
        lift_seq=recall.lift_seq,
    )


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection row as plain sorted tuples (times in UTC), for comparing two databases."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in (Batch, *CHILD_TABLES):
        columns = [c.key for c in table.__table__.columns]
        rows = session.scalars(select(table)).all()
        out[table.__tablename__] = sorted(
            (tuple(_plain(getattr(row, name)) for name in columns) for row in rows), key=repr
        )
    return out


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no offset: a time stored with +08:00 would read back 8 hours off as UTC.
    return moment.astimezone(UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    return value
