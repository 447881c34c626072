"""A database that cannot be reached or written answers 503 with Retry-After, not 500.

Two real faults: a PostgreSQL address where nothing listens, and a SQLite database that is
full (SQLITE_FULL, what a full disk returns, made with `PRAGMA max_page_count` on a store with
512-byte pages and no free pages, so that an entry with 900 bytes of notes must take a new
page).
After the fault the same request, retried with the same Idempotency-Key, is recorded once.
"""

from __future__ import annotations

import socket
import sqlite3
from contextlib import closing
from pathlib import Path

from flask import Flask
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from web_api_kit import Api, bootstrap, make_app, make_settings, new_key, register_batch, seed_county

from farmtrace.ledger.db import create_db_engine
from farmtrace.ledger.models import EntryRow
from farmtrace.web.migrate import upgrade
from farmtrace.web.problems import PROBLEM_JSON

HARVEST = {"payload": {"quantity": "120", "unit": "kg"}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


def test_unreachable_database_answers_503_problem_with_retry_after(tmp_path: Path) -> None:
    app = make_app(f"postgresql://postgres@127.0.0.1:{_closed_port()}/farmtrace", tmp_path)
    client = app.test_client()

    api = client.get("/api/v1/batches", headers={"Authorization": "Bearer ft_" + "A" * 43})
    assert api.status_code == 503, api.get_data(as_text=True)
    assert api.mimetype == PROBLEM_JSON
    assert api.headers["Retry-After"] == "5"
    body = api.get_json()
    assert body["type"].endswith("#problem-unavailable") and body["status"] == 503
    assert "nothing was recorded" in body["detail"]
    assert "psycopg" not in api.get_data(as_text=True)  # no internals

    page = client.get("/batch/B0123456789AB", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "text/html" in page.content_type


def _entries(app: Flask) -> int:
    with app.extensions["farmtrace.engine"].connect() as conn:
        return conn.execute(select(func.count()).select_from(EntryRow)).scalar_one()


def test_full_sqlite_database_answers_503_and_the_retry_records_once(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    with closing(sqlite3.connect(path)) as raw:  # the page size is fixed when the file is made
        raw.executescript("PRAGMA page_size = 512; CREATE TABLE made (x); DROP TABLE made;")
    url = f"sqlite:///{path}"
    upgrade(create_db_engine(url))
    app = make_app(url, tmp_path)
    coop = Api(app.test_client(), bootstrap(make_settings(url, tmp_path), app))
    coop = coop.as_token(seed_county(coop)["coop-longcun"])
    batch = register_batch(coop)["batch"]
    before = _entries(app)

    engine = app.extensions["farmtrace.engine"]
    full = True

    @sa_event.listens_for(engine, "connect")
    def _cap(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        if full:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    with closing(sqlite3.connect(path)) as raw:  # no free pages left to fill
        raw.execute("VACUUM")
        assert raw.execute("PRAGMA freelist_count").fetchone()[0] == 0
    key = new_key()
    event = f"/api/v1/batches/{batch}/events/farming.harvested"
    harvest = {"payload": {**HARVEST["payload"], "notes": "满园三华李，颗颗饱满。" * 30}}
    refused = coop.post(event, harvest, key=key)
    assert refused.status_code == 503, refused.get_data(as_text=True)
    assert refused.headers["Retry-After"] == "5"
    assert refused.get_json()["type"].endswith("#problem-unavailable")

    full = False
    engine.dispose()  # space freed: connections without the cap
    assert _entries(app) == before
    done = coop.post(event, harvest, key=key)
    assert done.status_code == 201, done.get_data(as_text=True)
    again = coop.post(event, harvest, key=key)
    assert again.status_code == 201 and again.get_data() == done.get_data()
    assert _entries(app) == before + 1
