"""`farmtrace export`: a batch's record as an EPCIS 2.0 JSON-LD document."""

from __future__ import annotations

import json
from pathlib import Path

import click

from farmtrace.trace.epcis_export import LINEAGE_SCOPES, export_batch
from farmtrace.web.cli.trace_glue import run


@click.group()
def export() -> None:
    """Export the record in standard formats."""


@export.command()
@click.option("--batch", "batch_id", required=True)
@click.option(
    "--lineage",
    type=click.Choice(LINEAGE_SCOPES),
    default="both",
    show_default=True,
    help="Which related batches to include.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
def epcis(batch_id: str, lineage: str, output: Path | None) -> None:
    """Export a batch (and its lineage) as EPCIS 2.0; each eventID is the EPCIS Event Hash ID."""

    def action(t, settings):  # type: ignore[no-untyped-def]
        operator = t.orgs.operator()
        sender = (
            f"{settings.public_base_url}/org/{operator.id}"
            if operator is not None
            else settings.public_base_url
        )
        return export_batch(
            t.ctx.session,
            batch_id,
            public_base_url=settings.public_base_url,
            created_at=t.ctx.now(),
            lineage=lineage,
            sender=sender,
        )

    document = run(action)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{len(document['epcisBody']['eventList'])} events written to {output}")
