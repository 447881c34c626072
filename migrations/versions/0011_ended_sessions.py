"""Console: console_ended_session, so that signing out ends the session server-side.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table nothing reads yet: creating it takes no lock anyone waits on.
    op.create_table(
        "console_ended_session",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_console_ended_session")),
    )
    op.create_index(op.f("ix_console_ended_session_expires_at"), "console_ended_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_console_ended_session_expires_at"), table_name="console_ended_session")
    op.drop_table("console_ended_session")
