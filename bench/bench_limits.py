"""The raw limits of this machine that every other figure is read against."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from bench.harness import Result, rate, timed
from farmtrace.ledger.db import create_db_engine

TITLE = "Raw limits of this machine"
MESSAGE = os.urandom(300)  # about the size of a canonical ledger entry


def run() -> list[Result]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    signature = key.sign(MESSAGE)
    results = [
        Result("SHA-256 of a 300-byte message", rate(lambda: hashlib.sha256(MESSAGE).digest()), "/s"),
        Result("Ed25519 sign (cryptography)", rate(lambda: key.sign(MESSAGE)), "/s"),
        Result("Ed25519 verify (cryptography)", rate(lambda: public.verify(signature, MESSAGE)), "/s"),
    ]
    with tempfile.TemporaryDirectory() as folder:
        results += _database_limits(
            "SQLite (WAL, synchronous=FULL)", f"sqlite:///{Path(folder) / 'b.sqlite3'}"
        )
    postgres = os.environ.get("FARMTRACE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        results += _database_limits("PostgreSQL", postgres)
    except Exception as exc:  # a missing server is reported in the table, not fatal
        results.append(Result("PostgreSQL", 0, "", note=f"not measured: {type(exc).__name__}"))
    return results


def _database_limits(label: str, url: str) -> list[Result]:
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_limit"))
        connection.execute(
            text(
                "CREATE TABLE bench_limit (id INTEGER PRIMARY KEY, body BYTEA)".replace(
                    "BYTEA", "BLOB" if engine.dialect.name == "sqlite" else "BYTEA"
                )
            )
        )
    counter = iter(range(10**9))

    def single_commit() -> None:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO bench_limit VALUES (:id, :body)"), {"id": next(counter), "body": MESSAGE}
            )

    commits = rate(single_commit, min_seconds=2)
    rows = [{"id": next(counter), "body": MESSAGE} for _ in range(100_000)]

    def bulk() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO bench_limit VALUES (:id, :body)"), rows)

    bulk_rate = len(rows) / timed(bulk)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE bench_limit"))
    engine.dispose()
    return [
        Result(f"{label}: single-row INSERT + COMMIT", commits, "commits/s"),
        Result(f"{label}: bulk INSERT, 100,000 rows in one transaction", bulk_rate, "rows/s"),
    ]
