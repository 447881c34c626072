"""What `farmtrace print` tells the operator: the progress bar, the job lines of --list, and
the lines that say where a job starts, how it ended and how to resume it."""

from __future__ import annotations

import sys

import click

from farmtrace.trace import printing
from farmtrace.trace.printing import PrintJobView


class Bar:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, job: PrintJobView) -> None:
        self._bar = None
        self.shown = 0
        if sys.stderr.isatty():
            self._bar = click.progressbar(length=job.count, label=f"job {job.id}", file=sys.stderr)
            self._bar.__enter__()
            self.show(job.confirmed)

    def show(self, done: int) -> None:
        if self._bar is not None and done > self.shown:
            self._bar.update(done - self.shown)
        self.shown = max(self.shown, done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def listed(job: PrintJobView) -> list[str]:
    """A job's line in --list, with its reprint reason and its error below when it has them."""
    stale = "" if job.alive or job.state not in printing.LIVE_STATES else " (stale)"
    lines = [
        f"job {job.id}  {job.state}{stale}  "
        f"batch {job.batch_id} range {job.range_id} labels {job.first_index:,}..{job.last_index:,}  "
        f"{job.confirmed:,}/{job.count:,} confirmed  {job.format} {job.layout}  {job.printer}  "
        f"{job.started_at.isoformat(timespec='seconds')}"
    ]
    if job.reprint:
        lines.append(f"    REPRINT: {job.reprint_reason}")
    if job.error and job.state == "failed":
        lines.append(f"    error: {job.error}")
    return lines


def started(job: PrintJobView) -> str:
    reprint = f" REPRINT ({job.reprint_reason})" if job.reprint else ""
    return (
        f"job {job.id}: batch {job.batch_id} range {job.range_id} labels {job.first_index:,}.."
        f"{job.last_index:,} ({job.count:,}) as {job.format} {job.layout} to {job.printer}{reprint}"
    )


def resuming(job: PrintJobView) -> str:
    return f"job {job.id}: resuming at label {job.next_index:,} of range {job.range_id}"


def done(job: PrintJobView) -> str:
    return f"job {job.id} done: {job.confirmed:,} labels confirmed"


def how_far(job: PrintJobView, confirmed: int) -> str:
    """For a job that ended before its last label: how far it got and how to go on."""
    return f"{confirmed:,} of {job.count:,} labels confirmed; resume with: farmtrace print --resume {job.id}"
