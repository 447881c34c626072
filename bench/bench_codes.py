"""Code figures on SQLite and PostgreSQL, each beside its raw limit measured in this run.

- Issuance of 1,000,000-code ranges (codes per second): O(1) work per request, so read it
  against one ledger append and commit, not against per-row inserts.
- Export: label URIs per second (serials from HMAC-SHA256), against the raw HMAC rate.
- Resolution: serial/URI -> range -> batch per second (trace.codes.resolve.locate) and the
  full facts of a scan page (scan_facts), against one raw indexed SELECT.
- Counted scans per second with 2 worker processes (scan_facts + record_scan + commit per
  scan, as the resolver does), against raw single-row INSERT + COMMIT with 2 processes;
  flush rate (inbox rows into tallies).
- The QR round trip of 100,000 URIs through segno.make itself (the test uses a shortcut
  checked against segno), a grey image and zxing-cpp, in 2 processes.
"""

from __future__ import annotations

import functools
import hmac
import multiprocessing
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.bench_limits import _database_limits
from bench.databases import postgres_database, sqlite_database
from bench.harness import Result, rate, timed
from farmtrace.ledger.append import Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.codes.export import plan_export, write_export
from farmtrace.trace.codes.facts import scan_facts
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.codes.resolve import identify, locate
from farmtrace.trace.codes.scans import flush_scans, record_scan, scanner_for
from farmtrace.trace.gs1.qr_uri import qr_uri
from farmtrace.trace.serials import SerialKey, SerialKeyring, parse_serial, serial_range
from farmtrace.trace.services import trace_services

TITLE = "Codes: issuance, export, resolution, scans, QR round trip"
DOMAIN = "trace.example.org"
GTIN = "09506000134352"
LOT = "LOT-2026-A1"
MILLION = 1_000_000
ISSUE_ROUNDS = 5
RESOLVE_SAMPLE = 3_000
SCAN_SECONDS = 5.0
WORKERS = 2
QR_COUNT = 100_000


def run() -> list[Result]:
    load_before = os.getloadavg()[0]
    results = _primitives()
    with _sqlite_database() as url:
        results += _engine_figures("SQLite", url)
    try:
        with _postgres_database() as url:
            results += _engine_figures("PostgreSQL", url)
    except Exception as exc:  # a missing server is reported in the table, not fatal
        results.append(Result("PostgreSQL", 0, "", note=f"not measured: {type(exc).__name__}"))
    results += _qr_round_trip()
    # Other work on the machine skews every figure (the limits too); say how busy it was.
    load = max(load_before, os.getloadavg()[0])
    results.append(
        Result("load average (1 min) at start or end, the larger", load, "", f"{os.cpu_count()} cores")
    )
    return results


# -- primitives ------------------------------------------------------------------------------


def _primitives() -> list[Result]:
    key = SerialKey(0, bytes(range(32)))
    mac_key = os.urandom(32)
    counter = iter(range(10**12))
    hmac_rate = rate(lambda: hmac.digest(mac_key, next(counter).to_bytes(8, "big"), "sha256"))
    batch = 100_000
    serials = list(serial_range(key, 0, batch))
    make_rate = batch / timed(lambda: list(serial_range(key, 0, batch)))
    ring = SerialKeyring((key,))
    parse_rate = 20_000 / timed(lambda: [parse_serial(ring, s) for s in serials[:20_000]])
    return [
        Result("raw HMAC-SHA256 of 8 bytes (hmac.digest)", hmac_rate, "/s"),
        Result(
            "serials made (serial_range, 2 HMACs each)",
            make_rate,
            "serials/s",
            f"HMAC / 2 = {hmac_rate / 2:,.0f}/s",
            "pads hashed once per key",
        ),
        Result(
            "serials checked (parse_serial: check char, 2 HMACs)",
            parse_rate,
            "serials/s",
            f"HMAC / 2 = {hmac_rate / 2:,.0f}/s",
        ),
    ]


