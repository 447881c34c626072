"""`farmtrace serve`: the web service under gunicorn."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from farmtrace.web import migrate
from farmtrace.web.cli.context import connect, load_settings

APP_SPEC = "farmtrace.web.app:create_app()"


@click.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes [default: 2 × cores + 1].")
def serve(bind: str, workers: int | None) -> None:
    """Serve the public pages, the API and the console with gunicorn."""
    settings = load_settings()
    engine = connect(settings)
    if migrate.current_revision(engine) != migrate.head_revision():
        raise click.ClickException("the database schema is not current; run `farmtrace db upgrade` first.")
    run_gunicorn(bind, workers)


def run_gunicorn(bind: str, workers: int | None) -> None:
    """Replace this process with gunicorn, so signals reach it directly."""
    conf = Path(__file__).resolve().parents[1] / "gunicorn_conf.py"
    args = [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", bind]
    if workers:
        args += ["--workers", str(workers)]
    args.append(APP_SPEC)
    sys.stdout.flush()
    os.execv(sys.executable, args)  # noqa: S606 (the argument list is ours, no shell)
