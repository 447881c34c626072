"""Print jobs (print_job): which labels of a code range went to which printer, and how far.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table: nothing running reads it yet, so creating it takes no lock anyone waits on.
    op.create_table(
        "print_job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=13), nullable=False),
        sa.Column("range_id", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.Integer(), nullable=False),
        sa.Column("last_index", sa.Integer(), nullable=False),
        sa.Column("station_org_id", sa.String(length=48), nullable=False),
        sa.Column("layout", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("dpi", sa.Integer(), nullable=True),
        sa.Column("printer", sa.String(length=500), nullable=False),
        sa.Column("packed_on", sa.Date(), nullable=False),
        sa.Column("brand", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("output_bytes", sa.BigInteger(), nullable=True),
        sa.Column("reprint", sa.Boolean(), nullable=False),
        sa.Column("reprint_reason", sa.Text(), nullable=True),
        sa.Column("requested", sa.String(length=16), nullable=True),
        sa.Column("runner", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["range_id"], ["codes_range.id"], name=op.f("fk_print_job_range_id_codes_range")
        ),
        sa.ForeignKeyConstraint(
            ["station_org_id"], ["trace_org.id"], name=op.f("fk_print_job_station_org_id_trace_org")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_job")),
        sa.UniqueConstraint("client_id", name=op.f("uq_print_job_client_id")),
    )
    op.create_index(op.f("ix_print_job_batch_id"), "print_job", ["batch_id"])
    op.create_index("ix_print_job_range_id_first_index", "print_job", ["range_id", "first_index"])
    op.create_index("ix_print_job_station_org_id_started_at", "print_job", ["station_org_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_print_job_station_org_id_started_at", table_name="print_job")
    op.drop_index("ix_print_job_range_id_first_index", table_name="print_job")
    op.drop_index(op.f("ix_print_job_batch_id"), table_name="print_job")
    op.drop_table("print_job")
