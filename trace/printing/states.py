"""A print job's states, what the console may ask for, and when a job counts as alive.

A printing process writes a heartbeat about every second; one silent for STALE_AFTER is taken
for dead: its unconfirmed labels are released and the job may be resumed elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from farmtrace.trace.models.printing import PrintJobRow

STATES: Final = ("running", "paused", "cancelled", "done", "failed")
LIVE_STATES: Final = frozenset({"running", "paused"})
REQUESTS: Final = ("running", "paused", "cancelled")  # what the console may ask for
STALE_AFTER: Final = timedelta(seconds=60)


def aware(moment: datetime | None) -> datetime | None:
    """`moment` with its UTC offset: SQLite keeps no offset, so times stored in UTC read back naive."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def last_seen(row: PrintJobRow) -> datetime | None:
    """When the job's process was last heard of: its last heartbeat, else the job's start."""
    return aware(row.heartbeat_at or row.started_at)


def is_alive(row: PrintJobRow, now: datetime) -> bool:
    """A printing process holds the job: it is running or paused and not silent for STALE_AFTER."""
    seen = last_seen(row)
    return row.state in LIVE_STATES and seen is not None and now - seen < STALE_AFTER
