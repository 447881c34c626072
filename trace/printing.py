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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.printer import LabelData, PrinterError, get_layout, render_pdf
from farmtrace.printer.layouts import Layout
from farmtrace.printer.render_tspl import render_tspl, render_tspl_bitmap
from farmtrace.printer.render_zpl import render_zpl, render_zpl_bitmap
from farmtrace.trace.codes.facts import packed_time
from farmtrace.trace.codes.issue import ISSUER_KINDS, CodeService
from farmtrace.trace.codes.models import CodeRange, CodeVoid
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation
from farmtrace.trace.gs1.gtin import validate_gtin
from farmtrace.trace.gs1.qr_uri import qr_uri
from farmtrace.trace.models.printing import PrintJobRow
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Org, Product
from farmtrace.trace.reports.period import COUNTY_TZ
from farmtrace.trace.serials import SerialKey, SerialKeyring, make_serial, serial_range
from farmtrace.trace.text import clean_text
from farmtrace.trace.text import client_id as check_client_id

STATES: Final = ("running", "paused", "cancelled", "done", "failed")
LIVE_STATES: Final = frozenset({"running", "paused"})
REQUESTS: Final = ("running", "paused", "cancelled")  # what the console may ask for
# format -> the dpi it accepts (None: vector output, no dpi)
FORMATS: Final[dict[str, tuple[int, ...] | None]] = {
    "zpl": (203, 300),
    "zpl-bitmap": (203, 300),
    "tspl": (203, 300),
    "tspl-bitmap": (203, 300),
    "pdf": None,
}
# A printing process writes a heartbeat about every second; one silent for STALE_AFTER is
# taken for dead: its unconfirmed labels are released and the job may be resumed elsewhere.
STALE_AFTER: Final = timedelta(seconds=60)
# codes.reprinted records a whole range or one code; a partial reprint is one entry per code.
MAX_CODE_REPRINTS: Final = 200
MAX_REASON: Final = 500


@dataclass(frozen=True)
class PrintJobView:
    id: int
    batch_id: str
    range_id: int
    first_index: int
    last_index: int
    station: str
    layout: str
    format: str
    dpi: int | None
    printer: str
    packed_on: date
    brand: str | None
    state: str
    confirmed: int
    started_at: datetime
    ended_at: datetime | None
    reprint: bool
    reprint_reason: str | None
    requested: str | None
    runner: str | None
    heartbeat_at: datetime | None
    output_bytes: int | None
    error: str | None
    alive: bool  # a printing process is holding it (checked at read time)
    created: bool = True  # False when a retry with the same client_id found this job

    @property
    def count(self) -> int:
        return self.last_index - self.first_index + 1

    @property
    def next_index(self) -> int:
        """The first label not yet confirmed: where a resumed run starts."""
        return self.first_index + self.confirmed

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled")

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.id,
            "batch": self.batch_id,
            "range": self.range_id,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "count": self.count,
            "confirmed": self.confirmed,
            "state": self.state,
            "alive": self.alive,
            "station": self.station,
            "layout": self.layout,
            "format": self.format,
            "dpi": self.dpi,
            "printer": self.printer,
            "packed_on": self.packed_on.isoformat(),
            "brand": self.brand,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "reprint": self.reprint,
            "reprint_reason": self.reprint_reason,
            "requested": self.requested,
            "error": self.error,
        }


@dataclass(frozen=True)
class Span:
    """Labels first..last (inclusive) of a range, printed or reserved by job `job`."""

    first: int
    last: int
    job: int
    state: str


# -- what is printed ---------------------------------------------------------------------------


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite keeps no offset: times are stored in UTC and read back naive.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _alive(row: PrintJobRow, now: datetime) -> bool:
    seen = _aware(row.heartbeat_at or row.started_at)
    return row.state in LIVE_STATES and seen is not None and now - seen < STALE_AFTER


def printed_spans(session: Session, range_id: int, now: datetime, exclude: int | None = None) -> list[Span]:
    """Labels of the range that are printed (confirmed) or reserved by a live job, in order."""
    query = select(PrintJobRow).where(PrintJobRow.range_id == range_id)
    if exclude is not None:
        query = query.where(PrintJobRow.id != exclude)
    spans = []
    for row in session.scalars(query):
        if _alive(row, now):
            spans.append(Span(row.first_index, row.last_index, row.id, row.state))
        elif row.confirmed:
            spans.append(Span(row.first_index, row.first_index + row.confirmed - 1, row.id, row.state))
    return sorted(spans, key=lambda s: (s.first, s.last))


def _overlaps(spans: Iterable[Span], first: int, last: int) -> list[Span]:
    return [
        Span(max(s.first, first), min(s.last, last), s.job, s.state)
        for s in spans
        if s.first <= last and s.last >= first
    ]


