"""`farmtrace report`: the statistics report for a period, as CSV, XLSX or JSON.

    farmtrace report --period month --date 2026-09 --scope town --format xlsx -o 2026-09.xlsx
    farmtrace report --period custom --date 2026-09-01..2026-09-15 --format json

Figures are defined in docs/reports.md. Without --include-personal the report holds no
personal data; with it, households' sales and complaints with phone numbers are added and
the file says so on its first row (CSV), first sheet (XLSX) or `personal_data` (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from farmtrace.trace.errors import TraceError
from farmtrace.trace.reports import export
from farmtrace.trace.reports.period import KINDS, parse_period
from farmtrace.trace.reports.report import build_report
from farmtrace.trace.reports.scopes import Scope
from farmtrace.web.cli.context import connect, load_settings
from farmtrace.web.cli.trace_glue import one_line

FORMATS = ("csv", "xlsx", "json")


@click.command("report")
@click.option("--period", "kind", type=click.Choice(KINDS), required=True, help="day, month, year or custom.")
@click.option(
    "--date",
    "date_text",
    required=True,
    help="2026-09-14 (day), 2026-09 (month), 2026 (year), or FROM..TO with TO excluded (custom).",
)
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default="county",
    show_default=True,
    help="One row per town, cooperative or product (with the county total).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the -o suffix, else json.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output; xlsx needs a file).",
)
@click.option(
    "--include-personal",
    is_flag=True,
    help="Add poverty households' sales by name and complaints with phone numbers (operator use only).",
)
def report(
    kind: str, date_text: str, scope: str, fmt: str | None, output: Path | None, include_personal: bool
) -> None:
    """Statistics for a period: batches, codes, scans, complaints, lab tests, recalls, deliveries,
    cold chain, sales and the poverty-alleviation part (docs/reports.md)."""
    fmt = fmt or (
        output.suffix.lstrip(".").lower()
        if output and output.suffix.lstrip(".").lower() in FORMATS
        else "json"
    )
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx writes a workbook: give a file with -o")
    try:
        period = parse_period(kind, date_text)
    except TraceError as exc:
        raise click.BadParameter(one_line(exc), param_hint="--date") from None
    engine = connect(load_settings())
    try:
        with Session(engine) as session:
            result = build_report(session, period, Scope(scope), include_personal=include_personal)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"the report could not be computed: {reason}") from None
    finally:
        engine.dispose()
    if fmt == "xlsx":
        data = export.xlsx_bytes(result)
    elif fmt == "csv":
        data = export.csv_bytes(result)
    else:
        data = (json.dumps(export.report_document(result), ensure_ascii=False, indent=2) + "\n").encode(
            "utf-8"
        )
    if output is None:
        click.get_binary_stream("stdout").write(data)
    else:
        output.write_bytes(data)
        click.echo(f"{export.title(result)} written to {output}", err=True)
    if result.personal_data:
        click.echo("warning: this report contains personal data; do not publish it", err=True)
