"""Fixtures for the trace domain: a fresh migrated database, bootstrapped keys and a clock.

Only fixtures named trace_* / county live here, so the other trace test modules (GS1,
EPCIS, serials) are unaffected. The database is the engine under test (SQLite by
default, PostgreSQL with FARMTRACE_TEST_POSTGRES_URL), migrated by tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Ledger
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow
from farmtrace.trace.services import TraceServices, trace_services

CST = timezone(timedelta(hours=8))  # China Standard Time: how the county writes its times
OPERATOR = "wuhua-county"
PDF = b"%PDF-1.4\n% lab report\n"


class TraceClock:
    """A clock the test moves forward by hand; each reading advances it by one millisecond."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def set(self, moment: datetime) -> None:
        if moment < self.now:
            raise AssertionError(f"the test clock does not run backwards ({moment} < {self.now})")
        self.now = moment


@dataclass
class TraceEnv:
    session: Session
    keystore: KeyStore
    clock: TraceClock
    trace: TraceServices

    def at(self, text: str) -> datetime:
        """`text` (China time, e.g. '2026-06-01 08:00') as a moment; the clock moves to 10 minutes
        after it unless it is already later (then the event is being recorded late)."""
        moment = datetime.fromisoformat(text).replace(tzinfo=CST)
        self.clock.set(max(self.clock.now, moment.astimezone(UTC) + timedelta(minutes=10)))
        return moment

    def entry_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(EntryRow)) or 0


@pytest.fixture
def trace_clock() -> TraceClock:
    return TraceClock(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))


@pytest.fixture
def trace_env(engine: Engine, tmp_path, trace_clock: TraceClock) -> Iterator[TraceEnv]:
    master = MasterKey.load_or_create(tmp_path / "keys" / "master.key")
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master, Ledger(session, clock=trace_clock))
        services = trace_services(session, keystore)
        services.orgs.bootstrap_operator(
            {
                "id": OPERATOR,
                "name_zh": "五华县农村电商运营中心",
                "name_en": "Wuhua County e-commerce operator",
            }
        )
        session.commit()
        yield TraceEnv(session, keystore, trace_clock, services)


@pytest.fixture
def county(trace_env: TraceEnv) -> TraceEnv:
    """The operator with the places and organisations most tests need."""
    t = trace_env.trace
    for place in (
        {"id": "wuhua", "kind": "county", "name_zh": "五华县", "name_en": "Wuhua County"},
        {"id": "wuhua.hengpi", "kind": "town", "name_zh": "横陂镇", "parent": "wuhua"},
        {"id": "wuhua.hengpi.xiaping", "kind": "village", "name_zh": "夏坪村", "parent": "wuhua.hengpi"},
        {"id": "wuhua.changbu", "kind": "town", "name_zh": "长布镇", "parent": "wuhua"},
        {"id": "wuhua.changbu.yuanqiao", "kind": "village", "name_zh": "元桥村", "parent": "wuhua.changbu"},
        {
            "id": "field-a",
            "kind": "field",
            "name_zh": "夏坪村一号地",
            "parent": "wuhua.hengpi.xiaping",
            "latitude": "23.93",
            "longitude": "115.77",
        },
        {"id": "county-warehouse", "kind": "warehouse", "name_zh": "县级仓储中心", "parent": "wuhua"},
        {
            "id": "county-cold-store",
            "kind": "cold_store",
            "name_zh": "县冷链仓",
            "parent": "wuhua",
            "gln": "6901234000016",
        },
        {"id": "packing-hall", "kind": "facility", "name_zh": "包装车间", "parent": "wuhua"},
    ):
        t.places.register(OPERATOR, place)
    for org in (
        {
            "id": "coop-hengpi",
            "kind": "cooperative",
            "name_zh": "横陂果蔬专业合作社",
            "place": "wuhua.hengpi",
        },
        {
            "id": "coop-changbu",
            "kind": "cooperative",
            "name_zh": "长布红薯专业合作社",
            "place": "wuhua.changbu",
        },
        {
            "id": "household-li",
            "kind": "household",
            "name_zh": "李家",
            "parent": "coop-hengpi",
            "poverty_household": True,
        },
        {"id": "lab-meizhou", "kind": "lab", "name_zh": "梅州市农产品质量检测中心"},
        {"id": "carrier-sf", "kind": "carrier", "name_zh": "五华县顺达物流"},
        {
            "id": "town-hengpi",
            "kind": "town_centre",
            "name_zh": "横陂镇电商服务中心",
            "place": "wuhua.hengpi",
        },
        {
            "id": "station-xiaping",
            "kind": "village_station",
            "name_zh": "夏坪村电商服务站",
            "place": "wuhua.hengpi.xiaping",
        },
        {"id": "packer-wuhua", "kind": "packing_station", "name_zh": "五华县农产品包装站"},
        {"id": "shop-wuhua", "kind": "seller", "name_zh": "五华特产网店"},
    ):
        t.orgs.register(OPERATOR, org)
    trace_env.session.commit()
    return trace_env
