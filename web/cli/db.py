"""`farmtrace db`: schema migrations."""

from __future__ import annotations

import click

from farmtrace.web import migrate
from farmtrace.web.cli.context import connect, load_settings


@click.group()
def db() -> None:
    """Create and migrate the database schema."""


@db.command()
@click.option("--revision", default="heads", show_default=True, help="Target Alembic revision.")
def upgrade(revision: str) -> None:
    """Bring the database (FARMTRACE_DATABASE_URL) to the newest schema."""
    engine = connect(load_settings())
    before = migrate.current_revision(engine)
    migrate.upgrade(engine, revision)
    after = migrate.current_revision(engine)
    click.echo(f"database schema: {before or 'empty'} -> {after or 'empty'}")


@db.command()
def current() -> None:
    """Show the database's schema revision and the newest one this code knows."""
    engine = connect(load_settings())
    click.echo(f"database: {migrate.current_revision(engine) or 'empty'}")
    click.echo(f"code:     {migrate.head_revision() or 'none'}")
