"""Running a claimed print job: its unconfirmed labels streamed in constant memory to the
transport (ZPL and TSPL) or written as one PDF, every confirmation recorded on the job row in
its own short transaction, so that after a crash or Ctrl-C `--resume JOB` starts at the first
unconfirmed label."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from farmtrace.ledger.errors import LedgerError
from farmtrace.printer import LabelData, PrinterError, get_layout, iter_pdf
from farmtrace.printer.compose import label_texts
from farmtrace.printer.errors import TransportError
from farmtrace.printer.render_zpl import zpl_font_download
from farmtrace.printer.transports import (
    CupsTransport,
    FileTransport,
    PrintJob,
    Progress,
    Transport,
    WithPreamble,
)
from farmtrace.trace import printing
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.errors import InvalidInput, TraceError
from farmtrace.trace.printing import PrintJobView
from farmtrace.web.cli.codes import domain_of
from farmtrace.web.cli.context import master_key, write_session
from farmtrace.web.cli.print_control import Control, Gate, stop_on_signals
from farmtrace.web.cli.print_output import Bar, how_far
from farmtrace.web.cli.print_targets import Target, confirmed_output, make_transport, parse_target, pdf_path
from farmtrace.web.settings import Settings

T = TypeVar("T")


def runner_name() -> str:
    """Who holds a job while it prints: host:pid plus a few random hex digits."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def in_session(engine: Engine, action: Callable[[Session], T]) -> T:
    """One short write transaction, refusals as one sentence."""
    try:
        with write_session(engine) as session:
            return action(session)
    except (TraceError, LedgerError) as exc:
        raise click.ClickException(exc.message if isinstance(exc, InvalidInput) else str(exc)) from None


def run_job(
    engine: Engine,
    settings: Settings,
    job: PrintJobView,
    runner: str,
    *,
    status: bool = True,
    confirm_every: int | None = None,
    zpl_font: str = "job",
    retries: int = 5,
) -> PrintJobView:
    """Print the job's unconfirmed labels (the job must be claimed by `runner`); returns the
    job as recorded at the end."""
    target = parse_target(job.printer)

    def read_plan(session: Session) -> printing.LabelPlan:
        keyring = SerialKeyStore(session, master_key(settings)).keyring()
        return printing.label_plan(
            session, keyring, domain_of(settings), job.range_id, packed_on=job.packed_on, brand=job.brand
        )

    plan = in_session(engine, read_plan)
    labels = plan.labels(range(job.next_index, job.last_index + 1))
    bar = Bar(job)
    try:
        if job.format == "pdf":
            return _run_pdf(engine, job, runner, target, labels, bar)
        transport = make_transport(target, job, status)
        if isinstance(transport, FileTransport):
            try:
                transport.check()
            except TransportError as exc:
                raise click.ClickException(str(exc)) from None
        if job.format == "zpl" and zpl_font == "job":
            transport = WithPreamble(
                transport, font_preamble(plan), every_window=target.kind in ("spool", "cups")
            )
        every = confirm_every or (10 if target.kind == "tcp" else 500)
        return _run_stream(engine, job, runner, transport, labels, bar, every, retries)
    finally:
        bar.close()


def font_preamble(plan: printing.LabelPlan) -> bytes:
    """The ZPL font subset (~DY) for a job. Every label of a job has the same texts apart from
    the serial (ASCII, always in the subset), so one label's texts name every glyph needed."""
    sample = LabelData(
        uri="-",
        serial="-",
        product_name=plan.product_name,
        lot=plan.lot,
        packed_on=plan.packed_on,
        producer=plan.producer,
        brand=plan.brand,
    )
    return zpl_font_download(characters="".join(label_texts(sample).values()))


def _finish(
    engine: Engine, job: PrintJobView, runner: str, state: str, confirmed: int, **extra: Any
) -> PrintJobView:
    def action(session: Session) -> PrintJobView:
        printing.record_progress(
            session, job.id, runner, datetime.now(UTC), confirmed=confirmed, state=state, **extra
        )
        return printing.get_job(session, job.id, datetime.now(UTC))

    return in_session(engine, action)


