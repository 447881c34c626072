"""Print jobs: which labels of a code range go to which printer, how far printing is known to
have got, and the labels themselves (docs/printing.md, "Print jobs").

A job covers labels first_index .. last_index of one code range (label i carries code number
first_n + i). While a job runs, its whole span is reserved; once it stops (done, cancelled,
failed, or its process went silent for STALE_AFTER) only the labels it confirmed count as
printed, so a cancelled job's other codes can be printed by a later job as first prints.
Printing a label that is printed (or reserved) needs a reprint reason, and the reprint is
recorded in the ledger through CodeService.reprint ("codes.reprinted").

Functions take a Session (or a TraceContext) and never commit: the CLI command or request does,
and the printing process commits each progress update in its own short transaction.

This package's public API is what it exports here; the modules below hold one job each:
- states: the job states and when a job counts as alive (STALE_AFTER);
- views: PrintJobView, reading one job or the list;
- spans: which labels of a range are printed or reserved, and the next unprinted ones;
- labels: what a range's labels share (LabelPlan), and rendering them in a job format;
- start: the checks before a job is recorded, the next unprinted labels, and reprints as ledger
  entries;
- transitions: claiming a job, reporting progress, the console's pause / resume / cancel.
"""

from farmtrace.trace.printing.labels import (
    FORMATS,
    LabelPlan,
    county_today,
    label_chunks,
    label_data,
    label_plan,
    packing_date,
    render_label,
)
from farmtrace.trace.printing.spans import Span, free_runs, next_unprinted, printed_spans
from farmtrace.trace.printing.start import (
    MAX_CODE_REPRINTS,
    MAX_REASON,
    start_batch_job,
    start_job,
    start_next_job,
)
from farmtrace.trace.printing.states import LIVE_STATES, REQUESTS, STALE_AFTER, STATES
from farmtrace.trace.printing.transitions import claim_job, record_progress, request_state
from farmtrace.trace.printing.views import PrintJobView, get_job, list_jobs

__all__ = [
    "FORMATS",
    "LIVE_STATES",
    "MAX_CODE_REPRINTS",
    "MAX_REASON",
    "REQUESTS",
    "STALE_AFTER",
    "STATES",
    "LabelPlan",
    "PrintJobView",
    "Span",
    "claim_job",
    "county_today",
    "free_runs",
    "get_job",
    "label_chunks",
    "label_data",
    "label_plan",
    "list_jobs",
    "next_unprinted",
    "packing_date",
    "printed_spans",
    "record_progress",
    "render_label",
    "request_state",
    "start_batch_job",
    "start_job",
    "start_next_job",
]
