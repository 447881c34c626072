"""Console working tables: login throttling and per-user session generations.

Both live in the database, not in a worker's memory, so that every gunicorn worker (and
every instance behind a load balancer) sees the same failure counts and the same
"log out everywhere".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class LoginThrottle(Base):
    """Failed logins of one user name ("user:<name>") or one client ("client:<hmac>")."""

    __tablename__ = "console_login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SessionGeneration(Base):
    """A session cookie is valid only while it carries the user's current generation."""

    __tablename__ = "console_session_generation"

    user_id: Mapped[int] = mapped_column(ForeignKey("trace_user.id"), primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(Integer)
