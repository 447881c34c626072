"""Mixed load against N gunicorn instances on one PostgreSQL (not in the test suite).

    python -m bench.load_mixed [--duration 600] [--instances 2 4] [--clients 8] [--write]

Starts N instances (2 workers each, separate homes sharing the season's master key; the
first runs the sequencer) on loopback ports, and a bounded load generator: CLIENTS
threads in 2 processes, each request sent to the next instance in turn (a round-robin
balancer), 95 % counted scans of item codes of the season (GET, HTML, a phone's browser)
and 5 % API writes (a typed event on a random batch, with an Idempotency-Key). It stops
after DURATION seconds or MAX_REQUESTS requests, whichever comes first.

Reported per run: throughput, p50/p99 latency of scans and writes, errors (any answer
that is not 200 for a scan or 201 for a write; must be zero). Afterwards the scan counts
of every item scanned and the entries of every batch written to must have grown by
exactly what was acknowledged, everything must be integrated, and `farmtrace verify`
must pass. `--write` puts the figures in docs/performance.md (section "load").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import farmtrace.web
from bench.harness import Result, write_section
from bench.load_season import DEFAULT_HOME, DEFAULT_URL, FERTILISER, ORIGIN, TOWNS, town
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow, Unsequenced
from farmtrace.trace.codes.export import plan_export
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.codes.resolve import identify
from farmtrace.trace.codes.scans import scan_summary
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.services import trace_services
from farmtrace.trace.tokens import SCOPES

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
BROWSER = "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 MicroMessenger/8.0"
DOMAIN = "trace.example-county.gov.cn"
SAMPLE_BATCHES = 400
CODES_PER_BATCH = 5
GENERATOR_PROCESSES = 2
TITLE = "Load: mixed scans and writes against N instances"


@dataclass
class Tally:
    """What one generator process saw."""

    scans: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scanned: Counter = field(default_factory=Counter)  # path -> scans answered 200
    written: Counter = field(default_factory=Counter)  # batch -> writes answered 201


@dataclass(frozen=True)
class Plan:
    bases: list[str]
    paths: list[str]
    batches: list[tuple[str, str]]  # (batch, token of its cooperative)
    deadline: float
    max_requests: int
    threads: int
    write_share: float
    seed: int


# -- instances ---------------------------------------------------------------------------------


@contextmanager
def instance(
    url: str, root: Path, keys_dir: Path, number: int, workers: int, sequencer: bool
) -> Iterator[str]:
    home = root / f"instance-{number}"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": url,
        "FARMTRACE_KEYS_DIR": str(keys_dir),
        "FARMTRACE_LOG_ORIGIN": ORIGIN,
        "FARMTRACE_PUBLIC_BASE_URL": f"https://{DOMAIN}",
        "FARMTRACE_SEQUENCER": "1" if sequencer else "0",
        "FARMTRACE_RATE_LIMITS": "off",  # every client of a loopback load is 127.0.0.1
        "GUNICORN_WORKERS": str(workers),
    }
    conf = Path(farmtrace.web.__file__).parent / "gunicorn_conf.py"
    log = home / "gunicorn.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", f"127.0.0.1:{port}",
             "farmtrace.web.app:create_app()"],
            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_up(base: str, process: subprocess.Popen[bytes], log: Path, deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    raise RuntimeError(f"{base} did not start:\n{log.read_text(errors='replace')[-2000:]}")


# -- what to load ------------------------------------------------------------------------------


def prepare(url: str, home: Path, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Code paths of SAMPLE_BATCHES random batches, and one events:write token per cooperative."""
    engine = create_db_engine(url)
    master = MasterKey.load(home / "keys" / "master.key")
    rng = random.Random(seed)
    with Session(write_engine(engine)) as session:
        t = trace_services(session, KeyStore(session, master))
        tokens = {
            town(i)["coop"]: t.tokens.issue(
                "county", town(i)["coop"], f"load-{uuid.uuid4().hex[:6]}", list(SCOPES)
            ).secret
            for i in range(TOWNS)
        }
        session.commit()
    with Session(engine) as session:
        rows = session.execute(select(Batch.id, Batch.owner_org_id)).all()
        sample = rng.sample(rows, min(SAMPLE_BATCHES, len(rows)))
        keyring = SerialKeyStore(session, master).keyring()
        paths = []
        for batch, _owner in sample:
            uris = [uri for _serial, uri in plan_export(session, keyring, DOMAIN, batch)]
            paths += ["/" + uri.split("://", 1)[1].split("/", 1)[1] for uri in uris[:CODES_PER_BATCH]]
    engine.dispose()
    batches = [(batch, tokens[owner]) for batch, owner in sample if owner in tokens]
    return paths, batches


