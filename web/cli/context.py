"""What every command needs: settings and a database engine, or one clear sentence why not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
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


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One transaction for the whole command: committed if it finishes, rolled back if not."""
    with Session(write_engine(engine)) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def master_key(settings: Settings) -> MasterKey:
    try:
        return MasterKey.load_or_create(settings.keys_dir / "master.key")
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


def log_signer(settings: Settings, keystore: KeyStore) -> SignerKey:
    """The log key as a signed-note signer named after the log's origin."""
    return SignerKey(settings.log_origin, keystore.log_key().seed)
