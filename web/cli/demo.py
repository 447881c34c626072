"""`farmtrace demo`: a database with demonstration data, optionally served at once."""

from __future__ import annotations

import click

from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.sequencer import integrate
from farmtrace.trace.demo import load_demo
from farmtrace.trace.errors import TraceError
from farmtrace.web import migrate
from farmtrace.web.cli.context import connect, load_settings, log_signer, master_key, write_session
from farmtrace.web.cli.keys import write_root_key
from farmtrace.web.cli.serve import run_gunicorn
from farmtrace.web.cli.trace_glue import one_line
from farmtrace.web.console.demo_users import add_demo_logins


@click.command()
@click.option("--serve/--no-serve", "then_serve", default=False, help="Start the web service afterwards.")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
def demo(then_serve: bool, bind: str, workers: int) -> None:
    """Migrate the database and load the county's demonstration data (idempotent)."""
    settings = load_settings()
    engine = connect(settings)
    migrate.upgrade(engine)
    click.echo(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    try:
        with write_session(engine) as session:
            keystore = KeyStore(session, master_key(settings))
            summary = load_demo(session, keystore)
            add_demo_logins(session, keystore, click.echo)
            checkpoint = integrate(session, log_signer(settings, keystore))
            root_public_key = keystore.root_key().public_key
    except (TraceError, LedgerError) as exc:
        raise click.ClickException(f"demo data: {one_line(exc)}") from None
    click.echo(f"demo data: {len(summary.batches)} batches, {summary.created_entries} new entries")
    if checkpoint is not None:
        click.echo(f"log checkpoint: tree size {checkpoint.new_size}")
    write_root_key(settings.keys_dir / "root.pub", root_public_key)
    base = f"http://{bind}"
    click.echo(f"open {base}/ (public)  {base}/console/ (console)  {base}/api/v1/ (API)")
    click.echo(f"     {base}/disclosure (public disclosure)  {base}/wall (data wall)")
    for name, batch_id in sorted(summary.batches.items()):
        click.echo(f"     {base}/batch/{batch_id}  ({name})")
    if then_serve:
        run_gunicorn(bind, workers)
