"""Trace domain: registry (orgs, places, products, documents), accounts, batch projections.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trace_place",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("gln", sa.String(length=13), nullable=True),
        sa.Column("latitude", sa.String(length=16), nullable=True),
        sa.Column("longitude", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["trace_place.id"], name=op.f("fk_trace_place_parent_id_trace_place")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_place")),
        sa.UniqueConstraint("gln", name=op.f("uq_trace_place_gln")),
    )
    with op.batch_alter_table("trace_place", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_place_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "trace_org",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("place_id", sa.String(length=64), nullable=True),
        sa.Column("parent_org_id", sa.String(length=48), nullable=True),
        sa.Column("poverty_household", sa.Boolean(), nullable=False),
        sa.Column("poverty_mark_enabled", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_org_id"], ["trace_org.id"], name=op.f("fk_trace_org_parent_org_id_trace_org")
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["trace_place.id"], name=op.f("fk_trace_org_place_id_trace_place")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_org")),
    )
    with op.batch_alter_table("trace_org", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_org_kind"), ["kind"], unique=False)

    op.create_table(
        "trace_document",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=48), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["trace_org.id"], name=op.f("fk_trace_document_uploaded_by_trace_org")
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_trace_document")),
    )
    op.create_table(
        "trace_product",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("owner_org_id", sa.String(length=48), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("specification", sa.String(length=200), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["trace_org.id"], name=op.f("fk_trace_product_owner_org_id_trace_org")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_product")),
        sa.UniqueConstraint("gtin", name=op.f("uq_trace_product_gtin")),
    )
    with op.batch_alter_table("trace_product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_product_owner_org_id"), ["owner_org_id"], unique=False)

    op.create_table(
        "trace_user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=48), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["trace_org.id"], name=op.f("fk_trace_user_org_id_trace_org")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_user")),
        sa.UniqueConstraint("username", name=op.f("uq_trace_user_username")),
    )
    with op.batch_alter_table("trace_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_user_org_id"), ["org_id"], unique=False)

    op.create_table(
        "trace_api_token",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.String(length=48), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["trace_org.id"], name=op.f("fk_trace_api_token_org_id_trace_org")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["trace_user.id"], name=op.f("fk_trace_api_token_user_id_trace_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_trace_api_token_token_hash")),
    )
    with op.batch_alter_table("trace_api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_api_token_org_id"), ["org_id"], unique=False)

    op.create_table(
        "trace_batch",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=48), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("owner_org_id", sa.String(length=48), nullable=False),
        sa.Column("origin_place_id", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("custodian_org_id", sa.String(length=48), nullable=False),
        sa.Column("location_place_id", sa.String(length=64), nullable=True),
        sa.Column("quantity_in", sa.String(length=32), nullable=False),
        sa.Column("quantity_out", sa.String(length=32), nullable=False),
        sa.Column("packed_packages", sa.Integer(), nullable=False),
        sa.Column("conformity", sa.String(length=16), nullable=False),
        sa.Column("recalled", sa.Boolean(), nullable=False),
        sa.Column("head_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["custodian_org_id"], ["trace_org.id"], name=op.f("fk_trace_batch_custodian_org_id_trace_org")
        ),
        sa.ForeignKeyConstraint(["id"], ["ledger_chain.batch"], name=op.f("fk_trace_batch_id_ledger_chain")),
        sa.ForeignKeyConstraint(
            ["location_place_id"],
            ["trace_place.id"],
            name=op.f("fk_trace_batch_location_place_id_trace_place"),
        ),
        sa.ForeignKeyConstraint(
            ["origin_place_id"], ["trace_place.id"], name=op.f("fk_trace_batch_origin_place_id_trace_place")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["trace_org.id"], name=op.f("fk_trace_batch_owner_org_id_trace_org")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["trace_product.id"], name=op.f("fk_trace_batch_product_id_trace_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_batch")),
        sa.UniqueConstraint("product_id", "lot", name=op.f("uq_trace_batch_product_id_lot")),
    )
    with op.batch_alter_table("trace_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_batch_custodian_org_id"), ["custodian_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trace_batch_owner_org_id"), ["owner_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trace_batch_product_id"), ["product_id"], unique=False)

    op.create_table(
        "trace_product_certificate",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=48), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["trace_product.id"],
            name=op.f("fk_trace_product_certificate_product_id_trace_product"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_product_certificate")),
        sa.UniqueConstraint(
            "product_id",
            "scheme",
            "number",
            name=op.f("uq_trace_product_certificate_product_id_scheme_number"),
        ),
    )
    with op.batch_alter_table("trace_product_certificate", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_product_certificate_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "trace_batch_certificate",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_trace_batch_certificate_batch_id_trace_batch")
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq", name=op.f("pk_trace_batch_certificate")),
    )
    op.create_table(
        "trace_batch_flag",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_trace_batch_flag_batch_id_trace_batch")
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq", "idx", name=op.f("pk_trace_batch_flag")),
    )
    with op.batch_alter_table("trace_batch_flag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_batch_flag_kind"), ["kind"], unique=False)

    op.create_table(
        "trace_batch_producer",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_trace_batch_producer_batch_id_trace_batch")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["trace_org.id"], name=op.f("fk_trace_batch_producer_org_id_trace_org")
        ),
        sa.PrimaryKeyConstraint("batch_id", "org_id", name=op.f("pk_trace_batch_producer")),
    )
    op.create_table(
        "trace_lab_test",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("lab_org_id", sa.String(length=48), nullable=False),
        sa.Column("sample_id", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_trace_lab_test_batch_id_trace_batch")
        ),
        sa.ForeignKeyConstraint(
            ["lab_org_id"], ["trace_org.id"], name=op.f("fk_trace_lab_test_lab_org_id_trace_org")
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq", name=op.f("pk_trace_lab_test")),
    )
    with op.batch_alter_table("trace_lab_test", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_lab_test_lab_org_id"), ["lab_org_id"], unique=False)

    op.create_table(
        "trace_lineage_edge",
        sa.Column("parent_batch_id", sa.String(length=64), nullable=False),
        sa.Column("child_batch_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_batch_id"],
            ["trace_batch.id"],
            name=op.f("fk_trace_lineage_edge_child_batch_id_trace_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_batch_id"],
            ["trace_batch.id"],
            name=op.f("fk_trace_lineage_edge_parent_batch_id_trace_batch"),
        ),
        sa.PrimaryKeyConstraint("parent_batch_id", "child_batch_id", name=op.f("pk_trace_lineage_edge")),
    )
    with op.batch_alter_table("trace_lineage_edge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_lineage_edge_child_batch_id"), ["child_batch_id"], unique=False
        )

    op.create_table(
        "trace_recall",
        sa.Column("recall_id", sa.String(length=24), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("origin_batch_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=48), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issue_seq", sa.Integer(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lift_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["trace_batch.id"], name=op.f("fk_trace_recall_batch_id_trace_batch")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["trace_org.id"], name=op.f("fk_trace_recall_issued_by_trace_org")
        ),
        sa.ForeignKeyConstraint(
            ["origin_batch_id"], ["trace_batch.id"], name=op.f("fk_trace_recall_origin_batch_id_trace_batch")
        ),
        sa.PrimaryKeyConstraint("recall_id", "batch_id", name=op.f("pk_trace_recall")),
    )
    with op.batch_alter_table("trace_recall", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_recall_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trace_recall", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_recall_batch_id"))

    op.drop_table("trace_recall")
    with op.batch_alter_table("trace_lineage_edge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_lineage_edge_child_batch_id"))

    op.drop_table("trace_lineage_edge")
    with op.batch_alter_table("trace_lab_test", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_lab_test_lab_org_id"))

    op.drop_table("trace_lab_test")
    op.drop_table("trace_batch_producer")
    with op.batch_alter_table("trace_batch_flag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_batch_flag_kind"))

    op.drop_table("trace_batch_flag")
    op.drop_table("trace_batch_certificate")
    with op.batch_alter_table("trace_product_certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_product_certificate_product_id"))

    op.drop_table("trace_product_certificate")
    with op.batch_alter_table("trace_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_batch_product_id"))
        batch_op.drop_index(batch_op.f("ix_trace_batch_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_trace_batch_custodian_org_id"))

    op.drop_table("trace_batch")
    with op.batch_alter_table("trace_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_api_token_org_id"))

    op.drop_table("trace_api_token")
    with op.batch_alter_table("trace_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_user_org_id"))

    op.drop_table("trace_user")
    with op.batch_alter_table("trace_product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_product_owner_org_id"))

    op.drop_table("trace_product")
    op.drop_table("trace_document")
    with op.batch_alter_table("trace_org", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_org_kind"))

    op.drop_table("trace_org")
    with op.batch_alter_table("trace_place", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_place_parent_id"))

    op.drop_table("trace_place")
