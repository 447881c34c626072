"""Starting a print job: the checks made before its row is written (the station, a recalled
batch, voided codes, labels printed or reserved before, a first label that renders), the next
unprinted labels in a row, and reprints recorded as codes.reprinted ledger entries signed by the
station (CodeService.reprint).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select

from farmtrace.printer import PrinterError, get_layout
from farmtrace.printer.layouts import Layout
from farmtrace.trace.codes.issue import ISSUER_KINDS, CodeService
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation
from farmtrace.trace.models.printing import PrintJobRow
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.printing.labels import (
    LabelPlan,
    check_format,
    county_today,
    label_plan,
    packing_date,
    render_label,
)
from farmtrace.trace.printing.spans import next_unprinted, overlaps, printed_spans, range_voided, union
from farmtrace.trace.printing.views import PrintJobView, view_of
from farmtrace.trace.serials import make_serial
from farmtrace.trace.text import clean_text
from farmtrace.trace.text import client_id as check_client_id

# codes.reprinted records a whole range or one code; a partial reprint is one entry per code.
MAX_CODE_REPRINTS: Final = 200
MAX_REASON: Final = 500


def _count(field: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(field, f"{field}: expected a whole number >= {minimum}, found {value!r}")
    return value


def start_job(
    ctx: TraceContext,
    *,
    station: str,
    range_id: int,
    first_index: int,
    count: int,
    layout: str,
    fmt: str,
    printer: str,
    domain: str,
    dpi: int | None = 203,
    brand: str | None = None,
    batch_id: str | None = None,
    reprint_reason: str | None = None,
    client_id: str | None = None,
) -> PrintJobView:
    """Record a job for labels first_index .. first_index + count - 1 of a range.

    Refuses labels already printed (or being printed) unless `reprint_reason` is given; then
    the reprint is recorded as codes.reprinted ledger entries signed by the station. The first
    label is rendered here, so a layout that cannot hold the QR or the texts is refused now
    and not at label 1."""
    session = ctx.session
    now = ctx.now()
    if client_id is not None:
        check_client_id("client_id", client_id)
        found = session.scalars(select(PrintJobRow).where(PrintJobRow.client_id == client_id)).first()
        if found is not None:
            if (found.range_id, found.first_index, found.last_index - found.first_index + 1) != (
                range_id,
                first_index,
                count,
            ):
                raise RuleViolation(
                    "client_id",
                    f"client_id: {client_id!r} was already used for another print job",
                    "idempotency_conflict",
                )
            return view_of(found, now, created=False)
    dpi = check_format(fmt, dpi)
    try:
        chosen = get_layout(layout)
    except PrinterError as exc:
        raise InvalidInput("layout", f"layout: {exc}") from None
    first_index = _count("first_index", first_index, 0)
    count = _count("count", count, 1)
    printer = clean_text("printer", printer, max_length=500)
    brand = clean_text("brand", brand, max_length=100) if brand else None
    reason = clean_text("reprint_reason", reprint_reason, max_length=MAX_REASON) if reprint_reason else None
    org = ctx.active_org(station, "station")
    if org.kind not in ISSUER_KINDS:
        raise NotPermitted(
            "station",
            f"station: {station} is not a packing station or the operator; it prints no labels",
            "issuer_kind",
        )
    rng = session.get(CodeRange, range_id) if isinstance(range_id, int) else None
    if rng is None:
        raise NotFound("range", f"range: no code range {range_id!r}")
    if batch_id is not None and rng.batch_id != batch_id:
        raise InvalidInput("range", f"range: range {rng.id} belongs to batch {rng.batch_id}, not {batch_id}")
    # Serialises job starts on the batch (row lock on PostgreSQL, write lock on SQLite), so two
    # stations asking for "the next 1,000" at once never get the same labels.
    ctx.lock_chain(rng.batch_id)
    if org.kind != "operator" and rng.station_org_id != station:
        raise NotPermitted(
            "station",
            f"station: range {rng.id} was issued by {rng.station_org_id}; only it or the operator prints it",
            "not_issuer",
        )
    batch = session.get(Batch, rng.batch_id)
    assert batch is not None
    if batch.recalled:
        raise RuleViolation(
            "batch", f"batch: {batch.id} is recalled; its labels are not printed", "batch_recalled"
        )
    if range_voided(session, rng):
        raise RuleViolation(
            "range", f"range: range {rng.id} is voided; its codes must not be printed", "range_voided"
        )
    last_index = first_index + count - 1
    if last_index >= rng.count:
        raise InvalidInput(
            "count",
            f"count: range {rng.id} has labels 0..{rng.count - 1:,}; labels {first_index:,}..{last_index:,} "
            "go past its end",
        )
    clashes = overlaps(printed_spans(session, rng.id, now), first_index, last_index)
    if clashes and reason is None:
        shown = "; ".join(f"{s.first:,}..{s.last:,} by job {s.job} ({s.state})" for s in clashes[:3])
        raise RuleViolation(
            "reprint_reason",
            f"reprint_reason: labels of range {rng.id} were already printed ({shown}); "
            "give a reprint reason to print them again",
            "already_printed",
        )
    if reason is not None and not clashes:
        raise InvalidInput(
            "reprint_reason",
            f"reprint_reason: no label of {first_index:,}..{last_index:,} in range {rng.id} was printed "
            "before; a reprint reason is only for labels printed before",
        )
    packed_on = packing_date(session, batch.id, county_today(now))
    plan = label_plan(session, CodeService(ctx).keyring(), domain, rng.id, packed_on=packed_on, brand=brand)
    _check_renders(plan, first_index, last_index, fmt, chosen, dpi)
    row = PrintJobRow(
        batch_id=rng.batch_id,
        range_id=rng.id,
        first_index=first_index,
        last_index=last_index,
        station_org_id=station,
        layout=chosen.name,
        format=fmt,
        dpi=dpi,
        printer=printer,
        packed_on=packed_on,
        brand=brand,
        started_at=now,
        state="running",
        confirmed=0,
        reprint=reason is not None,
        reprint_reason=reason,
        client_id=client_id,
    )
    session.add(row)
    session.flush()
    if reason is not None:
        _record_reprints(ctx, row, rng, plan, union(clashes), reason)
    return view_of(row, now)


def start_next_job(
    ctx: TraceContext, *, batch_id: str, count: int, station: str, range_id: int | None = None, **job: Any
) -> PrintJobView:
    """start_job for the batch's next `count` unprinted labels in a row. The batch lock is
    taken before looking, so concurrent starts queue and each gets different labels."""
    ctx.lock_chain(batch_id)
    client = job.get("client_id")
    retried = None
    if client is not None:  # a retry: the labels it took then, not the next ones
        retried = ctx.session.scalars(select(PrintJobRow).where(PrintJobRow.client_id == client)).first()
    if retried is not None:
        found, first = retried.range_id, retried.first_index
    else:
        found, first = next_unprinted(
            ctx.session, batch_id, count, ctx.now(), range_id=range_id, station=station
        )
    return start_job(
        ctx, station=station, range_id=found, first_index=first, count=count, batch_id=batch_id, **job
    )


def start_batch_job(
    ctx: TraceContext,
    *,
    batch_id: str,
    count: int,
    station: str,
    range_id: int | None = None,
    first_index: int | None = None,
    **job: Any,
) -> PrintJobView:
    """What the console and `farmtrace print` start: labels from `first_index` of range
    `range_id` when a first label is given (a reprint, a restart after a jam), else the
    batch's next `count` unprinted labels in a row (start_next_job)."""
    if first_index is None:
        return start_next_job(ctx, batch_id=batch_id, count=count, station=station, range_id=range_id, **job)
    return start_job(
        ctx,
        station=station,
        range_id=range_id,  # type: ignore[arg-type]  # start_job refuses a missing range
        first_index=first_index,
        count=count,
        batch_id=batch_id,
        **job,
    )