def _union(spans: Iterable[Span]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for span in sorted(spans, key=lambda s: s.first):
        if merged and span.first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span.last))
        else:
            merged.append((span.first, span.last))
    return merged


def free_runs(session: Session, rng: CodeRange, now: datetime) -> list[tuple[int, int]]:
    """The unprinted labels of a range as (first, last) runs, in order."""
    runs, start = [], 0
    for first, last in _union(printed_spans(session, rng.id, now)):
        if first > start:
            runs.append((start, first - 1))
        start = max(start, last + 1)
    if start < rng.count:
        runs.append((start, rng.count - 1))
    return runs


def _range_voided(session: Session, rng: CodeRange) -> bool:
    voids = session.scalars(select(CodeVoid.count).where(CodeVoid.range_id == rng.id))
    return any(count == rng.count for count in voids)


def next_unprinted(
    session: Session,
    batch_id: str,
    count: int,
    now: datetime,
    *,
    range_id: int | None = None,
    station: str | None = None,
) -> tuple[int, int]:
    """(range id, first index) of the first `count` unprinted labels in a row of the batch's
    ranges (those `station` may print, unless it is the operator)."""
    query = select(CodeRange).where(CodeRange.batch_id == batch_id).order_by(CodeRange.first_n)
    if range_id is not None:
        query = query.where(CodeRange.id == range_id)
    ranges = list(session.scalars(query))
    if range_id is not None and not ranges:
        raise NotFound("range", f"range: batch {batch_id} has no code range {range_id!r}")
    org = session.get(Org, station) if station is not None else None
    if org is not None and org.kind != "operator":
        ranges = [r for r in ranges if r.station_org_id == station]
    free = largest = 0
    where = None
    for rng in ranges:
        if _range_voided(session, rng):
            continue
        for first, last in free_runs(session, rng, now):
            length = last - first + 1
            if length >= count:
                return rng.id, first
            free += length
            if length > largest:
                largest, where = length, rng.id
    if not ranges:
        raise RuleViolation(
            "batch", f"batch: {batch_id} has no issued codes{_for(station)}; issue codes first", "no_codes"
        )
    if free == 0:
        raise RuleViolation(
            "count",
            f"count: every issued code of batch {batch_id} is printed; issue more codes first",
            "no_codes",
        )
    raise RuleViolation(
        "count",
        f"count: batch {batch_id} has {free:,} unprinted codes but at most {largest:,} in a row "
        f"(range {where}), found a request for {count:,}; print at most {largest:,} or issue more codes",
        "not_enough_codes",
    )


def _for(station: str | None) -> str:
    return "" if station is None else f" that {station} may print"


# -- the labels --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelPlan:
    """Everything a range's labels share, read once; `labels()` then needs no database."""

    range_id: int
    first_n: int
    count: int
    key: SerialKey
    prefix: str  # every URI of the range is prefix + serial (see trace.codes.export)
    product_name: str
    lot: str
    packed_on: date
    producer: str
    brand: str | None
    voided: frozenset[int]  # code numbers voided one by one

    def labels(self, indexes: range) -> Iterator[LabelData | None]:
        """One LabelData per index, None for a voided code (it must not be printed), in
        constant memory: serials are generated as they are consumed."""
        if indexes.step != 1 or indexes.start < 0 or indexes.stop > self.count:
            raise InvalidInput(
                "indexes", f"indexes: expected a run within 0..{self.count - 1}, found {indexes!r}"
            )
        first_n = self.first_n + indexes.start
        for n, serial in enumerate(serial_range(self.key, first_n, len(indexes)), start=first_n):
            if n in self.voided:
                yield None
                continue
            yield LabelData(
                uri=self.prefix + serial,
                serial=serial,
                product_name=self.product_name,
                lot=self.lot,
                packed_on=self.packed_on,
                producer=self.producer,
                brand=self.brand,
            )


def packing_date(session: Session, batch_id: str, today: date) -> date:
    """The date a label prints: the batch's first packing (county time), else `today`."""
    packed = packed_time(session, batch_id)
    return today if packed is None else packed.astimezone(COUNTY_TZ).date()


def county_today(now: datetime) -> date:
    return now.astimezone(COUNTY_TZ).date()