# -- per engine ------------------------------------------------------------------------------


def _engine_figures(label: str, url: str) -> list[Result]:
    limits = {r.name.split(": ", 1)[1]: r.value for r in _database_limits(label, url)}
    commit_rate = limits["single-row INSERT + COMMIT"]
    engine = create_db_engine(url)
    with tempfile.TemporaryDirectory() as folder:
        master = MasterKey.load_or_create(Path(folder) / "master.key")
        batch_id = _county(engine, master)
        results = [Result(f"{label}: raw single-row INSERT + COMMIT", commit_rate, "commits/s")]
        results += _issuance(label, engine, master, batch_id, commit_rate)
        keyring, range_id = _keyring_and_range(engine, master, batch_id)
        results += _export(label, engine, keyring, batch_id, range_id)
        results += _resolution(label, engine, keyring, batch_id, range_id)
        results += _scans(label, url, engine, keyring, batch_id, range_id)
    engine.dispose()
    return results


def _county(engine: Engine, master: MasterKey) -> str:
    with Session(write_engine(engine)) as session:
        services = trace_services(session, KeyStore(session, master, Ledger(session)))
        services.orgs.bootstrap_operator({"id": "bench-county", "name_zh": "县运营中心"})
        services.orgs.register(
            "bench-county", {"id": "bench-coop", "kind": "cooperative", "name_zh": "合作社"}
        )
        services.orgs.register(
            "bench-county", {"id": "bench-packer", "kind": "packing_station", "name_zh": "包装站"}
        )
        services.products.register(
            "bench-coop",
            {"id": "bench-pomelo", "name_zh": "蜜柚", "category": "fruit", "unit": "kg", "gtin": GTIN},
        )
        batch = services.batches.register(
            "bench-coop",
            {
                "product": "bench-pomelo",
                "lot": LOT,
                "producers": ["bench-coop"],
                "unit": "kg",
                "quantity": "9000",
            },
        ).batch
        session.commit()
        return batch


def _service(session: Session, master: MasterKey) -> CodeService:
    ctx = trace_services(session, KeyStore(session, master, Ledger(session))).ctx
    return CodeService(ctx, max_count=MILLION)


def _issuance(
    label: str, engine: Engine, master: MasterKey, batch_id: str, commit_rate: float
) -> list[Result]:
    times = []
    for _ in range(ISSUE_ROUNDS):
        with Session(write_engine(engine)) as session:
            start = time.perf_counter()
            _service(session, master).issue("bench-packer", batch_id, MILLION)
            session.commit()
            times.append(time.perf_counter() - start)
    best = min(times)
    return [
        Result(
            f"{label}: codes issued, 1,000,000 per request",
            MILLION / best,
            "codes/s",
            f"{commit_rate:,.0f} commits/s x 1,000,000 codes",
            f"{1 / best:,.1f} requests/s; 1 range row + 1 ledger entry each (O(1) in the count)",
        )
    ]


def _keyring_and_range(engine: Engine, master: MasterKey, batch_id: str) -> tuple[SerialKeyring, int]:
    with Session(engine) as session:
        service = _service(session, master)
        return service.keyring(), service.ranges(batch_id)[0].range_id


class _Discard:
    def write(self, data: str) -> int:
        return len(data)


def _export(label: str, engine: Engine, keyring: SerialKeyring, batch_id: str, range_id: int) -> list[Result]:
    with Session(engine) as session:
        plan = plan_export(session, keyring, DOMAIN, batch_id, range_id)
    seconds = timed(lambda: write_export(plan, _Discard(), "csv"))  # type: ignore[arg-type]
    return [
        Result(
            f"{label}: export, CSV of a 1,000,000-code range",
            plan.total / seconds,
            "URIs/s",
            "serials made (above)",
            "constant memory; no database access while streaming",
        )
    ]


