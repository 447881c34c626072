"""Ledger figures on SQLite and PostgreSQL, each beside its raw limit measured in this run.

- Custodial appends per second, one per transaction (append + commit) and 1,000 per
  transaction (append_many + commit), against Ed25519 sign + SHA-256 + row commit.
- Inclusion and consistency proof latency at 1,000,000 leaves (and 100,000), against the
  one indexed SELECT each proof makes. The tree is built fast: merkle_hash rows are
  computed by tlog.stored_hashes_for_batch over random leaf hashes and bulk-loaded; proofs
  need no entries.
- Tree integration rate: leaves per second through sequencer.integrate().
- pymerkle 7 (in-memory and SQLite backends) building and proving at the same sizes.

The `verify` entries-per-second figure belongs to the verifier and is not measured here.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.bench_limits import MESSAGE, _database_limits
from bench.databases import postgres_database, sqlite_database
from bench.harness import Result, format_value, rate, timed
from farmtrace.ledger.append import MAX_BULK, Draft, Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.keys import MasterKey, SigningKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import Unsequenced
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.proof import verify_consistency, verify_inclusion
from farmtrace.ledger.sequencer import DbHashReader, integrate
from farmtrace.ledger.tlog import (
    prove_record,
    prove_tree,
    record_proof_indexes,
    stored_hash_index,
    stored_hashes_for_batch,
    tree_hash,
)

TITLE = "Ledger: appends, proofs, tree integration, pymerkle"
PROOF_SIZES = (100_000, 1_000_000)
PROOF_SAMPLES = 500
INTEGRATION_LEAVES = 20_000
ORIGIN = "bench.example.org/farmtrace-log"
ORG = "coop-1"
EVENT_TIME = datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
# A farming-input entry: its canonical form is about as long as the limits' MESSAGE.
PAYLOAD = {"input": "compound fertiliser 15-15-15", "dose": "25", "unit": "kg/mu", "plot": "P-07"}


@dataclass(frozen=True)
class Primitives:
    sign_per_s: float
    sha256_per_s: float

    def limit(self, row_rate: float) -> float:
        """Entries per second if signing, hashing and storing cost nothing else."""
        return 1 / (1 / self.sign_per_s + 1 / self.sha256_per_s + 1 / row_rate)


def run() -> list[Result]:
    load_before = os.getloadavg()[0]
    key = Ed25519PrivateKey.generate()
    primitives = Primitives(
        sign_per_s=rate(lambda: key.sign(MESSAGE)),
        sha256_per_s=rate(lambda: hashlib.sha256(b"\x00" + MESSAGE).digest()),
    )
    leaves = [os.urandom(32) for _ in range(max(PROOF_SIZES))]
    stored = stored_hashes_for_batch(0, leaves, _MemoryReader([]))
    results: list[Result] = []
    for label, database in (("SQLite", _sqlite_database), ("PostgreSQL", _postgres_database)):
        try:
            with database() as url:
                results += _appends_and_integration(label, url, primitives)
            with database() as url:
                results += _proofs(label, url, stored)
        except Exception as exc:  # a missing server is reported in the table, not fatal
            results.append(Result(label, 0, "", note=f"not measured: {type(exc).__name__}: {exc}"))
    results += _pymerkle()
    load = max(load_before, os.getloadavg()[0])  # other jobs on the machine lower every figure
    return [
        Result("load average (1 min) at start or end, the larger", load, "", f"{os.cpu_count()} cores"),
        *results,
    ]


# -- appends and integration --------------------------------------------------------------


def _appends_and_integration(label: str, url: str, primitives: Primitives) -> list[Result]:
    engine = create_db_engine(url)
    sessions = sessionmaker(bind=write_engine(engine))
    signer, log_signer = _keys_and_chain(sessions)
    ids = itertools.count()

    def draft() -> Draft:
        return Draft("B1", "farming.input", EVENT_TIME, ORG, f"e{next(ids)}", PAYLOAD)

    def one() -> None:
        with sessions() as session:
            Ledger(session).append(draft(), signer)
            session.commit()

    def bulk() -> None:
        with sessions() as session:
            Ledger(session).append_many([draft() for _ in range(MAX_BULK)], signer)
            session.commit()

    single = rate(one, min_seconds=3)
    bulk_rate = MAX_BULK * rate(bulk, min_seconds=3, min_runs=3)
    while _waiting(engine) < INTEGRATION_LEAVES:  # the backlog: what is queued so far, and more
        bulk()
    waiting = _waiting(engine)

    def integrate_all() -> None:
        with sessions() as session:
            while integrate(session, log_signer) is not None:
                session.commit()

    leaves_per_s = waiting / timed(integrate_all)
    engine.dispose()
    commit, bulk_rows = (result.value for result in _database_limits(label, url))
    one_limit, bulk_limit = primitives.limit(commit), primitives.limit(bulk_rows)
    # Per leaf, integration hashes two nodes on average and writes three rows (two
    # merkle_hash, one merkle_leaf) and deletes its queue row.
    integrate_limit = 1 / (2 / primitives.sha256_per_s + 4 / bulk_rows)
    return [
        Result(
            f"{label}: custodial append, one per transaction",
            single,
            "appends/s",
            limit=f"sign + SHA-256 + 1-row commit: {format_value(one_limit, '/s')}",
            note=f"{single / one_limit:.0%} of the limit",
        ),
        Result(
            f"{label}: custodial append_many, {MAX_BULK:,} per transaction",
            bulk_rate,
            "appends/s",
            limit=f"sign + SHA-256 + bulk-insert row: {format_value(bulk_limit, '/s')}",
            note=f"{bulk_rate / bulk_limit:.0%} of the limit",
        ),
        Result(
            f"{label}: tree integration, integrate() over a {waiting:,}-entry backlog",
            leaves_per_s,
            "leaves/s",
            limit=f"2 SHA-256 + 4 bulk row writes per leaf: {format_value(integrate_limit, '/s')}",
            note="10,000 leaves and one signed checkpoint per transaction",
        ),
    ]


def _waiting(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Unsequenced))


def _keys_and_chain(sessions: sessionmaker) -> tuple[SigningKey, SignerKey]:
    with tempfile.TemporaryDirectory() as folder, sessions() as session:
        keystore = KeyStore(session, MasterKey.load_or_create(Path(folder) / "master.key"))
        keys = keystore.bootstrap("county")
        signer = keystore.create_org_key(ORG)
        Ledger(session).open_chain(Draft("B1", "batch.registered", EVENT_TIME, ORG, "B1-reg", {}), signer)
        session.commit()
    return signer, SignerKey(ORIGIN, keys.log.seed)


# -- proofs ---------------------------------------------------------------------------------


def _proofs(label: str, url: str, stored: list[bytes]) -> list[Result]:
    engine = create_db_engine(url)
    load_s = timed(lambda: _load_hashes(engine, stored))
    results = []
    with Session(engine) as session:
        for size in PROOF_SIZES:
            results += _proof_latencies(label, DbHashReader(session), _MemoryReader(stored), size)
    engine.dispose()
    results.append(
        Result(
            f"{label}: build a {max(PROOF_SIZES):,}-leaf tree for the proofs",
            load_s,
            "s",
            note=f"{len(stored):,} merkle_hash rows bulk-loaded",
        )
    )
    return results


def _proof_latencies(label: str, reader: DbHashReader, memory: _MemoryReader, size: int) -> list[Result]:
    rng = random.Random(size)
    root = tree_hash(size, memory)
    indexes = [rng.randrange(size) for _ in range(PROOF_SAMPLES)]
    olds = [rng.randrange(1, size) for _ in range(PROOF_SAMPLES)]
    inclusion = _latencies(indexes, lambda i: prove_record(size, i, reader))
    consistency = _latencies(olds, lambda m: prove_tree(size, m, reader))
    for i, m in zip(indexes[:20], olds[:20], strict=True):  # the timed proofs are real proofs
        verify_inclusion(i, size, memory.leaf(i), prove_record(size, i, reader), root)
        verify_consistency(m, size, prove_tree(size, m, reader), tree_hash(m, memory), root)
    width = round(statistics.mean(len(record_proof_indexes(size, i)) for i in indexes))
    everywhere = range(len(memory.stored))
    query = statistics.mean(_latencies(indexes, lambda _i: reader.read_hashes(rng.sample(everywhere, width))))
    limit = f"one SELECT of {width} hashes by key: {_ms(query)}"
    return [
        Result(
            f"{label}: inclusion proof at {size:,} leaves",
            statistics.mean(inclusion) * 1000,
            "ms",
            limit=limit,
            note=f"p99 {_ms(_p99(inclusion))}; one read of {width} stored hashes on average",
        ),
        Result(
            f"{label}: consistency proof at {size:,} leaves",
            statistics.mean(consistency) * 1000,
            "ms",
            limit=limit,
            note=f"p99 {_ms(_p99(consistency))}; from a random older size",
        ),
    ]


def _load_hashes(engine: Engine, stored: list[bytes]) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            cursor = connection.connection.driver_connection.cursor()
            with cursor.copy("COPY merkle_hash (idx, hash) FROM STDIN") as copy:
                for row in enumerate(stored):
                    copy.write_row(row)
        else:
            connection.exec_driver_sql(
                "INSERT INTO merkle_hash (idx, hash) VALUES (?, ?)", list(enumerate(stored))
            )


class _MemoryReader:
    """tlog.HashReader over a list of stored hashes (index = stored hash index)."""

    def __init__(self, stored: list[bytes]) -> None:
        self.stored = stored

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        return [self.stored[i] for i in indexes]

    def leaf(self, n: int) -> bytes:
        return self.stored[stored_hash_index(0, n)]

    @classmethod
    def over_entries(cls, entries: list[bytes]) -> _MemoryReader:
        return cls(stored_hashes_for_batch(0, [leaf_hash(e) for e in entries], cls([])))


# -- pymerkle -------------------------------------------------------------------------------


def _pymerkle() -> list[Result]:
    try:
        import pymerkle
    except ImportError:
        return [Result("pymerkle", 0, "", note="not measured: pip install pymerkle (dev extra)")]
    results = []
    for size in PROOF_SIZES:
        # pymerkle hashes the entries itself; give it as many as our tree has leaves.
        entries = [os.urandom(32) for _ in range(size)]
        with tempfile.TemporaryDirectory() as folder:
            for backend in ("in-memory", "SQLite"):
                start = time.perf_counter()
                if backend == "in-memory":
                    tree = pymerkle.InmemoryTree.init_from_entries(entries)
                else:
                    tree = _sqlite_tree(pymerkle, Path(folder) / "pymerkle.db", entries)
                build_s = time.perf_counter() - start
                if size == min(PROOF_SIZES):  # the same RFC 6962 hashing as ours: the same root
                    assert tree.get_root() == tree_hash(size, _MemoryReader.over_entries(entries))
                results += _pymerkle_latencies(
                    f"pymerkle {pymerkle.__version__} {backend}", tree, size, build_s
                )
                if backend == "SQLite":
                    tree.close()
                del tree
    return results


def _pymerkle_latencies(name: str, tree, size: int, build_s: float) -> list[Result]:  # type: ignore[no-untyped-def]
    rng = random.Random(size)
    first_s = timed(lambda: tree.prove_inclusion(rng.randrange(1, size + 1)))  # pymerkle counts from 1
    inclusion = _latencies([rng.randrange(1, size + 1) for _ in range(50)], tree.prove_inclusion)
    consistency = _latencies(
        [rng.randrange(1, size) for _ in range(50)], lambda m: tree.prove_consistency(m, size)
    )
    return [
        Result(f"{name}: build {size:,} leaves", build_s, "s"),
        Result(
            f"{name}: inclusion proof at {size:,} leaves",
            statistics.mean(inclusion) * 1000,
            "ms",
            note=f"after a first (cold) proof of {_ms(first_s)}; p99 {_ms(_p99(inclusion))}",
        ),
        Result(
            f"{name}: consistency proof at {size:,} leaves",
            statistics.mean(consistency) * 1000,
            "ms",
            note=f"p99 {_ms(_p99(consistency))}",
        ),
    ]


def _sqlite_tree(pymerkle, path: Path, entries: list[bytes]):  # type: ignore[no-untyped-def]
    tree = pymerkle.SqliteTree(str(path))
    tree.append_entries(entries)
    return tree


# -- helpers --------------------------------------------------------------------------------


def _latencies(arguments: list[int], operation: Callable[[int], object]) -> list[float]:
    timings = []
    for argument in arguments:
        start = time.perf_counter()
        operation(argument)
        timings.append(time.perf_counter() - start)
    return timings


def _p99(timings: list[float]) -> float:
    return sorted(timings)[min(len(timings) - 1, int(len(timings) * 0.99))]


def _ms(seconds: float) -> str:
    return format_value(seconds * 1000, "ms")


_sqlite_database = functools.partial(sqlite_database, "ledger")
_postgres_database = functools.partial(postgres_database, "ledger")
