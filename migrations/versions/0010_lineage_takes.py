"""Lineage quantities: trace_lineage_take (what left each input, once), edges' quantity nullable.

An edge of a transform with several outputs no longer repeats the input's whole quantity as
if each output had taken all of it: its quantity is NULL unless the operation stated shares.
Rows written before this revision keep their values until `farmtrace batches rebuild`
recomputes the projections from the ledger (docs/operations.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table nothing reads yet; dropping NOT NULL changes no row (PostgreSQL: a catalog
    # change under a brief lock; SQLite: the small edge table is copied).
    op.create_table(
        "trace_lineage_take",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("outputs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_trace_lineage_take_batch_id_trace_batch")
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq", name=op.f("pk_trace_lineage_take")),
    )
    op.create_index(op.f("ix_trace_lineage_take_operation"), "trace_lineage_take", ["operation"])
    with op.batch_alter_table("trace_lineage_edge", schema=None) as batch_op:
        batch_op.alter_column("quantity", existing_type=sa.String(length=32), nullable=True)
        batch_op.alter_column("unit", existing_type=sa.String(length=16), nullable=True)


def downgrade() -> None:
    # Before 0010 a transform's edge carried what the operation took from the input in all;
    # that is what the take row says, so the edges get it back.
    op.execute(
        "UPDATE trace_lineage_edge SET"
        " quantity = (SELECT t.quantity FROM trace_lineage_take AS t"
        " WHERE t.batch_id = trace_lineage_edge.parent_batch_id"
        " AND t.operation = trace_lineage_edge.operation),"
        " unit = (SELECT t.unit FROM trace_lineage_take AS t"
        " WHERE t.batch_id = trace_lineage_edge.parent_batch_id"
        " AND t.operation = trace_lineage_edge.operation)"
        " WHERE quantity IS NULL"
    )
    with op.batch_alter_table("trace_lineage_edge", schema=None) as batch_op:
        batch_op.alter_column("quantity", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("unit", existing_type=sa.String(length=16), nullable=False)
    op.drop_index(op.f("ix_trace_lineage_take_operation"), table_name="trace_lineage_take")
    op.drop_table("trace_lineage_take")
