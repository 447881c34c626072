"""People and machine clients: users with roles in one organisation, and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class User(Base):
    __tablename__ = "trace_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(200))  # space-separated, see trace.accounts.ROLES
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())


class ApiToken(Base):
    """A bearer token: only the SHA-256 of the secret is stored; the secret is shown once."""

    __tablename__ = "trace_api_token"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("trace_user.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, see trace.tokens.SCOPES
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