def _uris(engine: Engine, keyring: SerialKeyring, range_id: int, count: int) -> list[str]:
    with Session(engine) as session:
        row = session.get(CodeRange, range_id)
        assert row is not None
        key = keyring.get(row.key_id)
        assert key is not None
        numbers = random.Random(1).sample(range(row.first_n, row.last_n + 1), count)
    return [qr_uri(DOMAIN, next(serial_range(key, n, 1)), gtin=GTIN, lot=LOT) for n in numbers]


def _resolution(
    label: str, engine: Engine, keyring: SerialKeyring, batch_id: str, range_id: int
) -> list[Result]:
    uris = _uris(engine, keyring, range_id, RESOLVE_SAMPLE)
    with Session(engine) as session:
        first_n = session.get(CodeRange, range_id).first_n  # type: ignore[union-attr]
        query = text("SELECT id FROM codes_range WHERE first_n <= :n ORDER BY first_n DESC LIMIT 1")
        raw = RESOLVE_SAMPLE / timed(
            lambda: [session.execute(query, {"n": first_n + i}).first() for i in range(RESOLVE_SAMPLE)]
        )
        located = RESOLVE_SAMPLE / timed(lambda: [locate(session, keyring, uri) for uri in uris])
        facts = 1000 / timed(lambda: [scan_facts(session, uri, keyring=keyring) for uri in uris[:1000]])
        parsed = RESOLVE_SAMPLE / timed(lambda: [identify(keyring, uri) for uri in uris])
    return [
        Result(f"{label}: raw indexed SELECT (the range query, no ORM)", raw, "/s"),
        Result(f"{label}: URI parsed and MAC checked (no database)", parsed, "/s"),
        Result(
            f"{label}: resolutions, URI -> range -> batch (locate)",
            located,
            "/s",
            f"raw SELECT {raw:,.0f}/s",
            "1 query; ORM row loading",
        ),
        Result(
            f"{label}: scan-page facts, not counted (scan_facts)",
            facts,
            "/s",
            f"raw SELECT {raw:,.0f}/s",
            "about 9 queries",
        ),
    ]


def _scan_worker(
    url: str, uris: list[str], keyring: SerialKeyring, seconds: float, full: bool, worker: int, out
) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    salt = bytes([worker]) * 32
    done = 0
    deadline = time.perf_counter() + seconds
    n_base = identify(keyring, uris[0]).n
    while time.perf_counter() < deadline:
        scanner = scanner_for(salt, f"10.{worker}.{done % 250}.1")
        with Session(write_engine(engine)) as session:
            if full:
                scan_facts(session, uris[done % len(uris)], keyring=keyring, scanner=scanner)
            else:
                record_scan(session, n_base + done % 1000, datetime.now(UTC), scanner)
            session.commit()
        done += 1
    out.put(done)
    engine.dispose()


def _raw_insert_worker(url: str, seconds: float, worker: int, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO bench_codes_raw (worker, body) VALUES (:w, :b)"),
                {"w": worker, "b": "x" * 40},
            )
        done += 1
    out.put(done)
    engine.dispose()