def _check_renders(plan: LabelPlan, first: int, last: int, fmt: str, layout: Layout, dpi: int | None) -> None:
    label = next((x for x in plan.labels(range(first, last + 1)) if x is not None), None)
    if label is None:
        raise RuleViolation(
            "range", f"range: every code of labels {first:,}..{last:,} is voided", "code_voided"
        )
    try:
        render_label(fmt, label, layout, dpi)
    except PrinterError as exc:
        raise InvalidInput("layout", f"layout: {exc}") from None


def _record_reprints(
    ctx: TraceContext,
    row: PrintJobRow,
    rng: CodeRange,
    plan: LabelPlan,
    runs: list[tuple[int, int]],
    reason: str,
) -> None:
    codes = CodeService(ctx)
    if runs == [(0, rng.count - 1)]:
        codes.reprint(row.station_org_id, reason, range_id=rng.id, client_id=f"print-job-{row.id}-reprint")
        return
    total = sum(last - first + 1 for first, last in runs)
    if total > MAX_CODE_REPRINTS:
        raise RuleViolation(
            "count",
            f"count: a reprint of {total:,} labels of range {rng.id} would need {total:,} ledger entries "
            f"(codes.reprinted names one code or a whole range); reprint at most {MAX_CODE_REPRINTS} "
            "labels at a time, or the whole range",
            "reprint_too_large",
        )
    for first, last in runs:
        for index in range(first, last + 1):
            n = rng.first_n + index
            if n in plan.voided:
                continue  # a voided code is not printed at all
            serial = make_serial(plan.key, n)
            codes.reprint(
                row.station_org_id, reason, code=serial, client_id=f"print-job-{row.id}-reprint-{index}"
            )
