"""`farmtrace demo`: a database with demonstration data, optionally served at once."""

from __future__ import annotations

import click

from farmtrace.web import migrate
from farmtrace.web.cli.context import connect, load_settings
from farmtrace.web.cli.serve import run_gunicorn


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
    base = f"http://{bind}"
    click.echo(f"open {base}/ (public)  {base}/console/ (console)  {base}/api/v1/ (API)")
    if then_serve:
        run_gunicorn(bind, workers)
