"""Codes: issued ranges, voids and reprints (append-only), serial keys, allocator, scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# These mirror ledger entries (codes.issued, codes.voided, codes.reprinted): never changed.
# On PostgreSQL the triggers reuse farmtrace_refuse_change() from revision 0001.
APPEND_ONLY_TABLES = ("codes_range", "codes_void", "codes_reprint")


def create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            name = f"{table}_no_{action.lower()}"
            if dialect == "postgresql":
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION farmtrace_refuse_change()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{action} on {table} refused: issued codes are append-only'); END"
                )
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION farmtrace_refuse_change()"
            )


def drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        names = [f"{table}_no_update", f"{table}_no_delete"]
        if dialect == "postgresql":
            names.append(f"{table}_no_truncate")
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))


def upgrade() -> None:
    op.create_table(
        "codes_allocator",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("next_n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codes_allocator")),
    )
    op.create_table(
        "codes_scan",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=32), nullable=True),
        sa.Column("client_hash", sa.LargeBinary(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codes_scan")),
    )
    with op.batch_alter_table("codes_scan", schema=None) as batch_op:
        batch_op.create_index("ix_codes_scan_n_scanned_at", ["n", "scanned_at"], unique=False)

    op.create_table(
        "codes_scan_inbox",
        sa.Column("scan_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scan_id", name=op.f("pk_codes_scan_inbox")),
    )
    with op.batch_alter_table("codes_scan_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codes_scan_inbox_n"), ["n"], unique=False)

    op.create_table(
        "codes_scan_salt",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_codes_scan_salt")),
    )
    op.create_table(
        "codes_scan_tally",
        sa.Column("n", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_place", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("n", name=op.f("pk_codes_scan_tally")),
    )
    op.create_table(
        "codes_serial_key",
        sa.Column("key_id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_codes_serial_key")),
    )
    op.create_table(
        "codes_range",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("first_n", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.SmallInteger(), nullable=False),
        sa.Column("station_org_id", sa.String(length=48), nullable=False),
        sa.Column("layout", sa.String(length=32), nullable=True),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_codes_range_batch_id_trace_batch")
        ),
        sa.ForeignKeyConstraint(
            ["station_org_id"], ["trace_org.id"], name=op.f("fk_codes_range_station_org_id_trace_org")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codes_range")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_codes_range_entry_hash")),
        sa.UniqueConstraint("first_n", name=op.f("uq_codes_range_first_n")),
    )
    with op.batch_alter_table("codes_range", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codes_range_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_codes_range_station_org_id"), ["station_org_id"], unique=False)

    op.create_table(
        "codes_reprint",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("range_id", sa.Integer(), nullable=False),
        sa.Column("first_n", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("org_id", sa.String(length=48), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("reprinted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["trace_org.id"], name=op.f("fk_codes_reprint_org_id_trace_org")),
        sa.ForeignKeyConstraint(
            ["range_id"], ["codes_range.id"], name=op.f("fk_codes_reprint_range_id_codes_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codes_reprint")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_codes_reprint_entry_hash")),
    )
    with op.batch_alter_table("codes_reprint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codes_reprint_range_id"), ["range_id"], unique=False)

    op.create_table(
        "codes_void",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("range_id", sa.Integer(), nullable=False),
        sa.Column("first_n", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("org_id", sa.String(length=48), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["trace_org.id"], name=op.f("fk_codes_void_org_id_trace_org")),
        sa.ForeignKeyConstraint(
            ["range_id"], ["codes_range.id"], name=op.f("fk_codes_void_range_id_codes_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codes_void")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_codes_void_entry_hash")),
    )
    with op.batch_alter_table("codes_void", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codes_void_range_id"), ["range_id"], unique=False)
    op.bulk_insert(
        sa.table("codes_allocator", sa.column("id", sa.SmallInteger()), sa.column("next_n", sa.BigInteger())),
        [{"id": 1, "next_n": 0}],
    )
    create_append_only_triggers()


def downgrade() -> None:
    drop_append_only_triggers()
    with op.batch_alter_table("codes_void", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codes_void_range_id"))

    op.drop_table("codes_void")
    with op.batch_alter_table("codes_reprint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codes_reprint_range_id"))

    op.drop_table("codes_reprint")
    with op.batch_alter_table("codes_range", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codes_range_station_org_id"))
        batch_op.drop_index(batch_op.f("ix_codes_range_batch_id"))

    op.drop_table("codes_range")
    op.drop_table("codes_serial_key")
    op.drop_table("codes_scan_tally")
    op.drop_table("codes_scan_salt")
    with op.batch_alter_table("codes_scan_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codes_scan_inbox_n"))

    op.drop_table("codes_scan_inbox")
    with op.batch_alter_table("codes_scan", schema=None) as batch_op:
        batch_op.drop_index("ix_codes_scan_n_scanned_at")

    op.drop_table("codes_scan")
    op.drop_table("codes_allocator")
