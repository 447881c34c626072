"""Fresh, migrated databases for benchmarks: a SQLite file in a temporary folder, or a new
database on the PostgreSQL server (FARMTRACE_BENCH_POSTGRES_URL), dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from farmtrace.ledger.db import create_db_engine, normalise_database_url
from farmtrace.web import migrate

POSTGRES_URL = os.environ.get("FARMTRACE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def sqlite_database(label: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / f'{label}.sqlite3'}"
        migrated(url)
        yield url


@contextmanager
def postgres_database(label: str) -> Iterator[str]:
    name = f"ft_bench_{label}_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(normalise_database_url(POSTGRES_URL))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    try:
        migrated(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def migrated(url: str) -> None:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
