"""What every command needs: settings and a database engine, or one clear sentence why not."""

from __future__ import annotations

import click
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.ledger.db import create_db_engine
from farmtrace.web.settings import ConfigError, Settings


def load_settings() -> Settings:
    try:
        settings = Settings.from_env()
        settings.ensure_dirs()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings


def connect(settings: Settings) -> Engine:
    """An engine that has answered one query; a bad URL or a dead server is one sentence."""
    url = make_url(settings.database_url)
    where = url.render_as_string(hide_password=True)
    try:
        engine = create_db_engine(settings.database_url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, ValueError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"cannot open the database {where}: {reason}") from None
    return engine
