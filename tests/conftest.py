"""Database fixtures on the real engines.

Which engine the suite runs on is chosen by the environment:
- FARMTRACE_TEST_POSTGRES_URL unset: SQLite files under pytest's tmp dir.
- FARMTRACE_TEST_POSTGRES_URL=postgresql://user@host:port/db: every database test runs on
  that server, each test database created fresh from a migrated template. Under CI=true an
  unreachable server stops the run: CI must never skip PostgreSQL silently.

There are deliberately no PostgreSQL-only tests: every database test runs on whichever
engine is under test, and .ci/run runs the whole suite once per engine.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _paths import REPO_ROOT
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from farmtrace.ledger.db import create_db_engine, normalise_database_url
from farmtrace.web import migrate

# bench/ is not installed; append (never prepend) the checkout so the stdlib's `trace`
# keeps precedence over our trace/ folder.
sys.path.append(str(REPO_ROOT))

POSTGRES_URL = os.environ.get("FARMTRACE_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_URL:
        return f"farmtrace database under test: PostgreSQL {make_url(POSTGRES_URL).render_as_string()}"
    return "farmtrace database under test: SQLite (set FARMTRACE_TEST_POSTGRES_URL for PostgreSQL)"


class DatabaseFactory:
    """Makes fresh, migrated databases of the engine under test, quickly, from a template."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: list[str] = []
        self._template: str | None = None
        self.backend = "postgresql" if POSTGRES_URL else "sqlite"

    def new_url(self) -> str:
        if self._template is None:
            self._template = self._make_template()
        name = f"ft_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            path = self.root / f"{name}.sqlite3"
            shutil.copyfile(self._template, path)
            return f"sqlite:///{path}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        self.created.append(name)
        return self._url_for(name)

    def _make_template(self) -> str:
        if self.backend == "sqlite":
            path = self.root / "template.sqlite3"
            engine = create_db_engine(f"sqlite:///{path}")
            migrate.upgrade(engine)
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            return str(path)
        name = f"ft_tmpl_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        engine = create_db_engine(self._url_for(name))
        migrate.upgrade(engine)
        engine.dispose()
        return name

    def _url_for(self, name: str) -> str:
        return (
            make_url(normalise_database_url(POSTGRES_URL))
            .set(database=name)
            .render_as_string(hide_password=False)
        )

    def _admin(self, sql: str) -> None:
        engine = create_db_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=None)
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    if POSTGRES_URL:
        _require_postgres()
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    if factory.backend == "postgresql":
        factory.drop_all()


def _require_postgres() -> None:
    try:
        engine = create_db_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect is reported the same way
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}"
        if IN_CI:
            pytest.exit(message, returncode=3)
        pytest.skip(message)


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> str:
    """A fresh, migrated database of the engine under test, for tests that commit."""
    return database_factory.new_url()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
