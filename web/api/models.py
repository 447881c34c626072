"""The API's own table: stored responses of idempotent writes.

Not part of the record: rows expire (IDEMPOTENCY_TTL) and are deleted, which is why this
table has none of the ledger's append-only triggers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class IdempotencyRecord(Base):
    __tablename__ = "api_idempotency"

    # Keys are scoped by organisation: every token and user of an organisation acts as it
    # in the ledger, so a phone whose token was reissued can still retry safely.
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column(Integer)
    headers: Mapped[str] = mapped_column(Text)  # JSON list of [name, value]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
