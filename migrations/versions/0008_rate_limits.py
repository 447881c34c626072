"""Rate-limit counters (rate_limit_counter), UNLOGGED on PostgreSQL: counts, not records.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counter",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.LargeBinary(length=16), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "subject", "window_start", name=op.f("pk_rate_limit_counter")),
    )
    op.create_index(op.f("ix_rate_limit_counter_window_end"), "rate_limit_counter", ["window_end"])
    if op.get_bind().dialect.name == "postgresql":
        # No WAL for counters: faster, and a crash only forgets counts. A new, empty table
        # is rewritten in no time, so this takes its lock only for a moment.
        op.execute("ALTER TABLE rate_limit_counter SET UNLOGGED")


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_counter_window_end"), table_name="rate_limit_counter")
    op.drop_table("rate_limit_counter")
