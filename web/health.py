"""Liveness and readiness probes, and the state of the log they (and /metrics) report.

/healthz (liveness): the process answers and the database answers a query. A load
balancer should restart nothing on a failed /healthz alone, only stop sending traffic.

/readyz (readiness): the database answers, its schema is the one this code expects, the
log has a signed checkpoint, and the sequencer keeps up: the oldest entry waiting to be
integrated is no older than FARMTRACE_READY_MAX_SEQUENCER_LAG seconds (default 60, over
a hundred sequencer rounds at the default 0.5 s). The age of the checkpoint itself is not
a test: the sequencer signs no new checkpoint while nothing is appended, so an idle log
has an old checkpoint and is perfectly healthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from farmtrace.ledger.models import CosignatureRow, EntryRow, Unsequenced
from farmtrace.ledger.sequencer import latest_checkpoint, tree_size
from farmtrace.web import migrate
from farmtrace.web.db import get_engine, get_session
from farmtrace.web.problems import problem

bp = Blueprint("health", __name__)

NO_STORE = "no-store"


@dataclass(frozen=True)
class LogState:
    """The log as the database has it now (each value one cheap, indexed query)."""

    tree_size: int  # leaves integrated
    checkpoint_size: int | None  # size of the latest signed checkpoint, None if none yet
    checkpoint_age_s: float | None
    checkpoint_cosignatures: int  # cosignatures stored for the latest checkpoint
    unsequenced: int  # entries waiting for the sequencer
    sequencer_lag_s: float  # age of the oldest waiting entry, 0 when none waits

    @property
    def appended(self) -> int:
        """Entries ever appended: each is either in the tree or waiting for it."""
        return self.tree_size + self.unsequenced


def read_log_state(session: Session, now: datetime | None = None) -> LogState:
    now = now or datetime.now(UTC)
    checkpoint = latest_checkpoint(session)
    waiting = session.scalar(select(func.count()).select_from(Unsequenced)) or 0
    oldest = session.scalar(
        select(EntryRow.recorded_at)
        .where(EntryRow.id == select(func.min(Unsequenced.entry_id)).scalar_subquery())
        .limit(1)
    )
    cosignatures = 0
    if checkpoint is not None:
        cosignatures = (
            session.scalar(
                select(func.count())
                .select_from(CosignatureRow)
                .where(CosignatureRow.tree_size == checkpoint.tree_size)
            )
            or 0
        )
    return LogState(
        tree_size=tree_size(session),
        checkpoint_size=None if checkpoint is None else checkpoint.tree_size,
        checkpoint_age_s=None if checkpoint is None else _age(now, checkpoint.created_at),
        checkpoint_cosignatures=cosignatures,
        unsequenced=waiting,
        sequencer_lag_s=0.0 if oldest is None else max(0.0, _age(now, oldest)),
    )


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return problem(503, "Database unavailable", type(exc).__name__)
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = NO_STORE
    return response


@bp.get("/readyz")
def readyz() -> Response:
    checks: dict[str, str] = {}
    try:
        engine = get_engine()
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = migrate.current_revision(engine), _head_revision()
        checks["schema"] = "ok" if current == head else f"at revision {current}, this code expects {head}"
        if checks["schema"] == "ok":
            checks.update(_log_checks(read_log_state(get_session())))
    except SQLAlchemyError as exc:
        checks.setdefault("database", f"unavailable ({type(exc).__name__})")
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = NO_STORE
    return response


def _log_checks(state: LogState) -> dict[str, str]:
    checks = {"checkpoint": "ok" if state.checkpoint_size is not None else "no signed checkpoint yet"}
    limit = current_app.config["FARMTRACE"].ready_max_sequencer_lag_s
    if limit and state.sequencer_lag_s > limit:
        checks["sequencer"] = (
            f"the oldest of {state.unsequenced} waiting entries is {state.sequencer_lag_s:.0f} s old, "
            f"more than {limit:g} s"
        )
    else:
        checks["sequencer"] = "ok"
    return checks


@lru_cache(maxsize=1)
def _head_revision() -> str | None:
    # Reading the migration scripts costs milliseconds; the code cannot change under us.
    return migrate.head_revision()


def _age(now: datetime, then: datetime) -> float:
    if then.tzinfo is None:  # SQLite returns naive datetimes; farmtrace writes UTC
        then = then.replace(tzinfo=UTC)
    return (now - then).total_seconds()