def _run_stream(
    engine: Engine,
    job: PrintJobView,
    runner: str,
    transport: Transport,
    labels: Iterator[LabelData | None],
    bar: Bar,
    confirm_every: int,
    retries: int,
) -> PrintJobView:
    def progress(p: Progress) -> None:
        confirmed = p.confirmed_until - job.first_index
        bar.show(confirmed)
        if p.state in ("running", "paused", "reconnecting"):
            with write_session(engine) as session:
                printing.record_progress(
                    session,
                    job.id,
                    runner,
                    datetime.now(UTC),
                    confirmed=confirmed,
                    state="paused" if p.state == "paused" else None,
                    **confirmed_output(transport),
                )

    chunks = printing.label_chunks(job.format, labels, get_layout(job.layout), job.dpi)
    print_job = PrintJob(
        chunks,
        transport,
        start_index=job.next_index,
        confirm_every=confirm_every,
        on_progress=progress,
        max_retries=retries,
    )
    with Control(engine, job, runner, print_job):
        try:
            with stop_on_signals(print_job):
                result = print_job.run()
        except PrinterError as exc:
            confirmed = print_job.confirmed_until - job.first_index
            _finish(engine, job, runner, "failed", confirmed, error=str(exc), **confirmed_output(transport))
            raise click.ClickException(f"job {job.id} failed: {exc}\n{how_far(job, confirmed)}") from None
    confirmed = result.confirmed_until - job.first_index
    state = "cancelled" if result.cancelled and confirmed < job.count else "done"
    return _finish(engine, job, runner, state, confirmed, **confirmed_output(transport))


def _run_pdf(
    engine: Engine,
    job: PrintJobView,
    runner: str,
    target: Target,
    labels: Iterator[LabelData | None],
    bar: Bar,
) -> PrintJobView:
    """A PDF is one document: written to a temporary file and delivered whole (renamed into
    place, or queued with lp), so its labels are confirmed together at the end. Cancelling
    ends the document after the labels rendered so far, and those count as printed."""
    if target.kind == "tcp":
        raise click.ClickException("--to: a PDF goes to a file, spool:DIR or cups:QUEUE, not a printer port")
    gate = Gate()
    out = pdf_path(target, job)
    directory = Path(tempfile.gettempdir()) if target.kind == "cups" else out.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".job{job.id}-", suffix=".pdf.tmp", dir=directory)
    temp = Path(temp_name)

    def counted() -> Iterator[LabelData]:
        for label in gate.stream(labels):
            bar.show(job.confirmed + gate.passed)
            yield label

    with Control(engine, job, runner, gate):
        try:
            with stop_on_signals(gate), os.fdopen(fd, "wb") as handle:
                stream = counted()
                first = next(stream, None)
                if first is not None:
                    layout = get_layout(job.layout)
                    for chunk in iter_pdf(
                        itertools.chain([first], stream), layout, title=f"farmtrace job {job.id}"
                    ):
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
            if first is not None:
                if target.kind == "cups":
                    cups = CupsTransport(target.value, title=f"farmtrace job {job.id}")
                    cups.open()
                    try:
                        cups.send(temp.read_bytes())
                        cups.confirm()
                    finally:
                        cups.close()
                else:
                    os.replace(temp, out)
                    click.echo(f"wrote {out}", err=True)
        except PrinterError as exc:
            _finish(engine, job, runner, "failed", job.confirmed, error=str(exc))
            raise click.ClickException(f"job {job.id} failed: {exc}") from None
        finally:
            temp.unlink(missing_ok=True)
    confirmed = job.confirmed + gate.passed
    state = "cancelled" if gate.cancelled and confirmed < job.count else "done"
    return _finish(engine, job, runner, state, confirmed)
