"""Indexes for the statistics reports (trace.reports.indexes): period filters on scans,
ledger entries by type, batches, code ranges, lab tests, flags and recalls.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns), as in trace/reports/indexes.py.
INDEXES = (
    ("ix_report_codes_scan_scanned_at_n", "codes_scan", ["scanned_at", "n"]),
    ("ix_report_ledger_entry_type_recorded_at", "ledger_entry", ["entry_type", "recorded_at"]),
    ("ix_report_trace_batch_registered_at", "trace_batch", ["registered_at"]),
    ("ix_report_codes_range_issued_at", "codes_range", ["issued_at"]),
    ("ix_report_trace_lab_test_tested_at", "trace_lab_test", ["tested_at"]),
    ("ix_report_trace_batch_flag_kind_event_time", "trace_batch_flag", ["kind", "event_time"]),
    ("ix_report_trace_recall_issued_at", "trace_recall", ["issued_at"]),
)


def upgrade() -> None:
    # farmtrace runs all migrations in one transaction (web/migrate.py), where PostgreSQL
    # cannot CREATE INDEX CONCURRENTLY. A plain build holds off writes to each table while it
    # runs (seconds for ten million scans), so on a large live database create these
    # CONCURRENTLY by hand first (docs/reports.md, "Indexes"): IF NOT EXISTS then skips them.
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, if_not_exists=True)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table, if_exists=True)