def label_plan(
    session: Session,
    keyring: SerialKeyring,
    domain: str,
    range_id: int,
    *,
    packed_on: date,
    brand: str | None = None,
) -> LabelPlan:
    rng = session.get(CodeRange, range_id) if isinstance(range_id, int) else None
    if rng is None:
        raise NotFound("range", f"range: no code range {range_id!r}")
    batch = session.get(Batch, rng.batch_id)
    assert batch is not None
    product = session.get(Product, batch.product_id)
    producer = session.get(Org, batch.owner_org_id)
    assert product is not None and producer is not None
    key = keyring.get(rng.key_id)
    if key is None:
        raise InvalidInput(
            "range", f"range: the serial key {rng.key_id} of range {rng.id} is retired or missing"
        )
    gtin = validate_gtin(product.gtin) if product.gtin else None
    first = make_serial(key, rng.first_n)
    uri = qr_uri(domain, first, gtin=gtin, lot=batch.lot if gtin else None)
    voids = session.scalars(select(CodeVoid).where(CodeVoid.range_id == rng.id))
    voided = frozenset(n for v in voids if v.count < rng.count for n in range(v.first_n, v.first_n + v.count))
    return LabelPlan(
        range_id=rng.id,
        first_n=rng.first_n,
        count=rng.count,
        key=key,
        prefix=uri[: -len(first)],
        product_name=product.name_zh,
        lot=batch.lot,
        packed_on=packed_on,
        producer=producer.name_zh,
        brand=brand,
        voided=voided,
    )


def label_data(
    session: Session,
    keyring: SerialKeyring,
    domain: str,
    range_id: int,
    indexes: range,
    *,
    packed_on: date,
    brand: str | None = None,
) -> Iterator[LabelData | None]:
    """The labels of `indexes` of a range (None for a voided code), in constant memory."""
    return label_plan(session, keyring, domain, range_id, packed_on=packed_on, brand=brand).labels(indexes)


def render_label(fmt: str, label: LabelData, layout: Layout, dpi: int | None) -> bytes:
    """One label in a job format (a PDF of one page for "pdf")."""
    if fmt == "pdf":
        return render_pdf([label], layout)
    assert dpi is not None
    renderer = {
        "zpl": render_zpl,
        "zpl-bitmap": render_zpl_bitmap,
        "tspl": render_tspl,
        "tspl-bitmap": render_tspl_bitmap,
    }[fmt]
    return renderer(label, layout, dpi)


def label_chunks(
    fmt: str, labels: Iterable[LabelData | None], layout: Layout, dpi: int | None
) -> Iterator[bytes]:
    """One chunk per label for PrintJob (ZPL and TSPL formats); an empty chunk for a voided
    code, so chunk i is still label i and confirmed counts stay label indexes."""
    for label in labels:
        yield b"" if label is None else render_label(fmt, label, layout, dpi)


# -- starting, running and stopping jobs --------------------------------------------------------


def _view(row: PrintJobRow, now: datetime, created: bool = True) -> PrintJobView:
    started = _aware(row.started_at)
    assert started is not None
    return PrintJobView(
        id=row.id,
        batch_id=row.batch_id,
        range_id=row.range_id,
        first_index=row.first_index,
        last_index=row.last_index,
        station=row.station_org_id,
        layout=row.layout,
        format=row.format,
        dpi=row.dpi,
        printer=row.printer,
        packed_on=row.packed_on,
        brand=row.brand,
        state=row.state,
        confirmed=row.confirmed,
        started_at=started,
        ended_at=_aware(row.ended_at),
        reprint=row.reprint,
        reprint_reason=row.reprint_reason,
        requested=row.requested,
        runner=row.runner,
        heartbeat_at=_aware(row.heartbeat_at),
        output_bytes=row.output_bytes,
        error=row.error,
        alive=_alive(row, now),
        created=created,
    )


