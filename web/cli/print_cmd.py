"""`farmtrace print`: print a batch's labels as a recorded job (trace.printing), streamed in
constant memory to a network printer, a file, a spool directory or a CUPS queue.

The job row is the truth about progress: every confirmation is committed in its own short
transaction, so after a crash or Ctrl-C `--resume JOB` starts at the first unconfirmed label.
A second thread polls the row for the console's pause / resume / cancel and writes a
heartbeat, by which other processes tell a live job from a dead one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keystore import KeyStore
from farmtrace.printer import LabelData, PrinterError, get_layout, iter_pdf
from farmtrace.printer.compose import label_texts
from farmtrace.printer.errors import TransportError
from farmtrace.printer.render_zpl import zpl_font_download
from farmtrace.printer.transports import (
    TSPL_STATUS,
    ZPL_HOST_STATUS,
    CupsTransport,
    PrintJob,
    Progress,
    SpoolTransport,
    TcpTransport,
    Transport,
)
from farmtrace.trace import printing
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.codes.resolve import locate
from farmtrace.trace.errors import InvalidInput, TraceError
from farmtrace.trace.orgs import OrgService
from farmtrace.trace.printing import PrintJobView
from farmtrace.trace.services import trace_services
from farmtrace.web.cli.codes import domain_of
from farmtrace.web.cli.context import connect, load_settings, master_key, write_session
from farmtrace.web.settings import Settings

T = TypeVar("T")
EXTENSIONS = {".zpl": "zpl", ".tspl": "tspl", ".pdf": "pdf"}
POLL_SECONDS = float(os.environ.get("FARMTRACE_PRINT_POLL", "1"))


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(exc: TraceError | LedgerError) -> click.ClickException:
    return click.ClickException(exc.message if isinstance(exc, InvalidInput) else str(exc))


def _in_session(engine: Engine, action: Callable[[Session], T]) -> T:
    """One short write transaction, refusals as one sentence."""
    try:
        with write_session(engine) as session:
            return action(session)
    except (TraceError, LedgerError) as exc:
        raise _fail(exc) from None


# -- targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str  # tcp, file, spool, cups
    value: str  # host:port, path, directory, queue
    port: int = 9100


def parse_target(text: str) -> Target:
    if text.startswith("tcp://"):
        host, _, port = text[len("tcp://") :].rstrip("/").rpartition(":")
        if not host:
            host, port = port, "9100"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(f"expected tcp://HOST:PORT, found {text!r}", param_hint="--to")
        return Target("tcp", host.strip("[]"), int(port))
    for prefix in ("spool:", "cups:"):
        if text.startswith(prefix) and len(text) > len(prefix):
            return Target(prefix[:-1], text[len(prefix) :])
    if Path(text).suffix.lower() in EXTENSIONS:
        return Target("file", str(Path(text).absolute()))
    raise click.BadParameter(
        f"expected tcp://HOST:9100, FILE.zpl, FILE.tspl, FILE.pdf, spool:DIR or cups:QUEUE, found {text!r}",
        param_hint="--to",
    )


def target_uri(target: Target) -> str:
    if target.kind == "tcp":
        return f"tcp://{target.value}:{target.port}"
    return target.value if target.kind == "file" else f"{target.kind}:{target.value}"


def default_format(target: Target) -> str:
    return EXTENSIONS[Path(target.value).suffix.lower()] if target.kind == "file" else "zpl"


def pdf_path(target: Target, job: PrintJobView) -> Path:
    """Where a PDF run goes: a resumed run writes a second file beside the first."""
    if target.kind == "spool":
        return Path(target.value) / f"job{job.id}-{job.next_index:08d}-{job.last_index:08d}.pdf"
    path = Path(target.value)
    return (
        path if job.confirmed == 0 else path.with_name(f"{path.stem}.from-{job.next_index:08d}{path.suffix}")
    )


class FileTransport:
    """Labels appended to one file; `confirm()` fsyncs and remembers the length. Reopening
    (a retry, or a resumed job given its recorded length) cuts the file back to the last
    confirmed length, so every label is in the file exactly once."""

    def __init__(self, path: Path, confirmed_bytes: int = 0) -> None:
        self.path = path
        self.confirmed_bytes = confirmed_bytes
        self._file: BinaryIO | None = None

    def check(self) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self.confirmed_bytes:
            raise TransportError(
                f"{self.path}: expected at least the {self.confirmed_bytes:,} bytes confirmed so far, "
                f"found {size:,}; the file was changed since"
            )

    def open(self) -> None:
        self.close()
        try:
            self.check()
            self._file = open(self.path, "r+b" if self.path.exists() else "w+b")  # noqa: SIM115
            self._file.truncate(self.confirmed_bytes)
            self._file.seek(self.confirmed_bytes)
        except OSError as exc:
            raise TransportError(f"{self.path}: cannot open ({exc})") from exc

    def send(self, data: bytes) -> None:
        if self._file is None:
            raise TransportError(f"{self.path}: send before open")
        try:
            self._file.write(data)
        except OSError as exc:
            raise TransportError(f"{self.path}: write failed ({exc})") from exc

    def confirm(self) -> None:
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise TransportError(f"{self.path}: could not commit ({exc})") from exc
        self.confirmed_bytes = self._file.tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class WithPreamble:
    """Sends `preamble` (the ZPL font subset) in front of the first label after each open, and
    also after each confirm when every window is a separate file or print job."""

    def __init__(self, inner: Transport, preamble: bytes, every_window: bool) -> None:
        self.inner = inner
        self.preamble = preamble
        self.every_window = every_window
        self._due = True

    def open(self) -> None:
        self.inner.open()
        self._due = True

    def send(self, data: bytes) -> None:
        if self._due and data:
            data, self._due = self.preamble + data, False
        self.inner.send(data)

    def confirm(self) -> None:
        self.inner.confirm()
        self._due = self._due or self.every_window

    def close(self) -> None:
        self.inner.close()


def make_transport(target: Target, job: PrintJobView, status: bool) -> Transport:
    family = job.format.split("-")[0]
    if target.kind == "tcp":
        query = (ZPL_HOST_STATUS if family == "zpl" else TSPL_STATUS) if status else None
        return TcpTransport(target.value, target.port, status_query=query)
    if target.kind == "spool":
        return SpoolTransport(Path(target.value), f"job{job.id}", family, start_index=job.next_index)
    if target.kind == "cups":
        return CupsTransport(target.value, title=f"farmtrace job {job.id}")
    return FileTransport(Path(target.value), job.output_bytes or 0)


# -- running a job -----------------------------------------------------------------------------


class Gate:
    """Pause / resume / cancel for a PDF run (PrintJob has its own): the label stream waits or
    ends, and `passed` counts the labels handed to the renderer."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()
        self.passed = 0

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def stream(self, labels: Iterator[LabelData | None]) -> Iterator[LabelData]:
        for label in labels:
            self._running.wait()
            if self._cancel.is_set():
                return
            self.passed += 1
            if label is not None:
                yield label


