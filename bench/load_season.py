"""A county's season on PostgreSQL, generated through the domain services (not in the test suite).

    python -m bench.load_season [--batches 10000] [--events 8] [--codes 100] [--workers 2]
                                [--database-url postgresql://...] [--home DIR]

Builds: the county's places and organisations; then, in WORKERS processes, each batch
registered by its cooperative (BatchService.register), CODES item codes issued to it by
the packing station (CodeService.issue: one range row and one ledger entry per batch,
whatever the count), and EVENTS typed events (inputs, harvest, pickup, temperature,
hand-off, packing) recorded with EventRecorder.record_many (see build_slice).
Every entry is signed by its organisation's custodial key. Then the sequencer integrates
everything. Defaults give 10,000 batches, 1,000,000 codes and 100,000 entries; the
generation time is printed per phase and written to docs/performance.md by load_mixed.

The database is created (dropped first if it exists) unless --reuse is given. The home
folder holds the master key and root.pub; the load and fault runs use the same one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow, Unsequenced
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import format_root_key
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.recorder_bulk import EventInput
from farmtrace.trace.services import trace_services
from farmtrace.web import migrate

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/farmtrace_season"
DEFAULT_HOME = Path("/tmp/farmtrace-season")
ORIGIN = "trace.example-county.gov.cn/farmtrace-log"
OPERATOR = "county"
TOWNS = 8  # one cooperative, one field and one packing station per town
COMMIT_EVERY = 10  # batches per transaction
PLACES = [
    {"id": "county", "kind": "county", "name_zh": "示范县"},
    {"id": "county-warehouse", "kind": "warehouse", "name_zh": "县仓储中心", "parent": "county"},
]
FERTILISER = {"kind": "fertiliser", "product_name": "有机肥", "dose": "300", "dose_unit": "kg/mu"}
SEASON_START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Season:
    url: str
    home: str
    batches: int
    events: int
    codes: int
    entries: int
    issued_codes: int
    tree_size: int
    seconds: dict[str, float]


def town(i: int) -> dict[str, str]:
    return {
        "town": f"town-{i}",
        "field": f"field-{i}",
        "coop": f"coop-{i}",
        "packer": f"packer-{i}",
        "product": f"rice-{i}",
    }


def create_database(url: str, reuse: bool) -> None:
    target = make_url(url)
    if target.get_backend_name() == "sqlite":  # the fault runs' SQLite store: a new file
        Path(str(target.database)).parent.mkdir(parents=True, exist_ok=True)
        return
    if reuse:
        return
    admin = create_db_engine(
        target.set(database="postgres").render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def registry(url: str, home: Path) -> None:
    """Operator, places, organisations, products; root.pub for `farmtrace verify`."""
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    keys = home / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    master = MasterKey.load_or_create(keys / "master.key")
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master)
        t = trace_services(session, keystore)
        t.orgs.bootstrap_operator({"id": OPERATOR, "name_zh": "示范县农村电商公共服务中心"})
        for place in PLACES:
            t.places.register(OPERATOR, place)
        for i in range(TOWNS):
            ids = town(i)
            t.places.register(
                OPERATOR, {"id": ids["town"], "kind": "town", "name_zh": f"{i}镇", "parent": "county"}
            )
            t.places.register(
                OPERATOR, {"id": ids["field"], "kind": "field", "name_zh": f"{i}号田", "parent": ids["town"]}
            )
            t.orgs.register(OPERATOR, {"id": ids["coop"], "kind": "cooperative", "name_zh": f"{i}镇合作社"})
            t.orgs.register(
                OPERATOR, {"id": ids["packer"], "kind": "packing_station", "name_zh": f"{i}镇包装站"}
            )
            product = {"id": ids["product"], "name_zh": f"{i}镇丝苗米", "category": "grain", "unit": "kg"}
            t.products.register(ids["coop"], product)
        t.orgs.register(OPERATOR, {"id": "carrier", "kind": "carrier", "name_zh": "县物流公司"})
        root = keystore.root_key().public_key
        session.commit()
    engine.dispose()
    (keys / "root.pub").write_text(format_root_key(root))


def _temperature(device: str, moment: datetime) -> dict:
    reading = {"time": moment.isoformat(), "celsius": "12.5"}
    return {"min_celsius": "10", "max_celsius": "15", "device": device, "readings": [reading]}


def _events(i: int, when: datetime, count: int) -> list[tuple[str, dict, str, datetime]]:
    """(type, payload, actor, time) of the first `count` events of batch i, in order; past the
    eighth, more temperature readings in the packing station's care."""
    ids = town(i % TOWNS)
    steps: list[tuple[str, dict, str]] = [
        ("farming.input", FERTILISER, ids["coop"]),
        ("farming.input", {**FERTILISER, "product_name": "复合肥"}, ids["coop"]),
        ("farming.harvested", {"quantity": "1000", "unit": "kg", "place": ids["field"]}, ids["coop"]),
        ("logistics.picked_up", {"carrier": "carrier", "place": ids["field"]}, ids["coop"]),
        ("logistics.temperature", "truck", "carrier"),
        ("logistics.handed_off", {"to": ids["packer"], "place": "county-warehouse"}, "carrier"),
        (
            "packing.packed",
            {"packages": 100, "package": "bag", "net_quantity": "10", "net_unit": "kg"},
            ids["packer"],
        ),
    ]
    out = []
    for n in range(count):
        kind, payload, actor = (
            steps[n] if n < len(steps) else ("logistics.temperature", "store", ids["packer"])
        )
        moment = when + timedelta(hours=n + 1)
        if kind == "logistics.temperature":
            payload = _temperature(f"TL-{payload}-{i}", moment)
        out.append((kind, payload, actor, moment))
    return out


