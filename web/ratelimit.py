"""Rate limits per token and per client on writes, scans and unknown-code lookups.

Fixed windows: each limit allows `count` requests per `seconds`, counted per subject (the
SHA-256 of a bearer token as presented, or the client's address, each as an HMAC so no
address or token is stored) and per window. Over the limit the answer is 429 problem+json
with Retry-After (the seconds until the window ends).

Where the counts live:
- PostgreSQL: the table rate_limit_counter (UNLOGGED: no WAL, emptied by a crash, which
  only forgets counts), one upsert per limited request on its own autocommitted
  connection, so every worker of every instance shares one count and no request holds the
  row while it runs. A database that cannot be reached lets requests through (fail open):
  the request would fail on its own anyway.
- SQLite: in each process's memory. With W gunicorn workers a client can get up to W
  times a limit before every worker has seen it; a SQLite deployment is one small machine.

Which requests count (the checks run before authentication, so floods of bad tokens are
limited per client too):
- write: unsafe methods under /api/ — per token (`write-token`) and per client (`write-client`);
- scan: GET of a code's URI (/01/..., /c/..., /C/...) — per client (`scan-client`);
- unknown: a 404 from those routes or from /api/v1/codes/ is charged to the client
  afterwards (`unknown-client`); a client over it is refused further lookups for the rest
  of the window. This is a deployment-wide cap above the resolver's own per-worker bucket
  (farmtrace.trace.codes.throttle), which stays the first line.

Clients are told apart by request.remote_addr; behind a load balancer set
FARMTRACE_PROXY_HOPS to the number of proxies that append X-Forwarded-For, or every client
is the balancer (docs/operations.md, "Rate limits").
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from flask import Flask, Response, current_app, g, request
from sqlalchemy import BigInteger, Engine, Integer, LargeBinary, String, delete, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.middleware.proxy_fix import ProxyFix

from farmtrace.ledger.db import Base
from farmtrace.ledger.keys import MasterKey
from farmtrace.web.problems import PROBLEM_TYPE_BASE, problem_response
from farmtrace.web.settings import ConfigError

log = logging.getLogger("farmtrace.ratelimit")

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
SCAN_PREFIXES: Final = ("/01/", "/c/", "/C/")
UNKNOWN_PREFIXES: Final = (*SCAN_PREFIXES, "/api/v1/codes/")
SUBJECT_BYTES: Final = 16
PURGE_EVERY_S: Final = 60.0


@dataclass(frozen=True)
class Limit:
    name: str
    count: int  # 0: no limit
    seconds: int

    def describe(self) -> str:
        return f"{self.count} per {self.seconds} s"


# name -> (environment variable, default "count/seconds")
DEFAULTS: Final[Mapping[str, tuple[str, str]]] = {
    "write-token": ("FARMTRACE_RATE_LIMIT_WRITE_TOKEN", "1200/60"),
    "write-client": ("FARMTRACE_RATE_LIMIT_WRITE_CLIENT", "2400/60"),
    # Generous: a carrier's NAT can put a whole town's phones behind one address.
    "scan-client": ("FARMTRACE_RATE_LIMIT_SCAN_CLIENT", "600/60"),
    "unknown-client": ("FARMTRACE_RATE_LIMIT_UNKNOWN_CLIENT", "300/3600"),
}
WHAT: Final[Mapping[str, str]] = {
    "write-token": "writes with this token",
    "write-client": "writes from this client",
    "scan-client": "scans from this client",
    "unknown-client": "lookups of unknown codes from this client",
}


@dataclass(frozen=True)
class RateLimits:
    limits: Mapping[str, Limit]
    proxy_hops: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        if env.get("FARMTRACE_RATE_LIMITS", "on").lower() == "off":
            return cls({name: Limit(name, 0, 1) for name in DEFAULTS}, _hops(env))
        return cls({name: _limit(env, name, *spec) for name, spec in DEFAULTS.items()}, _hops(env))


def _limit(env: Mapping[str, str], name: str, variable: str, default: str) -> Limit:
    raw = env.get(variable, default).strip()
    if raw == "0":
        return Limit(name, 0, 1)
    count, slash, seconds = raw.partition("/")
    if not (slash and count.isdigit() and seconds.isdigit() and int(seconds) > 0):
        raise ConfigError(f"{variable} must be COUNT/SECONDS (e.g. 600/60) or 0 for no limit, found {raw!r}.")
    return Limit(name, int(count), int(seconds))


def _hops(env: Mapping[str, str]) -> int:
    raw = env.get("FARMTRACE_PROXY_HOPS", "0")
    if not raw.isdigit():
        raise ConfigError(f"FARMTRACE_PROXY_HOPS must be a whole number of proxies, found {raw!r}.")
    return int(raw)


class RateLimitCounter(Base):
    """One fixed window's count for one limit and subject (UNLOGGED on PostgreSQL)."""

    __tablename__ = "rate_limit_counter"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[bytes] = mapped_column(LargeBinary(SUBJECT_BYTES), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix seconds
    window_end: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix seconds
    hits: Mapped[int] = mapped_column(Integer)


# -- counters ----------------------------------------------------------------------------------


class MemoryCounts:
    """Counts in this process (SQLite deployments, tests)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, bytes, int], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._purged = 0.0

    def add(self, name: str, subject: bytes, window: int, expires: int, now: float) -> int:
        with self._lock:
            if now - self._purged > PURGE_EVERY_S:
                self._counts = {key: v for key, v in self._counts.items() if v[1] > now}
                self._purged = now
            count = self._counts.get((name, subject, window), (0, expires))[0] + 1
            self._counts[(name, subject, window)] = (count, expires)
            return count

    def peek(self, name: str, subject: bytes, window: int) -> int:
        with self._lock:
            return self._counts.get((name, subject, window), (0, 0))[0]


_UPSERT = text(
    "INSERT INTO rate_limit_counter (name, subject, window_start, window_end, hits)"
    " VALUES (:name, :subject, :window, :expires, 1)"
    " ON CONFLICT (name, subject, window_start) DO UPDATE SET hits = rate_limit_counter.hits + 1"
    " RETURNING hits"
)
_PEEK = text(
    "SELECT hits FROM rate_limit_counter WHERE name = :name AND subject = :subject AND window_start = :window"
)


class DatabaseCounts:
    """Counts in rate_limit_counter, shared by every process (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._purged = 0.0

    def add(self, name: str, subject: bytes, window: int, expires: int, now: float) -> int:
        params = {"name": name, "subject": subject, "window": window, "expires": expires}
        with self.engine.connect() as conn:
            if now - self._purged > PURGE_EVERY_S:
                self._purged = now
                conn.execute(delete(RateLimitCounter).where(RateLimitCounter.window_end < int(now)))
            return int(conn.execute(_UPSERT, params).scalar_one())

    def peek(self, name: str, subject: bytes, window: int) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(_PEEK, {"name": name, "subject": subject, "window": window}).scalar()
        return int(found or 0)


# -- the limiter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    retry_after: int


class Limiter:
    def __init__(
        self,
        limits: RateLimits,
        counts: MemoryCounts | DatabaseCounts,
        key: Callable[[], bytes],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.counts = counts
        self.key = key
        self.clock = clock

    def subject(self, kind: str, value: bytes) -> bytes:
        return hmac.new(self.key(), kind.encode() + b"\0" + value, hashlib.sha256).digest()[:SUBJECT_BYTES]

    def _window(self, limit: Limit, now: float) -> tuple[int, int]:
        start = int(now) // limit.seconds * limit.seconds
        return start, start + limit.seconds

    def charge(self, name: str, subject: bytes) -> Refusal | None:
        """Count one request; a refusal if it is over the limit."""
        limit = self.limits.limits[name]
        if limit.count == 0:
            return None
        now = self.clock()
        window, expires = self._window(limit, now)
        try:
            count = self.counts.add(name, subject, window, expires, now)
        except SQLAlchemyError as exc:
            log.warning("rate limit %s not counted: %s", name, type(exc).__name__)
            return None
        if count <= limit.count:
            return None
        return Refusal(limit, max(1, int(expires - now + 0.999)))

    def over(self, name: str, subject: bytes) -> Refusal | None:
        """A refusal if the subject already used up this window (without counting)."""
        limit = self.limits.limits[name]
        if limit.count == 0:
            return None
        now = self.clock()
        window, expires = self._window(limit, now)
        try:
            count = self.counts.peek(name, subject, window)
        except SQLAlchemyError as exc:
            log.warning("rate limit %s not read: %s", name, type(exc).__name__)
            return None
        return Refusal(limit, max(1, int(expires - now + 0.999))) if count >= limit.count else None


def too_many(refusal: Refusal) -> Response:
    limit = refusal.limit
    body = {
        "type": PROBLEM_TYPE_BASE + "rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": f"{WHAT[limit.name]}: more than {limit.describe()}; retry after {refusal.retry_after} s",
        "limit": limit.name,
        "instance": request.path,
    }
    return problem_response(body, {"Retry-After": str(refusal.retry_after)})


def _limiter() -> Limiter:
    return current_app.extensions["farmtrace.ratelimit"]


def _client() -> bytes:
    return (request.remote_addr or "").encode()


def _bearer() -> bytes | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return hashlib.sha256(secret.strip().encode("utf-8", "replace")).digest()


def _before() -> Response | None:
    limiter = _limiter()
    path = request.path
    if request.method not in SAFE_METHODS and path.startswith("/api/"):
        token = _bearer()
        checks = [("write-client", limiter.subject("client", _client()))]
        if token is not None:
            checks.insert(0, ("write-token", limiter.subject("token", token)))
        for name, subject in checks:
            refused = limiter.charge(name, subject)
            if refused is not None:
                return too_many(refused)
        return None
    if path.startswith(UNKNOWN_PREFIXES) and request.method in ("GET", "HEAD"):
        client = limiter.subject("client", _client())
        g.ratelimit_client = client
        refused = limiter.over("unknown-client", client)
        if refused is None and path.startswith(SCAN_PREFIXES):
            refused = limiter.charge("scan-client", client)
        if refused is not None:
            return too_many(refused)
    return None


def _after(response: Response) -> Response:
    client = g.pop("ratelimit_client", None)
    if client is not None and response.status_code == 404:
        _limiter().charge("unknown-client", client)
    return response


def init_rate_limits(app: Flask, environ: Mapping[str, str] | None = None) -> None:
    """Register the limits on `app`: after init_db (it uses the app's engine), before the
    API's hooks, so that the limits are checked first."""
    engine: Engine = app.extensions["farmtrace.engine"]
    limits = RateLimits.from_env(os.environ if environ is None else environ)
    if limits.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=limits.proxy_hops)  # type: ignore[method-assign]
    shared = engine.dialect.name == "postgresql"
    counts: MemoryCounts | DatabaseCounts = DatabaseCounts(engine) if shared else MemoryCounts()
    key: Callable[[], bytes] = _master_derived_key(app) if shared else _constant(secrets.token_bytes(32))
    app.extensions["farmtrace.ratelimit"] = Limiter(limits, counts, key)
    app.before_request(_before)
    app.after_request(_after)


def _constant(key: bytes) -> Callable[[], bytes]:
    return lambda: key


def _master_derived_key(app: Flask) -> Callable[[], bytes]:
    """The same HMAC key in every process, so counts meet: derived from the master key
    (read at the first limited request, as the API does, creating it on a fresh install)."""
    settings = app.config["FARMTRACE"]
    cached: list[bytes] = []

    def key() -> bytes:
        if not cached:
            master = MasterKey.load_or_create(settings.keys_dir / "master.key")
            cached.append(hmac.new(master.secret, b"farmtrace rate limits", hashlib.sha256).digest())
        return cached[0]

    return key
