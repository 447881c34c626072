"""Fault runs (not in the test suite): each fault is injected under load, then the record is checked.

    python -m bench.faults [--only kill9 pgrestart diskfull skew sequencer] [--seconds 20]

After each fault: every write a client saw acknowledged is stored, and once only (clients
retry unacknowledged writes with the same Idempotency-Key, as the API asks them to); every
chain is linear, every entry one leaf; `farmtrace verify` passes; the service recovers by
itself or with the one command named in the outcome.

Faults and how they are made:
- kill9: SIGKILL to one instance's whole process group (master, workers, its sequencer)
  mid-write; clients fail over to the other instance. Recovery: start the instance again.
- pgrestart: `pg_ctlcluster --skip-systemctl-redirect 15 farmtrace-faults restart` under
  load. The run uses its OWN PostgreSQL cluster (port 5433, created here with
  pg_createcluster, trust on 127.0.0.1 only), so nobody else's tests lose their server.
- diskfull: the SQLite data directory on a tmpfs of its own (mount -t tmpfs -o size=16m),
  filled by a ballast file until writes fail; then the ballast is removed.
- skew: one instance (its gunicorn, workers and all) runs under libfaketime (Debian package
  faketime, LD_PRELOAD) 10 minutes ahead; no clock hook in the app is needed.
- sequencer: `farmtrace sequencer` SIGKILLed while it integrates a 20,000-entry backlog.
Results go to /tmp/farmtrace-faults/faults.json; docs/reliability.md reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

import farmtrace.web
from bench.load_mixed import (
    BROWSER,
    DOMAIN,
    batch_entries,
    free_port,
    prepare,
    request,
    wait_integrated,
    wait_up,
)
from bench.load_season import FERTILISER, ORIGIN, build_season, counts
from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.entry import parse_stored_entry
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import Checkpoint, EntryRow, MerkleLeaf

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
WORK = Path("/tmp/farmtrace-faults")
CLUSTER, PG_VERSION, PG_PORT = "farmtrace-faults", "15", 5433
PG_URL = f"postgresql://postgres@127.0.0.1:{PG_PORT}/faults"
WRITERS = 4


# -- a private PostgreSQL cluster ---------------------------------------------------------------


def ensure_cluster() -> None:
    conf = Path(f"/etc/postgresql/{PG_VERSION}/{CLUSTER}")
    if not conf.exists():
        subprocess.run(["pg_createcluster", PG_VERSION, CLUSTER, "--port", str(PG_PORT)], check=True)
        (conf / "pg_hba.conf").write_text(
            "local all all peer\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
        )
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, CLUSTER, "start"], check=False)
    for _ in range(60):
        if (
            subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT), "-q"], check=False
            ).returncode
            == 0
        ):
            return
        time.sleep(0.5)
    raise RuntimeError(f"cluster {CLUSTER} did not start")


def restart_cluster() -> float:
    started = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, CLUSTER, "restart"], check=True)
    return time.monotonic() - started


# -- instances and clients ----------------------------------------------------------------------


@contextmanager
def instance(
    url: str, root: Path, keys_dir: Path, name: str, sequencer: bool, wrapper: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:  # fmt: skip
    home = root / name
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
        "FARMTRACE_RATE_LIMITS": "off",
        "GUNICORN_WORKERS": "2",
        **(extra_env or {}),
    }
    conf = Path(farmtrace.web.__file__).parent / "gunicorn_conf.py"
    log = home / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", f"127.0.0.1:{port}"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*(wrapper or []), *command, "farmtrace.web.app:create_app()"],
            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, process, log)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Clients:
    """Writers that retry each write with its own Idempotency-Key until acknowledged, and
    scanners; each request goes to the next live base (a balancer that drops dead ones)."""

    def __init__(self, bases: list[str], batches: list[tuple[str, str]], paths: list[str]) -> None:
        self.bases = list(bases)
        self.batches = batches
        self.paths = paths
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.keys: dict[str, str] = {}  # key -> batch, for every write attempted
        self.acked: set[str] = set()
        self.errors: Counter = Counter()
        self.first_error: float | None = None
        self.last_error: float | None = None
        self.threads: list[threading.Thread] = []

    def start(self, scanners: int = 2) -> None:
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]
        self.threads += [threading.Thread(target=self._scan, args=(n,)) for n in range(scanners)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def _error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            now = time.monotonic()
            self.first_error = self.first_error or now
            self.last_error = now

    def send(self, key: str, batch: str, token: str, turn: int) -> int:
        base = self.bases[turn % len(self.bases)]
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        body = json.dumps({"payload": FERTILISER}).encode()
        return request(base, "POST", f"/api/v1/batches/{batch}/events/farming.input", headers, body)

    def _write(self, number: int) -> None:
        turn = number
        index = number
        while not self.stop.is_set():
            batch, token = self.batches[index % len(self.batches)]
            index += WRITERS
            key = str(uuid.uuid4())
            with self.lock:
                self.keys[key] = batch
            while not self.stop.is_set():
                turn += 1
                status = self.send(key, batch, token, turn)
                if status in (200, 201):
                    with self.lock:
                        self.acked.add(key)
                    break
                self._error(f"write {status}")
                time.sleep(0.2)

    def _scan(self, number: int) -> None:
        turn = number
        while not self.stop.is_set():
            turn += 1
            path = self.paths[turn % len(self.paths)]
            status = request(self.bases[turn % len(self.bases)], "GET", path, {"User-Agent": BROWSER})
            if status != 200:
                self._error(f"scan {status}")
                time.sleep(0.2)

    def settle(self, token_of: dict[str, str]) -> int:
        """After the fault: send every unacknowledged write again with its key; returns how many."""
        pending = [key for key in self.keys if key not in self.acked]
        for key in pending:
            batch = self.keys[key]
            for turn in range(60):
                if self.send(key, batch, token_of[batch], turn) in (200, 201):
                    self.acked.add(key)
                    break
                time.sleep(0.5)
        return len(pending)


# -- checks ------------------------------------------------------------------------------------


def check_store(url: str, home: Path, batches_before: dict[str, int], clients: Clients) -> dict:
    # The instances (and the sequencer they ran) are stopped: integrate what is left.
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": url,
        "FARMTRACE_LOG_ORIGIN": ORIGIN,
    }
    subprocess.run([FARMTRACE, "sequencer", "--once"], env=env, capture_output=True, check=False, timeout=600)
    integrated = wait_integrated(url, 60)
    after = batch_entries(url, list(batches_before))
    written = Counter(clients.keys[key] for key in clients.acked)
    exact = all(after.get(b, 0) - n == written.get(b, 0) for b, n in batches_before.items())
    engine = create_db_engine(url)
    with Session(engine) as session:
        linear = chains_linear(session)
        leaves = session.execute(
            select(MerkleLeaf.leaf_index, MerkleLeaf.entry_id).order_by(MerkleLeaf.leaf_index)
        ).all()
        log_ok = [i for i, _ in leaves] == list(range(len(leaves))) and len({e for _, e in leaves}) == len(
            leaves
        )
    engine.dispose()
    verified = run_verify(url, home)
    return {
        "acknowledged_writes": len(clients.acked),
        "writes_never_acknowledged": len(clients.keys) - len(clients.acked),
        "each_acknowledged_write_stored_once": exact,
        "chains_linear": linear,
        "log_each_entry_one_leaf": log_ok,
        "integrated": integrated,
        "verify": verified,
    }


def chains_linear(session: Session) -> bool:
    rows = session.execute(
        select(EntryRow.batch, EntryRow.seq, EntryRow.canonical).order_by(EntryRow.batch, EntryRow.seq)
    )
    last: dict[str, tuple[int, bytes, datetime]] = {}
    for batch, seq, canonical in rows:
        entry = parse_stored_entry(bytes(canonical))
        before = last.get(batch)
        if before is None and seq != 0:
            return False
        if before is not None and (
            seq != before[0] + 1 or entry.prev != before[1] or entry.recorded_at < before[2]
        ):
            return False
        last[batch] = (seq, entry.hash, entry.recorded_at)
    return True


def run_verify(url: str, home: Path) -> str:
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": url,
        "FARMTRACE_LOG_ORIGIN": ORIGIN,
    }
    result = subprocess.run([FARMTRACE, "verify"], capture_output=True, text=True, env=env, timeout=1800)
    first = (result.stdout or result.stderr).strip().splitlines()
    return f"exit {result.returncode}: {first[0] if first else ''}"


def fresh_store(
    url: str, home: Path, batches: int = 24
) -> tuple[list[str], list[tuple[str, str]], dict[str, str]]:
    if home.exists():
        shutil.rmtree(home)
    build_season(url, home, batches, 4, 20, workers=1)
    paths, batches_tokens = prepare(url, home, seed=7)
    return paths, batches_tokens[:8], dict(batches_tokens[:8])


# -- the faults --------------------------------------------------------------------------------


def fault_kill9(seconds: float) -> dict:
    home = WORK / "kill9"
    paths, batches, tokens = fresh_store(PG_URL, home)
    before = batch_entries(PG_URL, list(tokens))
    with ExitStack() as stack:
        base_a, _a = stack.enter_context(
            instance(PG_URL, WORK / "kill9-run", home / "keys", "a", sequencer=True)
        )
        base_b, proc_b = stack.enter_context(
            instance(PG_URL, WORK / "kill9-run", home / "keys", "b", sequencer=False)
        )
        clients = Clients([base_a, base_b], batches, paths)
        clients.start()
        time.sleep(seconds / 3)
        os.killpg(proc_b.pid, signal.SIGKILL)  # the machine dies: master and workers at once
        proc_b.wait()
        clients.bases.remove(base_b)  # the balancer's health check drops it
        time.sleep(seconds / 3)
        base_b2, _b2 = stack.enter_context(
            instance(PG_URL, WORK / "kill9-run", home / "keys", "b2", sequencer=False)
        )
        clients.bases.append(base_b2)  # recovery: the instance is started again
        time.sleep(seconds / 3)
        clients.finish()
        resent = clients.settle(tokens)
    outcome = check_store(PG_URL, home, before, clients)
    return {**outcome, "errors_seen_by_clients": dict(clients.errors), "resent_after_fault": resent,
            "recovery": "start the instance again (systemd Restart=always does it); clients retry with the same Idempotency-Key"}  # fmt: skip


def fault_pgrestart(seconds: float) -> dict:
    home = WORK / "pgrestart"
    paths, batches, tokens = fresh_store(PG_URL, home)
    before = batch_entries(PG_URL, list(tokens))
    with ExitStack() as stack:
        bases = [
            stack.enter_context(
                instance(PG_URL, WORK / "pgrestart-run", home / "keys", name, sequencer=name == "a")
            )[0]
            for name in ("a", "b")
        ]
        clients = Clients(bases, batches, paths)
        clients.start()
        time.sleep(seconds / 3)
        restart_at = time.monotonic()
        restart_s = restart_cluster()
        time.sleep(2 * seconds / 3)
        clients.finish()
        resent = clients.settle(tokens)
    outcome = check_store(PG_URL, home, before, clients)
    errors_for = (clients.last_error - restart_at) if clients.last_error else 0.0
    return {**outcome, "pg_restart_s": round(restart_s, 1), "errors_seen_by_clients": dict(clients.errors),
            "errors_until_s_after_restart_began": round(errors_for, 1), "resent_after_fault": resent,
            "recovery": "by itself: pool_pre_ping replaces dead connections; clients retry with the same key"}  # fmt: skip


def fault_diskfull(seconds: float) -> dict:
    mount = WORK / "diskfull-mnt"
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["umount", str(mount)], check=False, capture_output=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        home = mount / "home"
        url = f"sqlite:///{home}/farmtrace.sqlite3"
        paths, batches, tokens = fresh_store(url, home, batches=12)
        before = batch_entries(url, list(tokens))
        ballast = mount / "ballast"
        free = shutil.disk_usage(mount).free
        with ballast.open("wb") as out:
            out.write(b"\0" * max(0, free - 256 * 1024))  # leave 256 KiB
        with ExitStack() as stack:
            env = {"PROMETHEUS_MULTIPROC_DIR": str(WORK / "diskfull-metrics")}
            base, _p = stack.enter_context(
                instance(url, WORK / "diskfull-run", home / "keys", "a", True, extra_env=env)
            )
            clients = Clients([base], batches, paths)
            clients.start(scanners=1)
            deadline = time.monotonic() + 60
            while not clients.errors and time.monotonic() < deadline:
                time.sleep(0.2)
            full_errors = dict(clients.errors)
            time.sleep(seconds / 3)
            ballast.unlink()  # recovery: space is freed
            freed_at = time.monotonic()
            time.sleep(2 * seconds / 3)
            clients.finish()
            resent = clients.settle(tokens)
        errors_after_freeing = (clients.last_error or 0) - freed_at
        integrity = subprocess.run(
            ["sqlite3", str(home / "farmtrace.sqlite3"), "PRAGMA integrity_check"], capture_output=True, text=True, check=False
        ).stdout.strip() if shutil.which("sqlite3") else "sqlite3 not installed"  # fmt: skip
        outcome = check_store(url, home, before, clients)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    return {**outcome, "errors_while_full": full_errors, "errors_seen_by_clients": dict(clients.errors),
            "errors_until_s_after_freeing": round(max(0.0, errors_after_freeing), 1), "resent_after_fault": resent,
            "sqlite_integrity_check": integrity, "recovery": "by itself once space is freed"}  # fmt: skip


def fault_skew(seconds: float) -> dict:
    home = WORK / "skew"
    paths, batches, tokens = fresh_store(PG_URL, home)
    before = batch_entries(PG_URL, list(tokens))
    # Monotonic time is faked too: Python's time.sleep (clock_nanosleep with an absolute
    # monotonic deadline) fails with EINVAL when only the wall clock is shifted.
    skewed = {"FAKETIME": "+600s", "LD_PRELOAD": faketime_library()}
    with ExitStack() as stack:
        base_a, _a = stack.enter_context(
            instance(PG_URL, WORK / "skew-run", home / "keys", "a", sequencer=True)
        )
        base_b, _b = stack.enter_context(
            instance(PG_URL, WORK / "skew-run", home / "keys", "b", sequencer=False, extra_env=skewed)
        )
        clients = Clients([base_a, base_b], batches, paths)
        clients.start()
        time.sleep(seconds)
        clients.finish()
        resent = clients.settle(tokens)
    outcome = check_store(PG_URL, home, before, clients)
    engine = create_db_engine(PG_URL)
    with Session(engine) as session:
        latest = session.scalar(select(func.max(EntryRow.recorded_at)))
    engine.dispose()
    ahead = (latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest) - datetime.now(UTC)
    return {**outcome, "errors_seen_by_clients": dict(clients.errors), "resent_after_fault": resent,
            "newest_recorded_at_ahead_of_real_time_s": round(ahead.total_seconds()),
            "recovery": "fix the clock (chrony/NTP); nothing to repair: chains never run backwards"}  # fmt: skip


def faketime_library() -> str:
    for candidate in Path("/usr/lib").rglob("libfaketime.so.1"):
        return str(candidate)
    raise RuntimeError("libfaketime not found: apt-get install faketime")


def fault_sequencer(seconds: float) -> dict:
    home = WORK / "sequencer"
    fresh_store(PG_URL, home, batches=8)
    backlog = append_backlog(PG_URL, home, 20_000)
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": PG_URL,
        "FARMTRACE_LOG_ORIGIN": ORIGIN,
    }
    kills = []
    for _round in range(2):
        process = subprocess.Popen(
            [FARMTRACE, "sequencer"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert process.stdout is not None
        process.stdout.readline()  # "sequencer: integrating every ..." once it is connected
        seen = wait_for_integration_query()
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills.append({"killed_while": seen, **log_state(PG_URL)})
    restarted = subprocess.Popen(
        [FARMTRACE, "sequencer"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    integrated = wait_integrated(PG_URL, 300)
    restarted.terminate()
    restarted.wait(30)
    final = log_state(PG_URL)
    return {"backlog_entries": backlog, "state_after_each_kill": kills, "final": final, "integrated": integrated,
            "verify": run_verify(PG_URL, home), "recovery": "start `farmtrace sequencer` again (or any instance with FARMTRACE_SEQUENCER=1)"}  # fmt: skip


def wait_for_integration_query(deadline_s: float = 60) -> str:
    """Poll pg_stat_activity until a statement writing the Merkle tables is running."""
    engine = create_db_engine(PG_URL, isolation_level="AUTOCOMMIT")
    probe = text(
        "SELECT query FROM pg_stat_activity WHERE datname = 'faults' AND state = 'active'"
        " AND (query ILIKE '%merkle_hash%' OR query ILIKE '%merkle_leaf%' OR query ILIKE '%ledger_unsequenced%')"
        " AND pid <> pg_backend_pid() LIMIT 1"
    )
    deadline = time.monotonic() + deadline_s
    try:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                found = conn.execute(probe).scalar()
                if found:
                    return " ".join(found.split())[:60]
                time.sleep(0.01)
    finally:
        engine.dispose()
    return "no integration statement seen within 60 s"


def append_backlog(url: str, home: Path, count: int) -> int:
    engine = create_db_engine(url)
    sessions = sessionmaker(bind=write_engine(engine))
    master = MasterKey.load(home / "keys" / "master.key")
    now = datetime.now(UTC)
    with sessions() as session:
        keystore = KeyStore(session, master)
        keystore.create_org_key("backlog-org")
        session.commit()
    for start in range(0, count, 1000):
        with sessions() as session:
            signer = KeyStore(session, master).signer_for("backlog-org")
            ledger = Ledger(session)
            if start == 0:
                ledger.open_chain(
                    Draft("B-backlog", "farming.input", now, "backlog-org", "backlog-reg", {}), signer
                )
            drafts = [
                Draft(
                    "B-backlog",
                    "farming.input",
                    now + timedelta(seconds=1),
                    "backlog-org",
                    f"backlog-{i}",
                    {"n": str(i)},
                )
                for i in range(start, min(start + 1000, count))
            ]
            ledger.append_many(drafts, signer)
            session.commit()
    engine.dispose()
    return count + 1


def log_state(url: str) -> dict:
    entries, _codes, waiting = counts(url)
    engine = create_db_engine(url)
    with Session(engine) as session:
        leaves = session.scalar(select(func.count()).select_from(MerkleLeaf)) or 0
        sizes = set(session.scalars(select(Checkpoint.tree_size)))
    engine.dispose()
    return {"entries": entries, "leaves": leaves, "waiting": waiting,
            "leaves_plus_waiting_equals_entries": leaves + waiting == entries,
            "leaves_end_at_a_checkpoint": leaves in sizes or leaves == 0}  # fmt: skip


FAULTS: dict[str, Callable[[float], dict]] = {
    "kill9": fault_kill9,
    "pgrestart": fault_pgrestart,
    "diskfull": fault_diskfull,
    "skew": fault_skew,
    "sequencer": fault_sequencer,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(FAULTS), default=list(FAULTS))
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of load around each fault")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    ensure_cluster()
    results_file = WORK / "faults.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for name in args.only:
        started = time.monotonic()
        try:
            outcome = FAULTS[name](args.seconds)
        except Exception as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        outcome["run_s"] = round(time.monotonic() - started, 1)
        results[name] = outcome
        print(name, json.dumps(outcome, indent=2, default=str), flush=True)
        results_file.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
