"""Scale-out on the engine under test: two gunicorn instances (separate processes, separate
ports, two workers each, separate homes sharing only the database and the master key, as
two machines would) serve concurrent API writes to the SAME batches and concurrent scans
of the SAME items. Instance A runs the sequencer as its child (FARMTRACE_SEQUENCER=1);
instance B does not (=0) and a separate `farmtrace sequencer` runs beside it, so two
sequencers race for every integration.

Afterwards: every acknowledged write is stored once, each batch is one linear chain, the
Merkle log has each entry exactly once at contiguous leaves, the store verifies, and each
item's scan count equals the scans that were answered. The point is PostgreSQL; on SQLite
the instances share the file and the same must hold.
"""

from __future__ import annotations

import json
import os
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
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web_api_kit import Api, bootstrap, make_app, make_settings, register_batch, seed_county

import farmtrace.web
from farmtrace.ledger.db import create_db_engine
from farmtrace.ledger.entry import parse_stored_entry
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow, MerkleLeaf, Unsequenced
from farmtrace.ledger.verify import verify_store
from farmtrace.trace.codes.export import plan_export
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.codes.resolve import identify
from farmtrace.trace.codes.scans import scan_summary

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
FERTILISER = {"kind": "fertiliser", "product_name": "有机肥", "dose": "300", "dose_unit": "kg/mu"}
WRITERS, WRITES_EACH = 4, 25  # 100 events on 2 batches through 2 instances
SCANNERS, SCANS_EACH = 4, 30  # 120 counted scans of 4 items through 2 instances
ITEMS = 4
BROWSER = "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 MicroMessenger/8.0"


