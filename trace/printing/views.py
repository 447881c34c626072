"""Reading print jobs: the PrintJobView every caller gets, one job by id, and the job list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.trace.errors import NotFound
from farmtrace.trace.models.printing import PrintJobRow
from farmtrace.trace.printing.states import aware, is_alive


@dataclass(frozen=True)
class PrintJobView:
    id: int
    batch_id: str
    range_id: int
    first_index: int
    last_index: int
    station: str
    layout: str
    format: str
    dpi: int | None
    printer: str
    packed_on: date
    brand: str | None
    state: str
    confirmed: int
    started_at: datetime
    ended_at: datetime | None
    reprint: bool
    reprint_reason: str | None
    requested: str | None
    runner: str | None
    heartbeat_at: datetime | None
    output_bytes: int | None
    error: str | None
    alive: bool  # a printing process is holding it (checked at read time)
    created: bool = True  # False when a retry with the same client_id found this job

    @property
    def count(self) -> int:
        return self.last_index - self.first_index + 1

    @property
    def next_index(self) -> int:
        """The first label not yet confirmed: where a resumed run starts."""
        return self.first_index + self.confirmed

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled")

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.id,
            "batch": self.batch_id,
            "range": self.range_id,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "count": self.count,
            "confirmed": self.confirmed,
            "state": self.state,
            "alive": self.alive,
            "station": self.station,
            "layout": self.layout,
            "format": self.format,
            "dpi": self.dpi,
            "printer": self.printer,
            "packed_on": self.packed_on.isoformat(),
            "brand": self.brand,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "reprint": self.reprint,
            "reprint_reason": self.reprint_reason,
            "requested": self.requested,
            "error": self.error,
        }


def view_of(row: PrintJobRow, now: datetime, created: bool = True) -> PrintJobView:
    """The job as callers see it, with `alive` decided at `now`."""
    started = aware(row.started_at)
    assert started is not None
    return PrintJobView(
        id=row.id,
        batch_id=row.batch_id,
        range_id=row.range_id,
        first_index=row.first_index,
        last_index=row.last_index,
        station=row.station_org_id,
        layout=row.layout,
        format=row.format,
        dpi=row.dpi,
        printer=row.printer,
        packed_on=row.packed_on,
        brand=row.brand,
        state=row.state,
        confirmed=row.confirmed,
        started_at=started,
        ended_at=aware(row.ended_at),
        reprint=row.reprint,
        reprint_reason=row.reprint_reason,
        requested=row.requested,
        runner=row.runner,
        heartbeat_at=aware(row.heartbeat_at),
        output_bytes=row.output_bytes,
        error=row.error,
        alive=is_alive(row, now),
        created=created,
    )


def job_row(session: Session, job_id: int, lock: bool = False) -> PrintJobRow:
    """The job's row (locked for update with `lock`), or NotFound."""
    row = session.get(PrintJobRow, job_id, with_for_update=lock) if isinstance(job_id, int) else None
    if row is None:
        raise NotFound("job", f"job: no print job {job_id!r}")
    return row


def get_job(session: Session, job_id: int, now: datetime) -> PrintJobView:
    return view_of(job_row(session, job_id), now)


def list_jobs(
    session: Session,
    now: datetime,
    *,
    batch_id: str | None = None,
    station: str | None = None,
    limit: int = 100,
) -> list[PrintJobView]:
    """Newest first."""
    query = select(PrintJobRow).order_by(PrintJobRow.id.desc()).limit(limit)
    if batch_id is not None:
        query = query.where(PrintJobRow.batch_id == batch_id)
    if station is not None:
        query = query.where(PrintJobRow.station_org_id == station)
    return [view_of(row, now) for row in session.scalars(query)]
