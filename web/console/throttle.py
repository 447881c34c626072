"""Slowing down and locking out password guessing, per user name and per client.

Every login attempt is first *claimed*: the counters of its user name and its client are
read under a row lock, and the attempt is refused outright (the password is not checked)
while a counter says to wait or is locked. A claimed attempt counts as a failure at once,
before scrypt runs, so parallel guesses from several workers each see the others; a
successful login then clears the user name's counter and takes its attempt back from the
client's. The counters live in console_login_throttle, so every worker and every
instance agrees.

Policy (per counter): the first FREE failures cost nothing (typos); after that the next
attempt must wait 2**(failures - FREE) seconds, at most MAX_DELAY; at LOCK_AFTER failures
the counter is locked for LOCK_FOR. Failures older than FORGET_AFTER, and a lock that has
run out, start the count again. A client is an HMAC of its address (no raw IP is stored).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from farmtrace.web.console.models import LoginThrottle


@dataclass(frozen=True)
class Policy:
    free: int
    lock_after: int
    lock_for: timedelta = timedelta(minutes=15)
    max_delay: timedelta = timedelta(seconds=60)
    forget_after: timedelta = timedelta(hours=1)

    def delay(self, failures: int) -> timedelta:
        if failures < self.free:
            return timedelta(0)
        return min(timedelta(seconds=2 ** (failures - self.free)), self.max_delay)


USER_POLICY = Policy(free=3, lock_after=10)
# An office or a village station may put many people behind one address: more room.
CLIENT_POLICY = Policy(free=10, lock_after=50)


@dataclass(frozen=True)
class Refusal:
    locked: bool  # True: locked out; False: asked to wait
    retry_after: int  # seconds


def user_key(username: str) -> str:
    return "user:" + username.strip().lower()[:64]


def client_key(secret: bytes, address: str | None) -> str:
    digest = hmac.new(secret, (address or "unknown").encode("utf-8"), hashlib.sha256).hexdigest()
    return "client:" + digest[:32]


def claim(session: Session, keys: dict[str, Policy], now: datetime) -> Refusal | None:
    """Count one attempt against every key, or return why it may not be made now."""
    rows = {key: _locked_row(session, key) for key in sorted(keys)}
    refusals = [r for key, row in rows.items() if (r := _refusal(row, keys[key], now)) is not None]
    if refusals:
        locked = [r for r in refusals if r.locked]
        return max(locked or refusals, key=lambda r: r.retry_after)
    for key, row in rows.items():
        policy = keys[key]
        row.failures = _live_failures(row, policy, now) + 1
        row.last_failure_at = now
        row.locked_until = now + policy.lock_for if row.failures >= policy.lock_after else None
    session.flush()
    return None


def succeeded(session: Session, user: str, client: str, now: datetime) -> None:
    """The claimed attempt was right: forget the user name's failures, and take back the
    client's one, so a colleague behind the same address need not wait because of it."""
    row = session.get(LoginThrottle, user)
    if row is not None:
        session.delete(row)
    row = session.get(LoginThrottle, client)
    if row is not None and row.failures > 0:
        row.failures -= 1
        row.last_failure_at = now - CLIENT_POLICY.delay(row.failures)
        if row.failures < CLIENT_POLICY.lock_after:
            row.locked_until = None
    session.flush()


def clear(session: Session, key: str) -> None:
    """Lift a lock by hand (the operator unlocking a user)."""
    row = session.get(LoginThrottle, key)
    if row is not None:
        session.delete(row)
        session.flush()


def locked_until(session: Session, key: str, now: datetime) -> datetime | None:
    row = session.get(LoginThrottle, key)
    if row is None or row.locked_until is None:
        return None
    until = _aware(row.locked_until)
    return until if until > now else None


def _refusal(row: LoginThrottle, policy: Policy, now: datetime) -> Refusal | None:
    if row.locked_until is not None and now < _aware(row.locked_until):
        return Refusal(True, _seconds(_aware(row.locked_until) - now))
    failures = _live_failures(row, policy, now)
    ready = _aware(row.last_failure_at) + policy.delay(failures)
    if failures and now < ready:
        return Refusal(False, _seconds(ready - now))
    return None


def _live_failures(row: LoginThrottle, policy: Policy, now: datetime) -> int:
    if row.locked_until is not None and now >= _aware(row.locked_until):
        return 0  # the lock has run out: a fresh start
    if now - _aware(row.last_failure_at) > policy.forget_after:
        return 0
    return row.failures


def _locked_row(session: Session, key: str) -> LoginThrottle:
    """The key's row, inserted if missing, locked for this transaction (PostgreSQL; SQLite's
    write transactions are serialised already)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, last_failure_at=datetime(2000, 1, 1, tzinfo=UTC), locked_until=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
