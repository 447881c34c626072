"""Ledger tables (entries, chains, Merkle log, checkpoints, keys) with append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Rows of these tables are the record: once written, never changed or removed.
APPEND_ONLY_TABLES = ("ledger_chain", "ledger_entry", "merkle_leaf", "merkle_hash", "ledger_checkpoint")

POSTGRES_FUNCTION = """
CREATE FUNCTION farmtrace_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
    for table in APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            name = f"{table}_no_{action.lower()}"
            if dialect == "postgresql":
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION farmtrace_refuse_change()"
                )
                # TRUNCATE bypasses row triggers; refuse it too.
                if action == "DELETE":
                    op.execute(
                        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_refuse_change()"
                    )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{action} on {table} refused: the ledger is append-only'); END"
                )


def drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        names = [f"{table}_no_update", f"{table}_no_delete"]
        if dialect == "postgresql":
            names.append(f"{table}_no_truncate")
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS farmtrace_refuse_change()")


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_chain",
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch", name=op.f("pk_ledger_chain")),
    )
    op.create_table(
        "ledger_checkpoint",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_ledger_checkpoint")),
    )
    op.create_table(
        "ledger_public_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_ledger_public_key")),
    )
    with op.batch_alter_table("ledger_public_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_public_key_org"), ["org"], unique=False)

    op.create_table(
        "ledger_sealed_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_ledger_sealed_key")),
    )
    with op.batch_alter_table("ledger_sealed_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_sealed_key_org"), ["org"], unique=False)

    op.create_table(
        "merkle_hash",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_merkle_hash")),
    )
    op.create_table(
        "ledger_entry",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("canonical", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("entry_type", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch"], ["ledger_chain.batch"], name=op.f("fk_ledger_entry_batch_ledger_chain")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint("batch", "seq", name=op.f("uq_ledger_entry_batch_seq")),
        sa.UniqueConstraint("client_id", name=op.f("uq_ledger_entry_client_id")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_ledger_entry_entry_hash")),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entry_author_type", ["author", "entry_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entry_recorded_at"), ["recorded_at"], unique=False)

    op.create_table(
        "ledger_unsequenced",
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_ledger_unsequenced_entry_id_ledger_entry")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_ledger_unsequenced")),
    )
    op.create_table(
        "merkle_leaf",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entry.id"], name=op.f("fk_merkle_leaf_entry_id_ledger_entry")
        ),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_merkle_leaf")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_merkle_leaf_entry_id")),
    )
    create_append_only_triggers()


def downgrade() -> None:
    drop_append_only_triggers()
    op.drop_table("merkle_leaf")
    op.drop_table("ledger_unsequenced")
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entry_recorded_at"))
        batch_op.drop_index("ix_ledger_entry_author_type")

    op.drop_table("ledger_entry")
    op.drop_table("merkle_hash")
    with op.batch_alter_table("ledger_sealed_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_sealed_key_org"))

    op.drop_table("ledger_sealed_key")
    with op.batch_alter_table("ledger_public_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_public_key_org"))

    op.drop_table("ledger_public_key")
    op.drop_table("ledger_checkpoint")
    op.drop_table("ledger_chain")
