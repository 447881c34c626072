"""Indexes the report queries need, on tables other modules own (migration 0006).

Declared here, beside the queries that use them, and imported by farmtrace.web.models so
that the schema-drift test sees them; each names the query it serves.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Index

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.models import CodeRange, Scan
from farmtrace.trace.models.projection import Batch, BatchFlag, LabTest, Recall

REPORT_INDEXES: Final = (
    # scans: counted scans of a period; n included so the county's distinct count reads
    # only the index.
    Index("ix_report_codes_scan_scanned_at_n", Scan.scanned_at, Scan.n),
    # sales and deliveries: ledger entries of one type recorded since a time.
    Index("ix_report_ledger_entry_type_recorded_at", EntryRow.entry_type, EntryRow.recorded_at),
    Index("ix_report_trace_batch_registered_at", Batch.registered_at),
    Index("ix_report_codes_range_issued_at", CodeRange.issued_at),
    Index("ix_report_trace_lab_test_tested_at", LabTest.tested_at),
    Index("ix_report_trace_batch_flag_kind_event_time", BatchFlag.kind, BatchFlag.event_time),
    Index("ix_report_trace_recall_issued_at", Recall.issued_at),
)
