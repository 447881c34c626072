"""Where a counted scan is written (docs/codes.md §10, "Counting on the request path").

- SQLite: in a short transaction of its own, opened with write intent (BEGIN IMMEDIATE takes
  the database's one write lock), so the lock is held for the scan's two inserts and the
  count only, and a lookup of an unknown code never takes it. Its connections commit with
  `synchronous=NORMAL`: in WAL mode that skips the fsync of each commit (some 4 ms, more
  than the rest of the scan) and still never corrupts the file; a power cut can lose the
  last scans, a crash of the process cannot. Ledger entries are written on the app's own
  connections, which keep `synchronous=FULL`, and each of their commits syncs the log up to
  itself, scans before it included.
- PostgreSQL: the request's own session, committed after the response like any request's.
  An insert there waits for no other scan, and a second connection would cost a checkout
  (with its ping), BEGIN and COMMIT: four round trips for nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.web.db import get_engine, get_session

_LOCK = threading.Lock()


@contextmanager
def scan_writer() -> Iterator[Session]:
    """The session a counted scan is written in; committed by the caller's request or here."""
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        yield get_session()
        return
    with Session(write_engine(_scan_engine(engine))) as session:
        yield session
        session.commit()


def _scan_engine(engine: Engine) -> Engine:
    """A second engine on the same SQLite file, one per application (so per worker)."""
    found = current_app.extensions.get("farmtrace.scan_engine")
    if found is not None:
        return found
    with _LOCK:
        found = current_app.extensions.get("farmtrace.scan_engine")
        if found is None:
            found = create_db_engine(engine.url.render_as_string(hide_password=False), pool_size=2)
            event.listen(found, "connect", _relaxed_sync)  # after create_db_engine's own (FULL)
            current_app.extensions["farmtrace.scan_engine"] = found
    return found


def _relaxed_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
