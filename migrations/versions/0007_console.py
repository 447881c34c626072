"""Console: login throttling, session generations (log out everywhere), consumer complaints.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_console_login_throttle")),
    )
    op.create_table(
        "console_session_generation",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["trace_user.id"], name=op.f("fk_console_session_generation_user_id_trace_user")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_console_session_generation")),
    )
    op.create_table(
        "trace_complaint",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=13), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=True),
        sa.Column("problem_type", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("handled_by", sa.String(length=64), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_complaint")),
    )
    op.create_index(op.f("ix_trace_complaint_batch_id"), "trace_complaint", ["batch_id"])
    op.create_index(op.f("ix_trace_complaint_created_at"), "trace_complaint", ["created_at"])
    op.create_index("ix_trace_complaint_status_created_at", "trace_complaint", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_trace_complaint_status_created_at", table_name="trace_complaint")
    op.drop_index(op.f("ix_trace_complaint_created_at"), table_name="trace_complaint")
    op.drop_index(op.f("ix_trace_complaint_batch_id"), table_name="trace_complaint")
    op.drop_table("trace_complaint")
    op.drop_table("console_session_generation")
    op.drop_table("console_login_throttle")
