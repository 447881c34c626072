"""`farmtrace print`: print a batch's labels as a recorded job (trace.printing), streamed in
constant memory to a network printer, a file, a spool directory or a CUPS queue.

This module is the command: its options, starting or resuming a job, and --list. Running the
job is web/cli/print_run.py; where labels go, print_targets.py; the console's pause / resume /
cancel and Ctrl-C, print_control.py; what the operator is told, print_output.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace import printing
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.codes.resolve import locate
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.orgs import OrgService
from farmtrace.trace.printing import PrintJobView
from farmtrace.trace.services import trace_services
from farmtrace.web.cli import print_output
from farmtrace.web.cli.codes import domain_of
from farmtrace.web.cli.context import connect, load_settings, master_key
from farmtrace.web.cli.print_run import in_session, run_job, runner_name
from farmtrace.web.cli.print_targets import default_format, parse_target, target_uri
from farmtrace.web.settings import Settings


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
        job = printing.start_batch_job(
            ctx,
            batch_id=given["batch_id"],
            count=given["count"],
            station=station,
            range_id=range_id,
            first_index=first,
            **options,
        )
        return printing.claim_job(session, job.id, runner, ctx.now())

    try:
        return in_session(engine, action)
    except click.ClickException as exc:
        if "no issued codes" in exc.message or "issue more codes" in exc.message:
            exc.message += f" (farmtrace codes issue --batch {given['batch_id']} --count N)"
        raise


def _list(engine: Engine, batch_id: str | None) -> None:
    jobs = in_session(
        engine, lambda session: printing.list_jobs(session, datetime.now(UTC), batch_id=batch_id)
    )
    for job in jobs:
        for line in print_output.listed(job):
            click.echo(line)


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
        job = in_session(
            engine, lambda session: printing.claim_job(session, resume_id, runner, datetime.now(UTC))
        )
        if job.state == "done":
            click.echo(print_output.done(job))
            return
        click.echo(print_output.resuming(job), err=True)
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
        click.echo(print_output.started(job), err=True)
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
        click.echo(print_output.done(end))
        return
    raise click.ClickException(f"job {end.id} {end.state}: {print_output.how_far(end, end.confirmed)}")