def _in_workers(target, args: tuple) -> float:  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    processes = [context.Process(target=target, args=(*args, worker, out)) for worker in range(WORKERS)]
    for process in processes:
        process.start()
    total = sum(out.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
    return total / SCAN_SECONDS


def _scans(
    label: str, url: str, engine: Engine, keyring: SerialKeyring, batch_id: str, range_id: int
) -> list[Result]:
    uris = _uris(engine, keyring, range_id, 1000)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE bench_codes_raw (id INTEGER PRIMARY KEY, worker INTEGER, body TEXT)".replace(
                    "INTEGER PRIMARY KEY",
                    "SERIAL PRIMARY KEY" if engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY",
                )
            )
        )
    engine.dispose()  # no pooled connection may cross the fork
    raw = _in_workers(_raw_insert_worker, (url, SCAN_SECONDS))
    record_only = _in_workers(_scan_worker, (url, uris, keyring, SCAN_SECONDS, False))
    counted = _in_workers(_scan_worker, (url, uris, keyring, SCAN_SECONDS, True))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE bench_codes_raw"))
    moved = 0
    start = time.perf_counter()
    while True:
        with Session(write_engine(engine)) as session:
            taken = flush_scans(session)
            session.commit()
        if not taken:
            break
        moved += taken
    flushed = moved / (time.perf_counter() - start)
    limit = f"raw INSERT + COMMIT, 2 processes: {raw:,.0f}/s"
    return [
        Result(f"{label}: raw single-row INSERT + COMMIT, 2 processes", raw, "commits/s"),
        Result(
            f"{label}: scans recorded (record_scan + commit), 2 workers",
            record_only,
            "scans/s",
            limit,
            "2 rows per scan",
        ),
        Result(
            f"{label}: counted scans (scan_facts + record + commit), 2 workers",
            counted,
            "scans/s",
            limit,
            "what a counted page view costs the database",
        ),
        Result(
            f"{label}: flush, inbox rows into tallies",
            flushed,
            "scans/s",
            "",
            f"{moved:,} scans, 10,000 per transaction",
        ),
    ]


# -- QR round trip -----------------------------------------------------------------------------

_QR_JOB: dict[str, object] = {}


def _qr_share(share: int, shares: int) -> tuple[int, float, float]:
    import segno
    import zxingcpp
    from PIL import Image

    uris: list[str] = _QR_JOB["uris"]  # type: ignore[assignment]
    keyring: SerialKeyring = _QR_JOB["keyring"]  # type: ignore[assignment]
    ok, encode_s, decode_s = 0, 0.0, 0.0
    for uri in uris[share::shares]:
        start = time.perf_counter()
        qr = segno.make(uri, error="m", boost_error=False, micro=False)  # segno picks the mask
        matrix = qr.matrix
        size = len(matrix) + 4
        pixels = bytearray(b"\xff" * size * size)
        for y, row in enumerate(matrix):
            offset = (y + 2) * size + 2
            pixels[offset : offset + len(row)] = bytes(0 if dark else 255 for dark in row)
        image = Image.frombytes("L", (size, size), bytes(pixels))
        middle = time.perf_counter()
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        if len(found) == 1 and found[0].text == uri and identify(keyring, found[0].text).link is not None:
            ok += 1
        decode_s += time.perf_counter() - middle
        encode_s += middle - start
    return ok, encode_s, decode_s


def _qr_round_trip() -> list[Result]:
    try:
        import segno  # noqa: F401
        import zxingcpp  # noqa: F401
    except ImportError as exc:
        return [Result("QR round trip", 0, "", note=f"not measured: {exc.name} missing")]
    key = SerialKey(0, bytes(range(32)))
    uris = [qr_uri(DOMAIN, serial, gtin=GTIN, lot=LOT) for serial in serial_range(key, 0, QR_COUNT)]
    _QR_JOB.update(uris=uris, keyring=SerialKeyring((key,)))
    try:
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            parts = pool.starmap(_qr_share, [(share, WORKERS) for share in range(WORKERS)])
        wall = time.perf_counter() - start
    finally:
        _QR_JOB.clear()
    ok = sum(p[0] for p in parts)
    encode = sum(p[1] for p in parts)
    decode = sum(p[2] for p in parts)
    return [
        Result(
            f"QR round trip, {QR_COUNT:,} URIs (segno.make, image, zxing-cpp, parse), 2 processes",
            QR_COUNT / wall,
            "URIs/s",
            f"{ok:,} of {QR_COUNT:,} decoded to the same URI and serial",
            f"{wall:,.0f} s wall",
        ),
        Result("segno.make + grey image, one core", QR_COUNT / encode, "/s", "", "mask chosen by segno"),
        Result("zxing-cpp decode + URI parse and MAC check, one core", QR_COUNT / decode, "/s"),
    ]


# -- databases -------------------------------------------------------------------------------


_sqlite_database = functools.partial(sqlite_database, "codes")
_postgres_database = functools.partial(postgres_database, "codes")