def build_slice(url: str, home: str, first: int, count: int, events: int, codes: int) -> int:
    """Batches first..first+count-1, in transactions of COMMIT_EVERY; returns entries made.

    Everything goes through the domain services (schemas, rules, flags, projections): the
    typed events of a transaction's batches through one EventRecorder.record_many call, as
    the bulk upload records them (each chain replayed once, one append_many signing each
    event with its organisation's key, projections written once per batch).
    """
    engine = create_db_engine(url)
    sessions = sessionmaker(bind=write_engine(engine))
    master = MasterKey.load(Path(home) / "keys" / "master.key")
    made = 0
    for start in range(first, first + count, COMMIT_EVERY):
        with sessions() as session:
            keystore = KeyStore(session, master)
            t = trace_services(session, keystore)
            items: list[EventInput] = []
            registered: list[tuple[str, str, int]] = []
            for i in range(start, min(start + COMMIT_EVERY, first + count)):
                ids = town(i % TOWNS)
                when = SEASON_START + timedelta(minutes=i)
                payload = {
                    "product": ids["product"],
                    "unit": "kg",
                    "expected_quantity": "1000",
                    "origin_place": ids["field"],
                }
                batch = t.batches.register(
                    ids["coop"], payload, event_time=when, client_id=f"season:{i}"
                ).batch
                made += 1
                registered.append((batch, ids["packer"], i))
                for step, (kind, body, actor, moment) in enumerate(_events(i, when, events)):
                    items.append(EventInput(batch, kind, body, actor, moment, f"season:{i}:{step}"))
            made += len(t.events.record_many(items))
            session.commit()
        # Code issuance takes the allocator's row lock until commit: its own short
        # transaction, so the worker processes do not queue behind each other's batches.
        with sessions() as session:
            t = trace_services(session, KeyStore(session, master))
            codes_service = CodeService(t.ctx, max_count=max(codes, 1))
            for batch, packer, i in registered if codes else []:
                codes_service.issue(packer, batch, codes, client_id=f"season:{i}:codes")
                made += 1
            session.commit()
    engine.dispose()
    return made


def integrate_everything(url: str, home: Path, origin: str = ORIGIN) -> int:
    engine = create_db_engine(url)
    master = MasterKey.load(home / "keys" / "master.key")
    sessions = sessionmaker(bind=write_engine(engine))
    with sessions() as session:
        signer = SignerKey(origin, KeyStore(session, master).log_key().seed)
    size = 0
    while True:
        with sessions() as session:
            done = integrate(session, signer)
            session.commit()
        if done is None:
            break
        size = done.new_size
    engine.dispose()
    return size


def counts(url: str) -> tuple[int, int, int]:
    """(entries, issued codes, entries waiting) in the store."""
    engine = create_db_engine(url)
    with Session(engine) as session:
        entries = session.scalar(select(func.count()).select_from(EntryRow)) or 0
        issued = session.scalar(select(func.coalesce(func.sum(CodeRange.count), 0))) or 0
        waiting = session.scalar(select(func.count()).select_from(Unsequenced)) or 0
    engine.dispose()
    return entries, int(issued), waiting


def build_season(
    url: str, home: Path, batches: int, events: int, codes: int, workers: int, reuse: bool = False
) -> Season:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    create_database(url, reuse)
    registry(url, home)
    seconds["registry"] = time.perf_counter() - started
    step = time.perf_counter()
    share = -(-batches // workers)
    jobs = [
        (url, str(home), w * share, min(share, batches - w * share), events, codes) for w in range(workers)
    ]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.starmap(build_slice, [job for job in jobs if job[3] > 0])
    seconds["batches, events, codes"] = time.perf_counter() - step
    step = time.perf_counter()
    tree_size = integrate_everything(url, home)
    seconds["sequencer"] = time.perf_counter() - step
    seconds["total"] = time.perf_counter() - started
    entries, issued, _waiting = counts(url)
    return Season(url, str(home), batches, events, codes, entries, issued, tree_size, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_season", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument(
        "--events", type=int, default=8, help="typed events per batch (besides registration and codes)"
    )
    parser.add_argument("--codes", type=int, default=100, help="codes issued per batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="add to the existing database")
    args = parser.parse_args(argv)
    season = build_season(
        args.database_url, args.home, args.batches, args.events, args.codes, args.workers, args.reuse
    )
    (args.home / "season.json").write_text(json.dumps(asdict(season), indent=2))
    print(json.dumps(asdict(season), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
