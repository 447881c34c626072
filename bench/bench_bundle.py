"""Proof bundle version 2 (the whole key chain): its size for the demo county and for a
county-sized registry, beside what version 1 (only the chosen key entries, each with its own
proof) would weigh, and the work it puts on the server, on Python and on a phone's browser.

County: FARMTRACE_BENCH_BUNDLE_ORGS organisations (default 300), each registered and then
rotated once (a new key registered, the old one revoked), and one batch of 12 entries.
Sizes are of the JSON the server sends (Flask's compact JSON, non-ASCII escaped) and of the
gzip it sends to clients that accept it (level 6). Download times are the gzip size over a
link rate, without latency. Server times are in-process (Flask test client, SQLite).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.harness import Result
from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.bundle import proof_bundle
from farmtrace.ledger.bundle_verify import verify_bundle
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import DbHashReader, integrate
from farmtrace.ledger.tlog import prove_record
from farmtrace.web import migrate
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings

TITLE = "Proof bundles: size with the whole key chain (version 2), and the work to check one"
ORIGIN = "trace.wuhua.example.cn/farmtrace-log"
ORGS = int(os.environ.get("FARMTRACE_BENCH_BUNDLE_ORGS", "300"))
LINKS = (("3G at 1 Mbit/s", 1_000_000), ("3G cell edge at 384 kbit/s", 384_000))
START = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@dataclass
class Store:
    app: Flask
    engine: Engine
    batch: str
    root: bytes


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        demo = _demo_store(Path(tmp) / "demo")
        county = _county_store(Path(tmp) / "county", ORGS)
        results = _sizes("demo county (trace/demo.py)", demo) + _sizes(f"{ORGS} organisations", county)
        results += _work(county)
        results += _browser(county)
        for store in (demo, county):
            store.engine.dispose()
    return results


# -- what is measured -------------------------------------------------------------------------


def _sizes(label: str, store: Store) -> list[Result]:
    body = store.app.test_client().get(f"/bundle/{store.batch}.json").data
    bundle = json.loads(body)
    packed = len(gzip.compress(body, 6))
    with Session(store.engine) as session:
        v1 = _compact(store.app, _as_version_1(session, bundle))
    per_entry = (len(body) - len(_compact(store.app, {**bundle, "keys": []}))) / len(bundle["keys"])
    links = "; ".join(f"{name}: {packed * 8 / rate:.2f} s" for name, rate in LINKS)
    return [
        Result(
            f"{label}: key chain",
            len(bundle["keys"]),
            "entries",
            note=f"batch {store.batch}: {len(bundle['entries'])} entries; tree size "
            f"{bundle['head_proof']['tree_size']}; about {per_entry:,.0f} B of JSON per key entry",
        ),
        Result(
            f"{label}: bundle v2, JSON",
            len(body) / 1024,
            "KiB",
            limit=f"v1 would be {len(v1) / 1024:,.1f} KiB",
        ),
        Result(
            f"{label}: bundle v2, gzip",
            packed / 1024,
            "KiB",
            limit=f"v1 gzip {len(gzip.compress(v1, 6)) / 1024:,.1f} KiB",
            note=links,
        ),
    ]


def _work(store: Store) -> list[Result]:
    client = store.app.test_client()
    url = f"/bundle/{store.batch}.json"
    gzip_ok = {"Accept-Encoding": "gzip"}
    bundle = json.loads(client.get(url).data)
    etag = client.get(url, headers=gzip_ok).headers["ETag"]

    def first_request() -> None:
        store.app.extensions.pop("farmtrace.bundle_cache", None)  # as after a new checkpoint
        client.get(url, headers=gzip_ok)

    with Session(store.engine) as session:
        build = _median_ms(lambda: proof_bundle(session, store.batch))
    return [
        Result("county: build the bundle (proof_bundle)", build, "ms", note="SQLite, median of 7"),
        Result(
            "county: GET, first request for a state",
            _median_ms(first_request),
            "ms",
            note="build, JSON and gzip; once per checkpoint, batch head and key chain head per process",
        ),
        Result("county: GET, cached", _median_ms(lambda: client.get(url, headers=gzip_ok)), "ms"),
        Result(
            "county: GET with If-None-Match, 304",
            _median_ms(lambda: client.get(url, headers={**gzip_ok, "If-None-Match": etag})),
            "ms",
        ),
        Result(
            "county: verify_bundle in Python",
            _median_ms(lambda: verify_bundle(bundle, store.root, ORIGIN)),
            "ms",
            note=f"{len(bundle['keys']) + len(bundle['entries'])} Ed25519 signatures",
        ),
    ]


def _browser(store: Store) -> list[Result]:
    """verify.js on the county bundle in headless Chromium, also with the CPU slowed 4x
    (Chromium's emulation; a rough stand-in for a mid-range phone)."""
    sys.path.append(str(Path(__file__).resolve().parents[1] / "tests" / "web"))
    try:
        from browser import Browser, live_server
    except ImportError as exc:  # pragma: no cover - the dev extras are installed for bench
        print(f"browser harness unavailable ({exc}): verify.js not timed", file=sys.stderr)
        return []
    root = b64encode(store.root)
    timing = f"""(async () => {{
      const bundle = await (await fetch('/bundle/{store.batch}.json')).json();
      const root = Uint8Array.from(atob('{root}'), c => c.charCodeAt(0));
      const times = [];
      for (let i = 0; i < 3; i++) {{
        const t0 = performance.now();
        await FarmtraceVerify.verifyBundle(bundle, root, '{ORIGIN}', true);
        times.push(performance.now() - t0);
      }}
      return [times.sort((a, b) => a - b)[1], await FarmtraceVerify.hasEd25519()];
    }})()"""
    results = []
    with live_server(store.app) as base, Browser.launch() as browser:
        for rate in (1, 4):
            with browser.new_page() as page:
                page.call("Emulation.setCPUThrottlingRate", {"rate": rate})
                page.goto(f"{base}/_bench/blank")
                ms, ed25519 = page.evaluate(timing)
                what = "signatures and proofs" if ed25519 else "hashes and proofs only (no Ed25519)"
                slowed = "" if rate == 1 else f", CPU slowed {rate}x"
                results.append(
                    Result(
                        f"county: verify.js in headless Chromium{slowed}",
                        ms,
                        "ms",
                        note=what + ", median of 3",
                    )
                )
    load = os.getloadavg()[0]
    results.append(Result("load average (1 min) after the run", load, "", note=f"{os.cpu_count()} cores"))
    return results


def _as_version_1(session: Session, bundle: dict[str, Any]) -> dict[str, Any]:
    """The same bundle as version 1 built it: only the key entries of the root, the log key
    and the batch's signing keys, each with its own inclusion proof."""
    size = bundle["head_proof"]["tree_size"]
    wanted = {item["entry"]["key"] for item in bundle["entries"]}
    wanted.update(
        item["entry"]["payload"]["key_id"]
        for item in bundle["keys"]
        if item["entry"]["payload"].get("role") in ("root", "log")
    )
    reader = DbHashReader(session)
    keys = [
        {
            **item,
            "proof": {
                "leaf_index": item["leaf_index"],
                "tree_size": size,
                "hashes": [b64encode(h) for h in prove_record(size, item["leaf_index"], reader)],
            },
        }
        for item in bundle["keys"]
        if item["entry"]["payload"]["key_id"] in wanted
    ]
    rest = {k: v for k, v in bundle.items() if k not in ("keys", "keys_head_proof")}
    return {**rest, "version": 1, "keys": keys}


def _compact(app: Flask, value: Any) -> bytes:
    return app.json.dumps(value, separators=(",", ":")).encode()


def _median_ms(operation: Any, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        operation()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


# -- the stores ---------------------------------------------------------------------------------


def _clock() -> Any:
    ticks = iter(range(10**9))
    return lambda: START + timedelta(milliseconds=next(ticks))


def _app(home: Path, url: str, engine: Engine) -> Flask:
    settings = Settings.from_env(
        {"FARMTRACE_HOME": str(home), "FARMTRACE_DATABASE_URL": url, "FARMTRACE_LOG_ORIGIN": ORIGIN}
    )
    app = create_app(settings, engine=engine)
    page = Blueprint("bench_blank", __name__)
    page.get("/_bench/blank")(
        lambda: '<!doctype html><html><head><script src="/static/verify.js"></script></head></html>'
    )
    app.register_blueprint(page)
    return app


def _open(home: Path) -> tuple[str, Engine]:
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'farmtrace.sqlite3'}"
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    return url, engine


def _demo_store(home: Path) -> Store:
    from farmtrace.trace.demo import load_demo

    url, engine = _open(home)
    clock = _clock()
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(
            session, MasterKey.load_or_create(home / "master.key"), Ledger(session, clock=clock)
        )
        demo = load_demo(session, keystore, clock)
        integrate(session, SignerKey(ORIGIN, keystore.log_key().seed))
        root = keystore.root_key().public_key
        session.commit()
    return Store(_app(home, url, engine), engine, demo.batches["sweet-potato"], root)


def _county_store(home: Path, orgs: int) -> Store:
    url, engine = _open(home)
    clock = _clock()
    with Session(write_engine(engine)) as session:
        ledger = Ledger(session, clock=clock)
        keystore = KeyStore(session, MasterKey.load_or_create(home / "master.key"), ledger)
        keys = keystore.bootstrap("county")
        names = [f"org-{i:03d}" for i in range(orgs)]
        for name in names:
            keystore.create_org_key(name)
        for name in names:
            keystore.rotate(name)
        signer = keystore.signer_for(names[0])
        ledger.open_chain(
            Draft("B1", "batch.registered", START, names[0], "b1-reg", {"lot": "2026-1"}), signer
        )
        for i in range(11):
            ledger.append(Draft("B1", "farming.input", START, names[0], f"b1-{i}", {"dose": "1.5"}), signer)
        integrate(session, SignerKey(ORIGIN, keys.log.seed))
        session.commit()
    return Store(_app(home, url, engine), engine, "B1", keys.root.public_key)