class Control(threading.Thread):
    """Polls the job row for the console's requests and writes the heartbeat."""

    def __init__(self, engine: Engine, job: PrintJobView, runner: str, target: PrintJob | Gate) -> None:
        super().__init__(daemon=True, name=f"print-job-{job.id}-control")
        self.engine, self.job, self.runner, self.target = engine, job, runner, target
        self.stop = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            try:
                self._poll()
            except (TraceError, LedgerError) as exc:
                self.error = str(exc)  # taken over by another process: stop printing
                self.target.cancel()
                return
            except SQLAlchemyError:
                continue  # a database hiccup: try again on the next poll

    def _poll(self) -> None:
        with write_session(self.engine) as session:
            requested = printing.record_progress(session, self.job.id, self.runner, _now())
        if requested == "cancelled":
            self.target.cancel()
        elif requested == "paused" and not self.target.paused:
            self.target.pause()
        elif requested == "running" and self.target.paused:
            self.target.resume()
            with write_session(self.engine) as session:
                printing.record_progress(session, self.job.id, self.runner, _now(), state="running")


@contextlib.contextmanager
def stop_on_signals(target: PrintJob | Gate) -> Iterator[None]:
    """SIGINT / SIGTERM: stop after the current label, confirm what was sent, record it.
    A second Ctrl-C interrupts at once."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: Any) -> None:
        click.echo("stopping after the current label (Ctrl-C again to abort at once)", err=True)
        target.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Bar:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, job: PrintJobView) -> None:
        self._bar = None
        self.shown = 0
        if sys.stderr.isatty():
            self._bar = click.progressbar(length=job.count, label=f"job {job.id}", file=sys.stderr)
            self._bar.__enter__()
            self.show(job.confirmed)

    def show(self, done: int) -> None:
        if self._bar is not None and done > self.shown:
            self._bar.update(done - self.shown)
        self.shown = max(self.shown, done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


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

    plan = _in_session(engine, read_plan)
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
        printing.record_progress(session, job.id, runner, _now(), confirmed=confirmed, state=state, **extra)
        return printing.get_job(session, job.id, _now())

    return _in_session(engine, action)


def _bytes(transport: Transport) -> dict[str, int]:
    inner = transport.inner if isinstance(transport, WithPreamble) else transport
    return {"output_bytes": inner.confirmed_bytes} if isinstance(inner, FileTransport) else {}


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
                    _now(),
                    confirmed=confirmed,
                    state="paused" if p.state == "paused" else None,
                    **_bytes(transport),
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
    control = Control(engine, job, runner, print_job)
    control.start()
    try:
        with stop_on_signals(print_job):
            result = print_job.run()
    except PrinterError as exc:
        confirmed = print_job.confirmed_until - job.first_index
        _finish(engine, job, runner, "failed", confirmed, error=str(exc), **_bytes(transport))
        raise click.ClickException(
            f"job {job.id} failed: {exc}\n{confirmed:,} of {job.count:,} labels confirmed; "
            f"resume with: farmtrace print --resume {job.id}"
        ) from None
    finally:
        control.stop.set()
        control.join()
    if control.error is not None:
        raise click.ClickException(control.error)
    confirmed = result.confirmed_until - job.first_index
    state = "cancelled" if result.cancelled and confirmed < job.count else "done"
    return _finish(engine, job, runner, state, confirmed, **_bytes(transport))


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
    control = Control(engine, job, runner, gate)
    control.start()

    def counted() -> Iterator[LabelData]:
        for label in gate.stream(labels):
            bar.show(job.confirmed + gate.passed)
            yield label

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
        control.stop.set()
        control.join()
    if control.error is not None:
        raise click.ClickException(control.error)
    confirmed = job.confirmed + gate.passed
    state = "cancelled" if gate.cancelled and confirmed < job.count else "done"
    return _finish(engine, job, runner, state, confirmed)


# -- the command -------------------------------------------------------------------------------


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def _start(engine: Engine, settings: Settings, runner: str, **given: Any) -> PrintJobView:
    def action(session: Session) -> PrintJobView:
        ctx = trace_services(session, KeyStore(session, master_key(settings))).ctx
        station = given["station"]
        if station is None:
            operator = OrgService(ctx).operator()
            if operator is None:
                raise click.ClickException(
                    "no county operator is registered yet; name the station with --station"
                )
            station = operator.id
        options = {
            "layout": given["layout"],
            "fmt": given["fmt"],
            "printer": given["printer"],
            "domain": domain_of(settings),
            "dpi": given["dpi"],
            "brand": given["brand"],
            "reprint_reason": given["reprint_reason"],
        }
        range_id, first = given["range_id"], given["start"]
        if given["from_code"] is not None:
            keyring = SerialKeyStore(session, master_key(settings)).keyring()
            try:
                identified, located = locate(session, keyring, given["from_code"])
            except InvalidInput as exc:
                raise InvalidInput("from_code", f"--from-code: {exc.message}") from None
            if range_id is not None and located.range.id != range_id:
                raise InvalidInput(
                    "from_code", f"--from-code: the code is in range {located.range.id}, not {range_id}"
                )
            range_id, first = located.range.id, identified.n - located.range.first_n
        if first is None:
            job = printing.start_next_job(
                ctx,
                batch_id=given["batch_id"],
                count=given["count"],
                station=station,
                range_id=range_id,
                **options,
            )
        else:
            job = printing.start_job(
                ctx,
                station=station,
                range_id=range_id,
                first_index=first,
                count=given["count"],
                batch_id=given["batch_id"],
                **options,
            )
        return printing.claim_job(session, job.id, runner, ctx.now())

    try:
        return _in_session(engine, action)
    except click.ClickException as exc:
        if "no issued codes" in exc.message or "issue more codes" in exc.message:
            exc.message += f" (farmtrace codes issue --batch {given['batch_id']} --count N)"
        raise


def _list(engine: Engine, batch_id: str | None) -> None:
    jobs = _in_session(engine, lambda session: printing.list_jobs(session, _now(), batch_id=batch_id))
    for job in jobs:
        line = (
            f"job {job.id}  {job.state}{'' if job.alive or job.state not in printing.LIVE_STATES else ' (stale)'}  "
            f"batch {job.batch_id} range {job.range_id} labels {job.first_index:,}..{job.last_index:,}  "
            f"{job.confirmed:,}/{job.count:,} confirmed  {job.format} {job.layout}  {job.printer}  "
            f"{job.started_at.isoformat(timespec='seconds')}"
        )
        click.echo(line)
        if job.reprint:
            click.echo(f"    REPRINT: {job.reprint_reason}")
        if job.error and job.state == "failed":
            click.echo(f"    error: {job.error}")


@click.command("print")
@click.option("--batch", "batch_id", help="Batch id: print its next unprinted codes.")
@click.option("--count", type=click.IntRange(min=1), help="How many labels.")
@click.option("--range", "range_id", type=int, help="Only this code range of the batch.")
@click.option("--start", type=click.IntRange(min=0), help="First label index within --range (for a reprint).")
@click.option("--from-code", help="Start at this code (serial or label URI), e.g. a jammed label.")
@click.option("--layout", default="50x30", show_default=True, help="Label layout (docs/printing.md).")
@click.option("--to", "to", help="tcp://HOST:9100, FILE.zpl, FILE.tspl, FILE.pdf, spool:DIR or cups:QUEUE.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(printing.FORMATS)),
    help="Default: from the file name, else zpl.",
)
@click.option("--dpi", type=click.Choice(["203", "300"]), default="203", show_default=True)
@click.option("--station", help="The printing packing station (default: the county operator).")
@click.option("--brand", help="County brand line printed on every label.")
@click.option("--reprint-reason", help="Print labels that were printed before; recorded in the ledger.")
@click.option(
    "--resume",
    "--job-id",
    "resume_id",
    type=int,
    help="Run or resume recorded job JOB from its last confirmed label.",
)
@click.option(
    "--confirm-every",
    type=click.IntRange(min=1),
    help="Labels per confirmation (default 10 over TCP, else 500).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Reconnects to a lost printer before the job stops as failed (resumable).",
)
@click.option("--no-status", is_flag=True, help="TCP: the printer answers no status query (write-only port).")
@click.option(
    "--zpl-font",
    type=click.Choice(["job", "none"]),
    default="job",
    show_default=True,
    help="Native ZPL: send the job's font subset (~DY) on each connection, or rely on a stored font.",
)
@click.option("--list", "list_jobs", is_flag=True, help="List print jobs (of --batch) and exit.")
def print_labels(
    batch_id: str | None,
    count: int | None,
    range_id: int | None,
    start: int | None,
    from_code: str | None,
    layout: str,
    to: str | None,
    fmt: str | None,
    dpi: str,
    station: str | None,
    brand: str | None,
    reprint_reason: str | None,
    resume_id: int | None,
    confirm_every: int | None,
    retries: int,
    no_status: bool,
    zpl_font: str,
    list_jobs: bool,
) -> None:
    """Print a batch's labels as a recorded job, in constant memory, resumable.

    Codes must be issued first (farmtrace codes issue). Ctrl-C stops after the current label
    and records how many were confirmed; --resume JOB continues from there.
    """
    settings = load_settings()
    engine = connect(settings)
    if list_jobs:
        _list(engine, batch_id)
        return
    runner = runner_name()
    if resume_id is not None:
        if any(
            v is not None
            for v in (batch_id, count, range_id, start, from_code, to, fmt, reprint_reason, brand)
        ):
            raise click.UsageError(
                "--resume continues a recorded job as it was started; give no other job options"
            )
        job = _in_session(engine, lambda session: printing.claim_job(session, resume_id, runner, _now()))
        if job.state == "done":
            click.echo(f"job {job.id} done: {job.confirmed:,} labels confirmed")
            return
        click.echo(f"job {job.id}: resuming at label {job.next_index:,} of range {job.range_id}", err=True)
    else:
        if batch_id is None or count is None or to is None:
            raise click.UsageError("give --batch, --count and --to (or --resume JOB, or --list)")
        if start is not None and range_id is None:
            raise click.UsageError("--start is an index within a range: give --range too")
        target = parse_target(to)
        if target.kind == "file" and Path(target.value).exists():
            raise click.ClickException(f"--to: {target.value} exists; a new job writes a new file")
        job = _start(
            engine,
            settings,
            runner,
            batch_id=batch_id,
            count=count,
            range_id=range_id,
            start=start,
            from_code=from_code,
            layout=layout,
            fmt=fmt or default_format(target),
            printer=target_uri(target),
            dpi=int(dpi),
            station=station,
            brand=brand,
            reprint_reason=reprint_reason,
        )
        reprint = f" REPRINT ({job.reprint_reason})" if job.reprint else ""
        click.echo(
            f"job {job.id}: batch {job.batch_id} range {job.range_id} labels {job.first_index:,}.."
            f"{job.last_index:,} ({job.count:,}) as {job.format} {job.layout} to {job.printer}{reprint}",
            err=True,
        )
    end = run_job(
        engine,
        settings,
        job,
        runner,
        status=not no_status,
        confirm_every=confirm_every,
        zpl_font=zpl_font,
        retries=retries,
    )
    if end.state == "done":
        click.echo(f"job {end.id} done: {end.confirmed:,} labels confirmed")
        return
    raise click.ClickException(
        f"job {end.id} {end.state}: {end.confirmed:,} of {end.count:,} labels confirmed; "
        f"resume with: farmtrace print --resume {end.id}"
    )
