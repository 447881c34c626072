"""Console working tables: login throttling, per-user session generations and the sessions
signed out.

They live in the database, not in a worker's memory, so that every gunicorn worker (and
every instance behind a load balancer) sees the same failure counts, the same
"log out everywhere" and the same signed-out sessions.
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


class EndedSession(Base):
    """A session signed out ("退出"): its cookie, or a copy of it, is refused from then on.

    A row is needed only until the session would have ended anyway (its absolute lifetime);
    rows past `expires_at` are deleted at the next sign-out.
    """

    __tablename__ = "console_ended_session"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
