"""`farmtrace events`: record typed events on a batch, correct them, upload lab reports."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import click

from farmtrace.trace.documents import MAX_DOCUMENT_BYTES, store_document
from farmtrace.trace.events import SCHEMAS
from farmtrace.trace.events import types as t
from farmtrace.web.cli.trace_glue import as_option, echo_json, json_option, read_json, run


@click.group()
def events() -> None:
    """Record events (farming, harvest, lab tests, logistics, sales) on batches."""


@events.command(name="add")
@click.option("--type", "event_type", required=True, type=click.Choice(t.RECORDABLE), help="The event type.")
@click.option("--batch", "batch_id", required=True)
@click.option("--json-file", required=True, help="The payload (JSON; '-' for stdin). See docs/domain.md.")
@click.option("--event-time", help="RFC 3339 time with offset (default: now).")
@click.option("--client-id", help="Idempotency key: a retry with the same key records nothing new.")
@as_option(required=True)
@json_option
def add(event_type, batch_id, json_file, event_time, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Record one event, signed by the acting organisation's key."""
    payload = read_json(json_file)
    recorded = run(
        lambda tr, _s: tr.events.record(
            batch_id, event_type, payload, actor=actor, event_time=event_time, client_id=client_id
        )
    )
    if as_json:
        echo_json(recorded.to_json())
        return
    click.echo(
        f"{recorded.batch}/{recorded.seq} {recorded.type} {recorded.hash}"
        + ("" if recorded.created else " (already recorded)")
    )
    for flag in recorded.flags:
        click.echo(f"FLAG: {flag}")


@events.command()
@click.option("--batch", "batch_id", required=True)
@click.option("--amends", required=True, help="The hash (base64) of the entry being corrected.")
@click.option("--reason", required=True)
@click.option("--json-file", required=True, help="The corrected payload, in full.")
@click.option("--client-id")
@as_option(required=True)
@json_option
def correct(batch_id, amends, reason, json_file, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Correct an event you recorded by restating its payload."""
    payload = read_json(json_file)
    recorded = run(
        lambda tr, _s: tr.events.correct(
            batch_id, amends, payload, actor=actor, reason=reason, client_id=client_id
        )
    )
    echo_json(recorded.to_json()) if as_json else click.echo(
        f"{recorded.batch}/{recorded.seq} corrects {amends}"
    )


@events.command()
def types() -> None:
    """List the event types and their payload fields."""
    for event_type in t.RECORDABLE:
        schema = SCHEMAS[event_type]()
        fields = ", ".join(name + ("*" if field.required else "") for name, field in schema.fields.items())
        click.echo(f"{event_type:<24} {fields}")
    click.echo("(* required)")


@events.command(name="upload-report")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--media-type", help="application/pdf, image/png or image/jpeg (default: from the file name).")
@as_option(required=True)
def upload_report(path: Path, media_type: str | None, actor: str) -> None:
    """Store a lab report (content-addressed) and print its SHA-256 for the lab.tested payload."""
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise click.ClickException(f"{path}: larger than {MAX_DOCUMENT_BYTES} bytes")
    kind = media_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    content = path.read_bytes()
    digest = run(lambda tr, _s: store_document(tr.ctx, content, kind, filename=path.name, uploaded_by=actor))
    click.echo(digest)
