"""Counting scans without making every scan wait for every other (docs/codes.md §10).

A counted scan appends one row to codes_scan (the log) and one to codes_scan_inbox (a
queue); it reads or writes no shared row, so on PostgreSQL scans of one item, or of a
million items, insert in parallel (SQLite has one writer whatever we do). `flush_scans`
takes inbox rows out with DELETE ... RETURNING, which hands each row to exactly one
flusher even when several run at once, and adds them to the per-item codes_scan_tally
with an upsert in the same transaction: each scan is counted once, and the tallies are
exact after a flush. Until then `scan_summary` adds the item's pending inbox rows, so
the count a consumer sees is exact at any time.

A scan page costs few round trips: `record_scan` is one statement on PostgreSQL (both
inserts in one WITH) and two on SQLite, and `item_scans` reads the tally, the pending
inbox rows and the recent places in one statement.

No raw IP address is stored. The client is an HMAC of its address under a random salt of
the day, and the place is an HMAC of its network (/16 for IPv4, /32 for IPv6) under the
same salt; salts of past days are deleted, after which no hash can be tied to an address
again, not even by us.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import bindparam, case, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from farmtrace.trace.codes.models import Scan, ScanInbox, ScanSalt, ScanTally

FLUSH_BATCH: Final = 10_000
_IN_CHUNK: Final = 5_000
CLIENT_HASH_BYTES: Final = 16


@dataclass(frozen=True)
class Scanner:
    """Who scanned, as stored: a salted client hash and a coarse place."""

    client_hash: bytes
    place: str | None


@dataclass(frozen=True)
class ScanSummary:
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class ItemScans:
    """An item's scans as its scan page shows them."""

    summary: ScanSummary | None  # None: never scanned
    recent_places: int  # distinct places among its latest scans in the window asked for


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def salt_for(session: Session, day: date) -> bytes:
    """The salt of `day`, created on first use; every worker and instance reads the same one."""
    session.execute(
        _insert(session, ScanSalt)
        .values(day=day, salt=secrets.token_bytes(32))
        .on_conflict_do_nothing(index_elements=["day"])
    )
    return session.scalars(select(ScanSalt.salt).where(ScanSalt.day == day)).one()


def purge_salts(session: Session, today: date) -> int:
    """Delete the salts of days before `today`; their hashes can no longer be recomputed."""
    return session.execute(delete(ScanSalt).where(ScanSalt.day < today)).rowcount or 0


class SaltCache:
    """Per-process cache of today's salt, so a scan costs no extra query after the first."""

    def __init__(self) -> None:
        self._day: date | None = None
        self._salt = b""

    def get(self, day: date, load: Callable[[date], bytes]) -> bytes:
        if self._day != day:
            self._salt = load(day)
            self._day = day
        return self._salt


