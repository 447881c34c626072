"""Which labels of a code range are printed or reserved, and where the next unprinted ones are.

While a job runs, its whole span is reserved; once it stops (done, cancelled, failed, or its
process went silent for STALE_AFTER) only the labels it confirmed count as printed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.trace.codes.models import CodeRange, CodeVoid
from farmtrace.trace.codes.ranges import batch_ranges
from farmtrace.trace.errors import RuleViolation
from farmtrace.trace.models.printing import PrintJobRow
from farmtrace.trace.models.registry import Org
from farmtrace.trace.printing.states import is_alive


@dataclass(frozen=True)
class Span:
    """Labels first..last (inclusive) of a range, printed or reserved by job `job`."""

    first: int
    last: int
    job: int
    state: str


def printed_spans(session: Session, range_id: int, now: datetime, exclude: int | None = None) -> list[Span]:
    """Labels of the range that are printed (confirmed) or reserved by a live job, in order."""
    query = select(PrintJobRow).where(PrintJobRow.range_id == range_id)
    if exclude is not None:
        query = query.where(PrintJobRow.id != exclude)
    spans = []
    for row in session.scalars(query):
        if is_alive(row, now):
            spans.append(Span(row.first_index, row.last_index, row.id, row.state))
        elif row.confirmed:
            spans.append(Span(row.first_index, row.first_index + row.confirmed - 1, row.id, row.state))
    return sorted(spans, key=lambda s: (s.first, s.last))


def overlaps(spans: Iterable[Span], first: int, last: int) -> list[Span]:
    """The parts of `spans` that fall within labels first..last."""
    return [
        Span(max(s.first, first), min(s.last, last), s.job, s.state)
        for s in spans
        if s.first <= last and s.last >= first
    ]


def union(spans: Iterable[Span]) -> list[tuple[int, int]]:
    """The labels `spans` cover, as (first, last) runs in order, touching runs merged."""
    merged: list[tuple[int, int]] = []
    for span in sorted(spans, key=lambda s: s.first):
        if merged and span.first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span.last))
        else:
            merged.append((span.first, span.last))
    return merged


def free_runs(session: Session, rng: CodeRange, now: datetime) -> list[tuple[int, int]]:
    """The unprinted labels of a range as (first, last) runs, in order."""
    runs, start = [], 0
    for first, last in union(printed_spans(session, rng.id, now)):
        if first > start:
            runs.append((start, first - 1))
        start = max(start, last + 1)
    if start < rng.count:
        runs.append((start, rng.count - 1))
    return runs


def range_voided(session: Session, rng: CodeRange) -> bool:
    """The whole range is voided: none of its codes may be printed."""
    voids = session.scalars(select(CodeVoid.count).where(CodeVoid.range_id == rng.id))
    return any(count == rng.count for count in voids)


def next_unprinted(
    session: Session,
    batch_id: str,
    count: int,
    now: datetime,
    *,
    range_id: int | None = None,
    station: str | None = None,
) -> tuple[int, int]:
    """(range id, first index) of the first `count` unprinted labels in a row of the batch's
    ranges (those `station` may print, unless it is the operator)."""
    ranges = batch_ranges(session, batch_id, range_id)
    org = session.get(Org, station) if station is not None else None
    if org is not None and org.kind != "operator":
        ranges = [r for r in ranges if r.station_org_id == station]
    free = largest = 0
    where = None
    for rng in ranges:
        if range_voided(session, rng):
            continue
        for first, last in free_runs(session, rng, now):
            length = last - first + 1
            if length >= count:
                return rng.id, first
            free += length
            if length > largest:
                largest, where = length, rng.id
    if not ranges:
        raise RuleViolation(
            "batch", f"batch: {batch_id} has no issued codes{_for(station)}; issue codes first", "no_codes"
        )
    if free == 0:
        raise RuleViolation(
            "count",
            f"count: every issued code of batch {batch_id} is printed; issue more codes first",
            "no_codes",
        )
    raise RuleViolation(
        "count",
        f"count: batch {batch_id} has {free:,} unprinted codes but at most {largest:,} in a row "
        f"(range {where}), found a request for {count:,}; print at most {largest:,} or issue more codes",
        "not_enough_codes",
    )


def _for(station: str | None) -> str:
    return "" if station is None else f" that {station} may print"