def scan_counts(url: str, home: Path, paths: list[str]) -> dict[str, int]:
    engine = create_db_engine(url)
    master = MasterKey.load(home / "keys" / "master.key")
    with Session(engine) as session:
        keyring = SerialKeyStore(session, master).keyring()
        counts = {}
        for path in paths:
            summary = scan_summary(session, identify(keyring, f"https://{DOMAIN}{path}").n)
            counts[path] = 0 if summary is None else summary.count
    engine.dispose()
    return counts


def batch_entries(url: str, batches: list[str]) -> dict[str, int]:
    engine = create_db_engine(url)
    with Session(engine) as session:
        rows = session.execute(
            select(EntryRow.batch, func.count()).where(EntryRow.batch.in_(batches)).group_by(EntryRow.batch)
        )
        counts = {row[0]: row[1] for row in rows}
    engine.dispose()
    return counts


# -- the generator -----------------------------------------------------------------------------


def request(base: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> int:
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
    except OSError as exc:
        return -1 if "timed out" not in str(exc) else -2


def generate(plan: Plan, offset: int) -> Tally:
    """One generator process: plan.threads threads until the deadline or the request budget."""
    tally = Tally()
    lock = threading.Lock()
    budget = [plan.max_requests]

    def worker(number: int) -> None:
        rng = random.Random(plan.seed * 1000 + offset * 100 + number)
        turn = number
        while time.time() < plan.deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            turn += 1
            base = plan.bases[turn % len(plan.bases)]
            if rng.random() < plan.write_share:
                batch, token = rng.choice(plan.batches)
                body = json.dumps({"payload": FERTILISER}).encode()
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": str(uuid.uuid4()),
                }
                started = time.perf_counter()
                status = request(base, "POST", f"/api/v1/batches/{batch}/events/farming.input", headers, body)
                elapsed = time.perf_counter() - started
                with lock:
                    tally.writes.append(elapsed)
                    if status == 201:
                        tally.written[batch] += 1
                    else:
                        tally.errors.append(f"write {status}")
            else:
                path = rng.choice(plan.paths)
                started = time.perf_counter()
                status = request(base, "GET", path, {"User-Agent": BROWSER, "Accept": "text/html"})
                elapsed = time.perf_counter() - started
                with lock:
                    tally.scans.append(elapsed)
                    if status == 200:
                        tally.scanned[path] += 1
                    else:
                        tally.errors.append(f"scan {status}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(plan.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def merge(tallies: list[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.scans += tally.scans
        total.writes += tally.writes
        total.errors += tally.errors
        total.scanned.update(tally.scanned)
        total.written.update(tally.written)
    return total


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    instances: int
    workers_per_instance: int
    clients: int
    duration_s: float
    requests: int
    throughput_rps: float
    scans: int
    writes: int
    scan_p50_ms: float
    scan_p99_ms: float
    write_p50_ms: float
    write_p99_ms: float
    errors: int
    error_kinds: dict[str, int]
    scan_counts_match: bool
    write_counts_match: bool
    integrated: bool
    verify_ok: bool
    verify_summary: str


def run_load(
    args: argparse.Namespace, instances: int, paths: list[str], batches: list[tuple[str, str]]
) -> RunReport:
    root = args.work / f"run-{instances}"
    keys_dir = args.home / "keys"
    sampled_batches = [batch for batch, _ in batches]
    scans_before = scan_counts(args.database_url, args.home, paths)
    entries_before = batch_entries(args.database_url, sampled_batches)
    with ExitStack() as stack:
        bases = [
            stack.enter_context(
                instance(args.database_url, root, keys_dir, n, args.workers, sequencer=n == 0)
            )
            for n in range(instances)
        ]
        started = time.time()
        plan = Plan(
            bases, paths, batches, started + args.duration, args.max_requests // GENERATOR_PROCESSES,
            max(1, args.clients // GENERATOR_PROCESSES), args.write_share, args.seed,
        )  # fmt: skip
        with multiprocessing.get_context("spawn").Pool(GENERATOR_PROCESSES) as pool:
            tallies = pool.starmap(generate, [(plan, n) for n in range(GENERATOR_PROCESSES)])
        elapsed = time.time() - started
        integrated = wait_integrated(args.database_url, 120)
    total = merge(tallies)
    scans_after = scan_counts(args.database_url, args.home, paths)
    entries_after = batch_entries(args.database_url, sampled_batches)
    scan_ok = all(scans_after[p] - scans_before[p] == total.scanned.get(p, 0) for p in paths)
    write_ok = all(
        entries_after.get(b, 0) - entries_before.get(b, 0) == total.written.get(b, 0) for b in sampled_batches
    )
    verified = verify(args)
    requests_made = len(total.scans) + len(total.writes)
    return RunReport(
        instances=instances,
        workers_per_instance=args.workers,
        clients=args.clients,
        duration_s=round(elapsed, 1),
        requests=requests_made,
        throughput_rps=round(requests_made / elapsed, 1),
        scans=len(total.scans),
        writes=len(total.writes),
        scan_p50_ms=round(percentile(total.scans, 0.50) * 1000, 1),
        scan_p99_ms=round(percentile(total.scans, 0.99) * 1000, 1),
        write_p50_ms=round(percentile(total.writes, 0.50) * 1000, 1),
        write_p99_ms=round(percentile(total.writes, 0.99) * 1000, 1),
        errors=len(total.errors),
        error_kinds=dict(Counter(total.errors)),
        scan_counts_match=scan_ok,
        write_counts_match=write_ok,
        integrated=integrated,
        verify_ok=verified[0],
        verify_summary=verified[1],
    )


def wait_integrated(url: str, deadline_s: float) -> bool:
    engine = create_db_engine(url)
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                if session.scalar(select(func.count()).select_from(Unsequenced)) == 0:
                    return True
            time.sleep(0.5)
        return False
    finally:
        engine.dispose()


def verify(args: argparse.Namespace) -> tuple[bool, str]:
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(args.home),
        "FARMTRACE_DATABASE_URL": args.database_url,
        "FARMTRACE_LOG_ORIGIN": ORIGIN,
    }
    result = subprocess.run([FARMTRACE, "verify"], capture_output=True, text=True, env=env, timeout=3600)
    lines = result.stdout.strip().splitlines()
    return result.returncode == 0, " / ".join(line.strip() for line in lines[:4])


def results_for(reports: list[RunReport], season: dict | None) -> list[Result]:
    out = []
    if season:
        out.append(
            Result(
                "season generated (PostgreSQL)",
                season["seconds"]["total"],
                "s",
                f"{season['batches']:,} batches, {season['issued_codes']:,} codes, {season['entries']:,} entries",
                ", ".join(f"{k} {v:,.0f} s" for k, v in season["seconds"].items() if k != "total"),
            )
        )
    for r in reports:
        label = f"{r.instances} instances x {r.workers_per_instance} workers, {r.clients} clients, {r.duration_s:.0f} s"
        checks = (
            f"errors {r.errors}; scan counts {'exact' if r.scan_counts_match else 'WRONG'}; "
            f"writes {'all stored once' if r.write_counts_match else 'WRONG'}; "
            f"verify {'passed' if r.verify_ok else 'FAILED'}"
        )
        out += [
            Result(
                f"{label}: throughput", r.throughput_rps, "requests/s", f"{r.requests:,} requests", checks
            ),
            Result(
                f"{label}: scan p50 / p99",
                r.scan_p50_ms,
                "ms",
                f"p99 {r.scan_p99_ms:,.1f} ms",
                f"{r.scans:,} scans",
            ),
            Result(
                f"{label}: write p50 / p99",
                r.write_p50_ms,
                "ms",
                f"p99 {r.write_p99_ms:,.1f} ms",
                f"{r.writes:,} writes",
            ),
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_mixed", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="the season's home (master key, root.pub)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/farmtrace-load"))
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load per run")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="request budget per run")
    parser.add_argument("--instances", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads in all")
    parser.add_argument("--write-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--write", action="store_true", help="write the figures to docs/performance.md")
    args = parser.parse_args(argv)
    paths, batches = prepare(args.database_url, args.home, args.seed)
    reports = []
    for count in args.instances:
        report = run_load(args, count, paths, batches)
        print(json.dumps(asdict(report), indent=2), flush=True)
        reports.append(report)
    season_file = args.home / "season.json"
    season = json.loads(season_file.read_text()) if season_file.exists() else None
    (args.work / "load.json").write_text(json.dumps([asdict(r) for r in reports], indent=2))
    if args.write:
        write_section("load", TITLE, results_for(reports, season))
    failed = [
        r for r in reports if r.errors or not (r.scan_counts_match and r.write_counts_match and r.verify_ok)
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