def scanner_for(salt: bytes, address: str | None) -> Scanner:
    """Hash a client address into (client hash, coarse place); the address is not kept."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        packed = ip.packed
        network = packed[:2] if ip.version == 4 else packed[:4]
    except ValueError:
        packed = network = text.encode("utf-8", "replace")
    client = hmac.new(salt, b"client\0" + packed, hashlib.sha256).digest()[:CLIENT_HASH_BYTES]
    place = "n" + hmac.new(salt, b"network\0" + network, hashlib.sha256).digest()[:5].hex()
    return Scanner(client, place)


# Built once (building a statement costs more than running it). Core inserts, not
# session.add: a scan needs no unit of work, and the ORM flush was most of its cost.
# The tables, not the mapped classes: Session.execute would take an ORM insert down its
# bulk path, which a data-modifying WITH does not go through.
_SCANS = Scan.__table__
_INBOX = ScanInbox.__table__
_SCAN_ROW = insert(_SCANS).values(
    n=bindparam("n"), scanned_at=bindparam("at"), place=bindparam("place"), client_hash=bindparam("client")
)
_INSERT_SCAN = _SCAN_ROW.returning(_SCANS.c.id)
_INSERT_INBOX = insert(_INBOX).values(scan_id=bindparam("scan_id"), n=bindparam("n"))
# PostgreSQL runs both inserts in one statement (a data-modifying WITH); SQLite cannot.
_LOGGED = _SCAN_ROW.returning(_SCANS.c.id, _SCANS.c.n).cte("logged")
_INSERT_BOTH = (
    insert(_INBOX)
    .from_select(["scan_id", "n"], select(_LOGGED.c.id, _LOGGED.c.n))
    .returning(_INBOX.c.scan_id)
)


def record_scan(session: Session, n: int, at: datetime, scanner: Scanner) -> int:
    """Append one scan of item n (log row and inbox row); returns its id. Does not commit."""
    params = {"n": n, "at": at, "place": scanner.place, "client": scanner.client_hash}
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(_INSERT_BOTH, params).scalar_one())
    scan_id = int(session.execute(_INSERT_SCAN, params).scalar_one())
    session.execute(_INSERT_INBOX, {"scan_id": scan_id, "n": n})
    return scan_id


def flush_scans(session: Session, limit: int = FLUSH_BATCH) -> int:
    """Move up to `limit` inbox rows into the tallies; returns how many. Does not commit."""
    oldest = select(ScanInbox.scan_id).order_by(ScanInbox.scan_id).limit(limit).scalar_subquery()
    taken = list(
        session.scalars(delete(ScanInbox).where(ScanInbox.scan_id.in_(oldest)).returning(ScanInbox.scan_id))
    )
    if not taken:
        return 0
    totals: dict[int, list[Any]] = {}
    for start in range(0, len(taken), _IN_CHUNK):
        chunk = taken[start : start + _IN_CHUNK]
        rows = session.execute(select(Scan.n, Scan.scanned_at, Scan.place).where(Scan.id.in_(chunk)))
        for n, at, place in rows:
            at = _aware(at)
            total = totals.get(n)
            if total is None:
                totals[n] = [1, at, at, place]
            else:
                total[0] += 1
                if at < total[1]:
                    total[1], total[3] = at, place
                total[2] = max(total[2], at)
    _upsert_tallies(session, totals)
    session.flush()
    return len(taken)


def _upsert_tallies(session: Session, totals: dict[int, list[Any]]) -> None:
    if not totals:
        return
    statement = _insert(session, ScanTally)
    excluded = statement.excluded
    tally = ScanTally.__table__.c
    earlier = excluded.first_at < tally.first_at
    statement = statement.on_conflict_do_update(
        index_elements=["n"],
        set_={
            "count": tally["count"] + excluded["count"],
            "first_at": case((earlier, excluded.first_at), else_=tally.first_at),
            "first_place": case((earlier, excluded.first_place), else_=tally.first_place),
            "last_at": case((excluded.last_at > tally.last_at, excluded.last_at), else_=tally.last_at),
        },
    )
    values = [
        {"n": n, "count": c, "first_at": first, "last_at": last, "first_place": place}
        for n, (c, first, last, place) in sorted(totals.items())
    ]
    for start in range(0, len(values), 1000):
        session.execute(statement, values[start : start + 1000])


# Built once: building a statement costs more than running it on an index.
_PENDING = (
    select(func.count(), func.min(Scan.scanned_at), func.max(Scan.scanned_at))
    .select_from(ScanInbox)
    .join(Scan, Scan.id == ScanInbox.scan_id)
    .where(ScanInbox.n == bindparam("n"))
)
_RECENT_PLACES = (
    select(Scan.place)
    .where(Scan.n == bindparam("n"), Scan.scanned_at >= bindparam("since"))
    .order_by(Scan.scanned_at.desc())
    .limit(bindparam("limit"))
)


def scan_summary(session: Session, n: int) -> ScanSummary | None:
    """Item n's scans: the tally plus scans still in the inbox (exact at any time)."""
    tally = session.get(ScanTally, n)
    pending_count, pending_first, pending_last = session.execute(_PENDING, {"n": n}).one()
    firsts = [_aware(t) for t in (tally and tally.first_at, pending_first) if t is not None]
    lasts = [_aware(t) for t in (tally and tally.last_at, pending_last) if t is not None]
    count = (tally.count if tally else 0) + pending_count
    if count == 0:
        return None
    return ScanSummary(count=count, first_at=min(firsts), last_at=max(lasts))


_PENDING_ROW = _PENDING.subquery("pending")
_RECENT_PLACE_COUNT = select(
    func.count(func.distinct(_RECENT_PLACES.subquery("recent").c.place))
).scalar_subquery()
# One row whatever the item's state: the pending aggregate always has one, the tally is
# joined if present (LEFT JOIN ... ON the key alone), the place count rides along.
_ITEM_SCANS = (
    select(
        ScanTally.count,
        ScanTally.first_at,
        ScanTally.last_at,
        *_PENDING_ROW.c,
        _RECENT_PLACE_COUNT,
    )
    .select_from(_PENDING_ROW)
    .outerjoin(ScanTally, ScanTally.n == bindparam("n"))
)


def item_scans(session: Session, n: int, since: datetime, limit: int = 500) -> ItemScans:
    """scan_summary and the number of recent_places, in one statement."""
    row = session.execute(_ITEM_SCANS, {"n": n, "since": since, "limit": limit}).one()
    tally_count, tally_first, tally_last, pending_count, pending_first, pending_last, places = row
    count = (tally_count or 0) + pending_count
    if count == 0:
        return ItemScans(None, 0)
    firsts = [_aware(t) for t in (tally_first, pending_first) if t is not None]
    lasts = [_aware(t) for t in (tally_last, pending_last) if t is not None]
    return ItemScans(ScanSummary(count, min(firsts), max(lasts)), int(places or 0))


def recent_places(session: Session, n: int, since: datetime, limit: int = 500) -> set[str]:
    """Distinct places of item n's latest scans since `since` (at most `limit` scans read)."""
    found = session.scalars(_RECENT_PLACES, {"n": n, "since": since, "limit": limit})
    return {place for place in found if place is not None}


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every time stored here is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
