"""Scan page, batch page and proof bundle under 50 concurrent clients, against gunicorn
(sync workers, as web/gunicorn_conf.py) with 2 and 4 workers, on SQLite and PostgreSQL,
beside the same gunicorn serving a minimal Flask "hello" route (the framework limit).

The site is Wuhua County's demo season (trace/demo/) with codes issued for its sweet
potatoes and a signed checkpoint. Every scan-page request is a counted scan (a WeChat user
agent), so it writes. The load generator is on the same machine (loopback): 2 processes of
25 threads, a new connection per request (sync workers close it anyway); its own CPU use
is part of the machine's load, so read the figures against the hello row.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

import farmtrace.web
from bench.harness import Result
from bench.load_mixed import free_port, wait_up

TITLE = "Scan page: throughput and latency under 50 clients (gunicorn 2 and 4 workers)"
POSTGRES_URL = os.environ.get("FARMTRACE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ORIGIN = "trace.wuhua.example.cn/farmtrace-log"
DOMAIN = "trace.wuhua.example.cn"
CLIENTS = 50
PROCESSES = 2
SECONDS = float(os.environ.get("FARMTRACE_BENCH_SCAN_SECONDS", "5"))
WORKER_COUNTS = (2, 4)
WECHAT = "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 MicroMessenger/8.0"
HELLO_APP = (
    'from flask import Flask\napp = Flask(__name__)\n@app.get("/hello")\ndef hello():\n    return "hello"\n'
)


def run() -> list[Result]:
    results: list[Result] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        root = Path(tmp)
        (root / "hello_app.py").write_text(HELLO_APP)
        hello: dict[int, tuple[float, float, float]] = {}
        for workers in WORKER_COUNTS:
            with _gunicorn(["hello_app:app"], root, {}, workers) as base:
                hello[workers] = _load(base, ["/hello"])
            rate, p50, p99 = hello[workers]
            results.append(
                Result(f"hello route, {workers} workers", rate, "req/s", "framework limit", _lat(p50, p99))
            )
        engines = [("SQLite", f"sqlite:///{root / 'sqlite' / 'farmtrace.sqlite3'}")]
        if _postgres_up():
            engines.append(("PostgreSQL", _fresh_postgres(POSTGRES_URL)))
        else:
            print(f"PostgreSQL at {POSTGRES_URL} not reachable: SQLite only", file=sys.stderr)
        for label, url in engines:
            home = root / label.lower()
            home.mkdir(exist_ok=True)
            batch, serials = _site(url, home)
            paths = {
                "scan page": [f"/c/{s}" for s in serials],
                "batch page": [f"/batch/{batch}"],
                "proof bundle": [f"/bundle/{batch}.json"],
            }
            for workers in WORKER_COUNTS:
                env = {
                    "FARMTRACE_HOME": str(home),
                    "FARMTRACE_DATABASE_URL": url,
                    "FARMTRACE_LOG_ORIGIN": ORIGIN,
                    "FARMTRACE_PUBLIC_BASE_URL": f"https://{DOMAIN}",
                    "FARMTRACE_SEQUENCER": "0",
                    "FARMTRACE_RATE_LIMITS": "off",  # every loopback client is 127.0.0.1
                }
                conf = str(Path(farmtrace.web.__file__).parent / "gunicorn_conf.py")
                with _gunicorn(
                    ["--config", conf, "farmtrace.web.app:create_app()"], home, env, workers
                ) as base:
                    for name, targets in paths.items():
                        rate, p50, p99 = _load(base, targets)
                        results.append(
                            Result(
                                f"{name}, {label}, {workers} workers",
                                rate,
                                "req/s",
                                f"hello: {hello[workers][0]:,.0f} req/s",
                                _lat(p50, p99),
                            )
                        )
    load = max(load_before, os.getloadavg()[0])  # other jobs on the machine lower every figure
    results.append(
        Result("load average (1 min) at start or end, the larger", load, "", f"{os.cpu_count()} cores")
    )
    return results


def _lat(p50: float, p99: float) -> str:
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


# -- the site -----------------------------------------------------------------------------------


def _site(url: str, home: Path) -> tuple[str, list[str]]:
    from farmtrace.ledger.append import Ledger
    from farmtrace.ledger.db import create_db_engine, write_engine
    from farmtrace.ledger.keys import MasterKey
    from farmtrace.ledger.keystore import KeyStore
    from farmtrace.ledger.note import SignerKey
    from farmtrace.ledger.sequencer import integrate
    from farmtrace.trace.codes.issue import CodeService
    from farmtrace.trace.codes.models import CodeRange
    from farmtrace.trace.demo import load_demo
    from farmtrace.trace.serials import make_serial
    from farmtrace.trace.services import trace_services
    from farmtrace.web.migrate import upgrade

    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(url)
    upgrade(engine)
    master = MasterKey.load_or_create(home / "keys" / "master.key")
    start = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    ticks = iter(range(10**9))

    def clock() -> datetime:
        return start + timedelta(milliseconds=next(ticks))

    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master, Ledger(session, clock=clock))
        demo = load_demo(session, keystore, clock)
        t = trace_services(session, keystore, clock)
        codes = CodeService(t.ctx)
        batch = demo.batches["sweet-potato"]
        issued = codes.issue("packer-wuhua", batch, 200)
        row = session.get(CodeRange, issued.range_id)
        key = codes.keyring().get(row.key_id)
        serials = [make_serial(key, n) for n in range(row.first_n, row.last_n + 1)]
        integrate(session, SignerKey(ORIGIN, keystore.log_key().seed))
        session.commit()
    engine.dispose()
    return batch, serials


def _postgres_up() -> bool:
    try:
        from sqlalchemy import create_engine

        engine = create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # any failure to connect means: skip PostgreSQL
        return False


def _fresh_postgres(admin_url: str) -> str:
    from sqlalchemy import create_engine

    name = f"bench_scan_{os.getpid()}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


# -- gunicorn and the load ----------------------------------------------------------------------


@contextmanager
def _gunicorn(args: list[str], cwd: Path, env: dict[str, str], workers: int) -> Iterator[str]:
    port = free_port()
    log = cwd / f"gunicorn-{port}.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync"]
    command += ["--bind", f"127.0.0.1:{port}", "--chdir", str(cwd), *args]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env, "GUNICORN_WORKERS": str(workers)},
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        if "hello_app:app" in args:
            _wait_hello(base, process, log)
        else:
            wait_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_hello(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(base + "/hello", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not start:\n{log.read_text(errors='replace')[-2000:]}")


def _load(base: str, paths: list[str]) -> tuple[float, float, float]:
    """(requests per second, p50 s, p99 s) of CLIENTS clients for SECONDS; non-2xx/304 fail the run."""
    _client(base, paths, 1.0, 4)  # warm every worker (imports, caches)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        parts = pool.starmap(_client, [(base, paths, SECONDS, CLIENTS // PROCESSES)] * PROCESSES)
    latencies = sorted(x for part in parts for x in part[0])
    errors = sum(part[1] for part in parts)
    if errors:
        raise RuntimeError(f"{base}{paths[0]}: {errors} failed requests under load")
    count = len(latencies)
    return count / SECONDS, latencies[count // 2], latencies[min(count - 1, int(count * 0.99))]


def _client(base: str, paths: list[str], seconds: float, threads: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(offset: int) -> None:
        mine: list[float] = []
        i = offset
        while time.monotonic() < stop:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            request = urllib.request.Request(
                base + path, headers={"User-Agent": WECHAT, "Accept-Language": "zh-CN"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
            except (urllib.error.URLError, OSError):
                with lock:
                    errors[0] += 1
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(n * 7,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, errors[0]
