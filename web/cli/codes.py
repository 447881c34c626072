"""`farmtrace codes`: issue item codes to a batch, look one up, void, record reprints, export
URIs for print shops, and flush scan counts. Thin glue over farmtrace.trace.codes."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.codes.export import FORMATS, ExportPlan, plan_export, write_export
from farmtrace.trace.codes.facts import facts_json, scan_facts
from farmtrace.trace.codes.issue import CodeService, IssuedRange, RangeEvent
from farmtrace.trace.codes.scans import flush_scans, purge_salts
from farmtrace.trace.errors import InvalidInput, TraceError
from farmtrace.trace.orgs import OrgService
from farmtrace.trace.services import trace_services
from farmtrace.web.cli.context import connect, load_settings, master_key, write_session
from farmtrace.web.settings import Settings

T = TypeVar("T")


@click.group()
def codes() -> None:
    """One item, one code: issue, show, void, reprint, export, flush scan counts."""


def domain_of(settings: Settings) -> str:
    """The host (and port) of FARMTRACE_PUBLIC_BASE_URL: the domain label URIs carry."""
    return settings.public_base_url.split("://", 1)[1].split("/", 1)[0]


def _run(action: Callable[[Settings, CodeService, Session], T]) -> T:
    """Run `action` in one write transaction (committed if it returns), errors as one sentence."""
    settings = load_settings()
    engine = connect(settings)
    try:
        with write_session(engine) as session:
            keystore = KeyStore(session, master_key(settings))
            ctx = trace_services(session, keystore).ctx
            return action(settings, CodeService(ctx, max_count=settings.max_codes_per_request), session)
    except (TraceError, LedgerError) as exc:
        raise click.ClickException(exc.message if isinstance(exc, InvalidInput) else str(exc)) from None


def _actor(service: CodeService, org: str | None) -> str:
    if org is not None:
        return org
    operator = OrgService(service.ctx).operator()
    if operator is None:
        raise click.ClickException("no county operator is registered yet; name the organisation with --by")
    return operator.id


def _echo_range(issued: IssuedRange) -> None:
    click.echo(f"range        {issued.range_id}")
    click.echo(f"batch        {issued.batch_id}")
    click.echo(f"count        {issued.count:,}")
    click.echo(f"first serial {issued.first_serial}")
    click.echo(f"last serial  {issued.last_serial}")
    click.echo(f"station      {issued.station}")
    if issued.layout:
        click.echo(f"layout       {issued.layout}")
    click.echo(f"issued at    {issued.issued_at.isoformat(timespec='seconds')}")
    click.echo(f"entry hash   {b64encode(issued.entry_hash)}")
    if issued.voided:
        click.echo("VOIDED: none of its codes is genuine any more")
    for event in (*issued.voids, *issued.reprints):
        _echo_event(event, indent="  ")


def _echo_event(event: RangeEvent, indent: str = "") -> None:
    what = "range" if event.scope == "range" else f"code {event.serial}"
    verb = "voided" if event.kind == "void" else "reprinted"
    click.echo(
        f"{indent}{verb} {what} ({event.count:,} codes) by {event.org} "
        f"at {event.at.isoformat(timespec='seconds')}: {event.reason}"
    )


@codes.command()
@click.option("--batch", "batch_id", required=True, help="Batch id, e.g. B0123456789AB.")
@click.option("--count", type=int, required=True, help="How many codes to issue.")
@click.option("--station", help="The issuing packing station (default: the county operator).")
@click.option("--layout", help="The label layout the codes are for, e.g. 70x50.")
@click.option("--client-id", help="Idempotency key: a retry with the same key returns the same range.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def issue(
    batch_id: str, count: int, station: str | None, layout: str | None, client_id: str | None, as_json: bool
) -> None:
    """Issue COUNT new codes to a batch: one range, one ledger entry, no row per code."""
    issued = _run(
        lambda _s, service, _session: service.issue(
            _actor(service, station), batch_id, count, layout=layout, client_id=client_id
        )
    )
    if as_json:
        click.echo(json.dumps(issued.to_json(), ensure_ascii=False, indent=2))
    else:
        _echo_range(issued)


@codes.command()
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(code: str, as_json: bool) -> None:
    """What a scan of CODE (a serial or a label URI) shows, and its range. Counts no scan."""

    def action(settings: Settings, service: CodeService, session: Session) -> tuple[Any, IssuedRange | None]:
        facts = scan_facts(session, code, keyring=service.keyring(), domain=domain_of(settings))
        issued = service.range(facts.range_id) if facts.issued and facts.range_id is not None else None
        return facts_json(facts), issued

    out, issued = _run(action)
    if as_json:
        click.echo(json.dumps({**out, "range": issued and issued.to_json()}, ensure_ascii=False, indent=2))
    else:
        _echo_facts(out)
        if issued is not None:
            click.echo("")
            _echo_range(issued)
    if issued is None:
        sys.exit(1)


def _echo_facts(out: dict[str, Any]) -> None:
    click.echo(f"status   {out['status']}")
    if "hint" in out:
        click.echo(f"hint     {out['hint']}")
    if "serial" not in out:
        return
    product, batch, scans = out["product"], out["batch"], out["scans"]
    click.echo(f"serial   {out['serial']}")
    click.echo(f"uri      {out['uri']}")
    click.echo(f"product  {product['id']} {product['name_zh']} (GTIN {product['gtin'] or 'none'})")
    click.echo(f"batch    {batch['id']} lot {batch['lot']}{' RECALLED' if batch['recalled'] else ''}")
    when = f" (first {scans['first_at']}, last {scans['last_at']})" if scans["count"] else ""
    click.echo(f"scans    {scans['count']}{when}")
    for signal in out["signals"]:
        extra = f": {signal['reason']}" if "reason" in signal else ""
        click.echo(f"signal   {signal['level']} {signal['code']}{extra}")


def _range_command(kind: str, code: str | None, range_id: int | None, reason: str, by: str | None) -> None:
    if (code is None) == (range_id is None):
        raise click.UsageError("give exactly one of --code and --range")

    def action(_settings: Settings, service: CodeService, _session: Session) -> RangeEvent:
        act = service.void if kind == "void" else service.reprint
        return act(_actor(service, by), reason, range_id=range_id, code=code)

    _echo_event(_run(action))


@codes.command()
@click.option("--code", help="One code: a serial or a label URI.")
@click.option("--range", "range_id", type=int, help="A whole range, by its number.")
@click.option("--reason", required=True, help="Why (recorded in the ledger and shown on scans).")
@click.option("--by", help="The acting organisation (default: the county operator).")
def void(code: str | None, range_id: int | None, reason: str, by: str | None) -> None:
    """Void one code or a whole range (damaged labels, a misprinted roll)."""
    _range_command("void", code, range_id, reason, by)


@codes.command()
@click.option("--code", help="One code: a serial or a label URI.")
@click.option("--range", "range_id", type=int, help="A whole range, by its number.")
@click.option("--reason", required=True, help="Why the labels were printed again.")
@click.option("--by", help="The acting organisation (default: the county operator).")
def reprint(code: str | None, range_id: int | None, reason: str, by: str | None) -> None:
    """Record that one code's or a range's labels were printed again."""
    _range_command("reprint", code, range_id, reason, by)


@codes.command()
@click.option("--batch", "batch_id", required=True, help="Batch id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ranges(batch_id: str, as_json: bool) -> None:
    """List a batch's code ranges with their voids and reprints."""
    found = _run(lambda _s, service, _session: service.ranges(batch_id))
    if as_json:
        click.echo(json.dumps([r.to_json() for r in found], ensure_ascii=False, indent=2))
        return
    for index, issued in enumerate(found):
        if index:
            click.echo("")
        _echo_range(issued)


