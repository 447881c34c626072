"""A started print job's state transitions: the printing process claims it and reports its
progress (each report in its own short transaction), and the console asks it to pause, resume
or cancel, which that process reads from its next report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from farmtrace.trace.errors import InvalidInput, NotPermitted, RuleViolation
from farmtrace.trace.printing.spans import overlaps, printed_spans
from farmtrace.trace.printing.states import LIVE_STATES, REQUESTS, STATES, is_alive, last_seen
from farmtrace.trace.printing.views import PrintJobView, job_row, view_of


def claim_job(session: Session, job_id: int, runner: str, now: datetime) -> PrintJobView:
    """Make `runner` (host:pid) the process printing the job, from its first unconfirmed label.

    Refused while another live process holds it, when it is done, or when a later job has
    since printed labels it had not confirmed (start a new job for what is left)."""
    row = job_row(session, job_id, lock=True)
    if row.state == "done":
        raise RuleViolation("job", f"job: print job {row.id} is done ({row.confirmed:,} labels)", "job_done")
    if row.runner not in (None, runner) and is_alive(row, now):
        seen = last_seen(row)
        assert seen is not None
        raise RuleViolation(
            "job",
            f"job: print job {row.id} is being printed by {row.runner} (last seen "
            f"{int((now - seen).total_seconds())} s ago); pause or cancel it there first",
            "job_running",
        )
    next_index = row.first_index + row.confirmed
    later = [s for s in printed_spans(session, row.range_id, now, exclude=row.id) if s.job > row.id]
    clashes = overlaps(later, next_index, row.last_index)
    if clashes:
        s = clashes[0]
        raise RuleViolation(
            "job",
            f"job: labels {s.first:,}..{s.last:,} of range {row.range_id} were printed by job {s.job} after "
            f"job {row.id} stopped; start a new job for what is left",
            "already_printed",
        )
    row.runner = runner
    row.state = "running" if next_index <= row.last_index else "done"
    row.requested = None
    row.heartbeat_at = now
    row.ended_at = None if row.state == "running" else now
    row.error = None
    session.flush()
    return view_of(row, now)


def record_progress(
    session: Session,
    job_id: int,
    runner: str,
    now: datetime,
    *,
    confirmed: int | None = None,
    state: str | None = None,
    output_bytes: int | None = None,
    error: str | None = None,
) -> str | None:
    """The printing process reports (and heartbeats); returns the state the console asks for.

    Refused once another process has claimed the job, so a process that was taken for dead
    and comes back cannot overwrite the new one's progress."""
    row = job_row(session, job_id)
    if row.runner != runner:
        raise RuleViolation(
            "job", f"job: print job {row.id} is now held by {row.runner}, not {runner}; stopping", "job_taken"
        )
    if confirmed is not None:
        if not 0 <= confirmed <= row.last_index - row.first_index + 1:
            raise InvalidInput(
                "confirmed",
                f"confirmed: expected 0..{row.last_index - row.first_index + 1}, found {confirmed}",
            )
        row.confirmed = max(row.confirmed, confirmed)
    if output_bytes is not None:
        row.output_bytes = output_bytes
    if error is not None:
        row.error = error[:2000]
    if state is not None:
        if state not in STATES:
            raise InvalidInput("state", f"state: expected one of {', '.join(STATES)}, found {state!r}")
        row.state = state
        if state not in LIVE_STATES:
            row.ended_at = now
            row.requested = None
    row.heartbeat_at = now
    session.flush()
    return row.requested


def request_state(
    session: Session, job_id: int, requested: str, now: datetime, *, station: str, operator: bool = False
) -> tuple[PrintJobView, bool]:
    """The console's pause / resume / cancel. Returns the job and whether a new printing
    process must be started (resuming a job no live process holds)."""
    if requested not in REQUESTS:
        raise InvalidInput(
            "requested", f"requested: expected one of {', '.join(REQUESTS)}, found {requested!r}"
        )
    row = job_row(session, job_id, lock=True)
    if not operator and row.station_org_id != station:
        raise NotPermitted("job", f"job: print job {row.id} belongs to {row.station_org_id}", "not_station")
    if row.state == "done" or (row.state == "cancelled" and requested != "running"):
        raise RuleViolation("job", f"job: print job {row.id} is {row.state}", "job_finished")
    alive = is_alive(row, now)
    start_process = False
    if requested == "cancelled" and not alive:
        row.state, row.ended_at, row.requested = "cancelled", now, None
    elif requested == "running" and not alive:
        start_process = True  # claim_job, in the new process, does the checks
    elif requested == "paused" and not (alive and row.state == "running"):
        raise RuleViolation("job", f"job: print job {row.id} is not running", "job_not_running")
    else:
        row.requested = requested
    session.flush()
    return view_of(row, now), start_process