@contextmanager
def gunicorn(name: str, url: str, root: Path, keys_dir: Path, sequencer: bool) -> Iterator[str]:
    home = root / name
    home.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": url,
        "FARMTRACE_KEYS_DIR": str(keys_dir),  # the master key, distributed to every app server
        "FARMTRACE_SEQUENCER": "1" if sequencer else "0",
        "FARMTRACE_SEQUENCER_INTERVAL": "0.2",
        # Every client here is 127.0.0.1: the limits are tested in test_web_ratelimit.py.
        "FARMTRACE_RATE_LIMITS": "off",
    }
    conf = Path(farmtrace.web.__file__).parent / "gunicorn_conf.py"
    command = [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", f"127.0.0.1:{port}"]
    log = home / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--workers", "2", "farmtrace.web.app:create_app()"],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def sequencer_process(url: str, root: Path, keys_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    home = root / "sequencer"
    home.mkdir()
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": url,
        "FARMTRACE_KEYS_DIR": str(keys_dir),
        "FARMTRACE_SEQUENCER_INTERVAL": "0.2",
    }
    with (home / "sequencer.log").open("wb") as out:
        process = subprocess.Popen([FARMTRACE, "sequencer"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    raise AssertionError(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")


def call(base: str, method: str, path: str, token: str | None = None, body: object = None, **headers: str):  # type: ignore[no-untyped-def]
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **headers}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- set-up through the domain and the API, in this process ----------------------------------


def prepare(url: str, home: Path) -> tuple[str, list[str], list[str], bytes]:
    """(coop token, two batches, code paths to scan, root public key)."""
    app = make_app(url, home)
    api = Api(app.test_client(), bootstrap(make_settings(url, home), app))
    tokens = seed_county(api)
    coop = api.as_token(tokens["coop-longcun"])
    packer = api.as_token(tokens["pack-wuhua"])
    batches = [register_batch(coop, key=str(uuid.uuid4()))["batch"] for _ in range(2)]
    for batch in batches:
        packer.ok(packer.post(f"/api/v1/batches/{batch}/codes", {"count": ITEMS // 2}, key=str(uuid.uuid4())))
    engine = app.extensions["farmtrace.engine"]
    master = MasterKey.load(home / "keys" / "master.key")
    with Session(engine) as session:
        keyring = SerialKeyStore(session, master).keyring()
        uris = [uri for batch in batches for _serial, uri in plan_export(session, keyring, "x.test", batch)]
        root = KeyStore(session, master).root_key().public_key
    engine.dispose()
    paths = ["/" + uri.split("://", 1)[1].split("/", 1)[1] for uri in uris]
    return tokens["coop-longcun"], batches, paths, root


def entries_per_batch(url: str, batches: list[str]) -> dict[str, int]:
    engine = create_db_engine(url)
    with Session(engine) as session:
        rows = session.execute(
            select(EntryRow.batch, func.count()).where(EntryRow.batch.in_(batches)).group_by(EntryRow.batch)
        )
        counts = {row[0]: row[1] for row in rows}
    engine.dispose()
    return counts


# -- the load ---------------------------------------------------------------------------------


def write_events(
    bases: list[str], token: str, batches: list[str], worker: int, acked: list, errors: list
) -> None:
    for i in range(WRITES_EACH):
        base, batch = bases[(worker + i) % 2], batches[i % 2]
        key = str(uuid.uuid4())
        for _attempt in range(20):  # a client retries with the same key until it gets an answer
            status, body = call(
                base,
                "POST",
                f"/api/v1/batches/{batch}/events/farming.input",
                token,
                {"payload": FERTILISER},
                **{"Idempotency-Key": key},
            )
            if status == 201:
                acked.append(batch)
                break
            errors.append((status, body[:200]))
            time.sleep(0.05)
        else:
            raise AssertionError(f"write {key} never acknowledged")


def scan_items(bases: list[str], paths: list[str], worker: int, answered: Counter, errors: list) -> None:
    for i in range(SCANS_EACH):
        path = paths[(worker + i) % len(paths)]
        status, _body = call(bases[i % 2], "GET", path, **{"User-Agent": BROWSER, "Accept": "text/html"})
        if status == 200:
            answered[path] += 1
        else:
            errors.append((status, path))


@pytest.mark.slow
def test_two_instances_two_sequencers_one_log(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "setup"
    token, batches, paths, root = prepare(database_url, home)
    before = entries_per_batch(database_url, batches)
    keys_dir = home / "keys"
    acked: list = []
    write_errors: list = []
    scan_errors: list = []
    answered: Counter = Counter()
    with ExitStack() as stack:
        base_a = stack.enter_context(gunicorn("a", database_url, tmp_path, keys_dir, sequencer=True))
        base_b = stack.enter_context(gunicorn("b", database_url, tmp_path, keys_dir, sequencer=False))
        stack.enter_context(sequencer_process(database_url, tmp_path, keys_dir))
        bases = [base_a, base_b]
        threads = [
            threading.Thread(target=write_events, args=(bases, token, batches, w, acked, write_errors))
            for w in range(WRITERS)
        ] + [
            threading.Thread(target=scan_items, args=(bases, paths, w, answered, scan_errors))
            for w in range(SCANNERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "the load did not finish in time"
        _wait_integrated(database_url)

    assert len(acked) == WRITERS * WRITES_EACH
    assert scan_errors == []
    assert all(status in (409, 503) for status, _ in write_errors), write_errors[:3]
    after = entries_per_batch(database_url, batches)
    posted = Counter(acked)
    assert {b: after[b] - before[b] for b in batches} == dict(posted)  # each write stored exactly once

    engine = create_db_engine(database_url)
    with Session(engine) as session:
        _check_chains(session, batches)
        _check_log(session)
        master = MasterKey.load(keys_dir / "master.key")
        keyring = SerialKeyStore(session, master).keyring()
        for path, count in answered.items():
            n = identify(keyring, "https://x.test" + path).n
            summary = scan_summary(session, n)
            assert summary is not None and summary.count == count, path
    assert sum(answered.values()) == SCANNERS * SCANS_EACH
    report = verify_store(engine, root, workers=2)
    assert report.unsequenced == 0 and report.leaves == report.entries
    engine.dispose()


def _wait_integrated(url: str) -> None:
    engine = create_db_engine(url)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                if session.scalar(select(func.count()).select_from(Unsequenced)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError("the sequencers did not integrate everything within 30 s")
    finally:
        engine.dispose()


def _check_chains(session: Session, batches: list[str]) -> None:
    for batch in batches:
        rows = session.scalars(
            select(EntryRow.canonical).where(EntryRow.batch == batch).order_by(EntryRow.seq)
        )
        entries = [parse_stored_entry(bytes(row)) for row in rows]
        assert [e.seq for e in entries] == list(range(len(entries))), f"chain {batch} has a gap"
        for earlier, later in pairwise(entries):
            assert later.prev == earlier.hash, f"{batch}/{later.seq}: prev is not the hash of {earlier.seq}"


def _check_log(session: Session) -> None:
    leaves = session.execute(
        select(MerkleLeaf.leaf_index, MerkleLeaf.entry_id).order_by(MerkleLeaf.leaf_index)
    ).all()
    assert [index for index, _ in leaves] == list(range(len(leaves))), "leaf indexes are not contiguous"
    assert len({entry for _, entry in leaves}) == len(leaves), "an entry is a leaf twice"
    assert len(leaves) == session.scalar(select(func.count()).select_from(EntryRow))