@codes.command()
@click.option("--batch", "batch_id", required=True, help="Batch id.")
@click.option(
    "--range", "range_id", type=int, help="Only this range (default: every live range of the batch)."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
def export(batch_id: str, range_id: int | None, fmt: str, output: Path | None) -> None:
    """Stream the label URIs for a print shop (voided codes left out), in constant memory."""
    plan: ExportPlan = _run(
        lambda settings, service, session: plan_export(
            session, service.keyring(), domain_of(settings), batch_id, range_id
        )
    )
    # atomic: the print shop never sees a half-written file if the export is interrupted.
    target = (
        click.open_file(str(output), "w", encoding="ascii", atomic=True)
        if output
        else contextlib.nullcontext(sys.stdout)
    )
    # A progress bar only where a person watches it: stderr is a terminal, and the URIs
    # are not going to that same terminal.
    show_bar = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
    with target as out:
        if show_bar:
            with click.progressbar(length=plan.total, label="codes", file=sys.stderr) as bar:
                written = write_export(plan, out, fmt, progress=bar)
        else:
            written = write_export(plan, out, fmt)
    notes = []
    if plan.skipped_voided:
        notes.append(f"{plan.skipped_voided:,} voided codes left out")
    if plan.skipped_ranges:
        notes.append(f"voided ranges left out: {', '.join(map(str, plan.skipped_ranges))}")
    click.echo(f"{written:,} codes" + (f" ({'; '.join(notes)})" if notes else ""), err=True)


@codes.command()
@click.option("--every", type=float, help="Keep flushing every SECONDS (default: once, then exit).")
def flush(every: float | None) -> None:
    """Add waiting scans to the per-item counts, and delete the client-hash salts of past days."""
    engine = connect(load_settings())
    while True:
        moved = 0
        while True:  # one short transaction per batch, so scans never wait long for a flush
            with write_session(engine) as session:
                taken = flush_scans(session)
            moved += taken
            if not taken:
                break
        with write_session(engine) as session:
            purge_salts(session, datetime.now(UTC).date())
        if every is None:
            click.echo(f"{moved:,} scans counted")
            return
        time.sleep(every)