def _check_format(fmt: str, dpi: int | None) -> int | None:
    if fmt not in FORMATS:
        raise InvalidInput("format", f"format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    accepted = FORMATS[fmt]
    if accepted is None:
        return None  # vector: the dpi does not apply
    if dpi not in accepted:
        raise InvalidInput("dpi", f"dpi: expected 203 or 300 for {fmt}, found {dpi!r}")
    return dpi


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
            return _view(found, now, created=False)
    dpi = _check_format(fmt, dpi)
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
    if _range_voided(session, rng):
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
    clashes = _overlaps(printed_spans(session, rng.id, now), first_index, last_index)
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
        _record_reprints(ctx, row, rng, plan, _union(clashes), reason)
    return _view(row, now)


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


def _row(session: Session, job_id: int, lock: bool = False) -> PrintJobRow:
    row = session.get(PrintJobRow, job_id, with_for_update=lock) if isinstance(job_id, int) else None
    if row is None:
        raise NotFound("job", f"job: no print job {job_id!r}")
    return row


def get_job(session: Session, job_id: int, now: datetime) -> PrintJobView:
    return _view(_row(session, job_id), now)


def list_jobs(
    session: Session,
    now: datetime,
    *,
    batch_id: str | None = None,
    station: str | None = None,
    limit: int = 100,
) -> list[PrintJobView]:
    """Newest first."""
    query = select(PrintJobRow).order_by(PrintJobRow.id.desc()).limit(limit)
    if batch_id is not None:
        query = query.where(PrintJobRow.batch_id == batch_id)
    if station is not None:
        query = query.where(PrintJobRow.station_org_id == station)
    return [_view(row, now) for row in session.scalars(query)]


def claim_job(session: Session, job_id: int, runner: str, now: datetime) -> PrintJobView:
    """Make `runner` (host:pid) the process printing the job, from its first unconfirmed label.

    Refused while another live process holds it, when it is done, or when a later job has
    since printed labels it had not confirmed (start a new job for what is left)."""
    row = _row(session, job_id, lock=True)
    if row.state == "done":
        raise RuleViolation("job", f"job: print job {row.id} is done ({row.confirmed:,} labels)", "job_done")
    if row.runner not in (None, runner) and _alive(row, now):
        seen = _aware(row.heartbeat_at or row.started_at)
        assert seen is not None
        raise RuleViolation(
            "job",
            f"job: print job {row.id} is being printed by {row.runner} (last seen "
            f"{int((now - seen).total_seconds())} s ago); pause or cancel it there first",
            "job_running",
        )
    next_index = row.first_index + row.confirmed
    later = [s for s in printed_spans(session, row.range_id, now, exclude=row.id) if s.job > row.id]
    clashes = _overlaps(later, next_index, row.last_index)
    if clashes:
        s = clashes[0]
        raise RuleViolation(
            "job",
            f"job: labels {s.first:,}..{s.last:,} of range {row.range_id} were printed by job {s.job} after "
            f"job {row.id} stopped; start a new job for what is left",
            "already_printed",
        )
    row.runner = runner
    row.state = "running" if next_index <= row.last_index else "done"
    row.requested = None
    row.heartbeat_at = now
    row.ended_at = None if row.state == "running" else now
    row.error = None
    session.flush()
    return _view(row, now)


def record_progress(
    session: Session,
    job_id: int,
    runner: str,
    now: datetime,
    *,
    confirmed: int | None = None,
    state: str | None = None,
    output_bytes: int | None = None,
    error: str | None = None,
) -> str | None:
    """The printing process reports (and heartbeats); returns the state the console asks for.

    Refused once another process has claimed the job, so a process that was taken for dead
    and comes back cannot overwrite the new one's progress."""
    row = _row(session, job_id)
    if row.runner != runner:
        raise RuleViolation(
            "job", f"job: print job {row.id} is now held by {row.runner}, not {runner}; stopping", "job_taken"
        )
    if confirmed is not None:
        if not 0 <= confirmed <= row.last_index - row.first_index + 1:
            raise InvalidInput(
                "confirmed",
                f"confirmed: expected 0..{row.last_index - row.first_index + 1}, found {confirmed}",
            )
        row.confirmed = max(row.confirmed, confirmed)
    if output_bytes is not None:
        row.output_bytes = output_bytes
    if error is not None:
        row.error = error[:2000]
    if state is not None:
        if state not in STATES:
            raise InvalidInput("state", f"state: expected one of {', '.join(STATES)}, found {state!r}")
        row.state = state
        if state not in LIVE_STATES:
            row.ended_at = now
            row.requested = None
    row.heartbeat_at = now
    session.flush()
    return row.requested


def request_state(
    session: Session, job_id: int, requested: str, now: datetime, *, station: str, operator: bool = False
) -> tuple[PrintJobView, bool]:
    """The console's pause / resume / cancel. Returns the job and whether a new printing
    process must be started (resuming a job no live process holds)."""
    if requested not in REQUESTS:
        raise InvalidInput(
            "requested", f"requested: expected one of {', '.join(REQUESTS)}, found {requested!r}"
        )
    row = _row(session, job_id, lock=True)
    if not operator and row.station_org_id != station:
        raise NotPermitted("job", f"job: print job {row.id} belongs to {row.station_org_id}", "not_station")
    if row.state == "done" or (row.state == "cancelled" and requested != "running"):
        raise RuleViolation("job", f"job: print job {row.id} is {row.state}", "job_finished")
    alive = _alive(row, now)
    start_process = False
    if requested == "cancelled" and not alive:
        row.state, row.ended_at, row.requested = "cancelled", now, None
    elif requested == "running" and not alive:
        start_process = True  # claim_job, in the new process, does the checks
    elif requested == "paused" and not (alive and row.state == "running"):
        raise RuleViolation("job", f"job: print job {row.id} is not running", "job_not_running")
    else:
        row.requested = requested
    session.flush()
    return _view(row, now), start_process
