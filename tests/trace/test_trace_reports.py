"""Report figures against a season with known answers, on the engine under test.

A seeded generator plans a season (Aug-Oct 2026) for the `county` fixture and records it
through the domain services (batches, events, lab tests, codes, scans, lineage, recalls,
corrections, complaints): every ledger entry is signed and projected as in production. It
also writes its own log of what it did; `Expected` computes every figure from that log in
plain Python, by the definitions in docs/reports.md, with no SQL. The test then asserts
that build_report agrees for several periods (month, day on the midnight boundary, year,
custom) and every scope, and reads the XLSX back with openpyxl.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from openpyxl import load_workbook
from trace_env import CST, OPERATOR, PDF, TraceEnv

from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.scans import Scanner, record_scan
from farmtrace.trace.complaints import ComplaintService
from farmtrace.trace.documents import store_document
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.reports import export, feed
from farmtrace.trace.reports.figures import FIGURES, Figures
from farmtrace.trace.reports.period import Period, custom, day, month, parse_period, year
from farmtrace.trace.reports.report import Report, build_report
from farmtrace.trace.reports.scopes import Scope

SEED = 20260914
PHONE = "13800138000"
LAB = "lab-meizhou"
CARRIER = "carrier-sf"
PACKER = "packer-wuhua"
STATIONS = {"station-xiaping": "wuhua.hengpi.xiaping", "station-yuanqiao": "wuhua.changbu.yuanqiao"}
# Where each place lies (the test's own map, not read from the database).
TOWN_OF_PLACE = {
    "field-a": "wuhua.hengpi",
    "field-b": "wuhua.changbu",
    "wuhua.hengpi.xiaping": "wuhua.hengpi",
    "wuhua.changbu.yuanqiao": "wuhua.changbu",
    "wuhua.hengpi": "wuhua.hengpi",
    "wuhua.changbu": "wuhua.changbu",
}
COUNTY_LEVEL = {"county-warehouse", "county-cold-store", "packing-hall", "wuhua"}
ORG_PLACE = {
    "coop-hengpi": "wuhua.hengpi",
    "coop-changbu": "wuhua.changbu",
    "town-hengpi": "wuhua.hengpi",
    **STATIONS,
}
COOP_OF = {
    "coop-hengpi": "coop-hengpi",
    "coop-changbu": "coop-changbu",
    "household-li": "coop-hengpi",
    "household-wang": "coop-changbu",
    "household-zhao": "coop-hengpi",
}
POVERTY = {"household-li", "household-wang"}
PRODUCTS = {
    # id: (owner, unit, name)
    "hengpi-plum": ("coop-hengpi", "kg", "横陂三华李"),
    "hengpi-honey": ("coop-hengpi", "jar", "横陂蜂蜜"),
    "changbu-potato": ("coop-changbu", "jin", "长布红薯"),
    "changbu-oil": ("coop-changbu", "L", "长布茶油"),
}
MASS = {"g": Decimal("0.001"), "kg": Decimal(1), "jin": Decimal("0.5"), "t": Decimal(1000)}
VOLUME = {"mL": Decimal("0.001"), "L": Decimal(1)}
ANALYTES = ("吡虫啉 imidacloprid", "毒死蜱 chlorpyrifos", "铅 lead (Pb)")
CHANNELS = ("ecommerce", "livestream", "shop", "wholesale")
DAY_MS = 86_400_000


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


# -- the generation log --------------------------------------------------------------------


@dataclass
class BatchFact:
    id: str
    product: str
    owner: str
    producers: tuple[str, ...]
    origin_place: str | None
    unit: str
    registered_at: datetime
    origin: str = "registered"
    quantity_in: Decimal = Decimal(0)


@dataclass
class Log:
    batches: dict[str, BatchFact] = field(default_factory=dict)
    codes: list[tuple[str, datetime, int]] = field(default_factory=list)  # batch, issued at, count
    voids: list[tuple[str, datetime, int]] = field(default_factory=list)
    scans: list[tuple[int, str, datetime]] = field(default_factory=list)  # n, batch, at
    labs: list[tuple[str, datetime, str, tuple[str, ...]]] = field(default_factory=list)
    sales: dict[str, tuple[str, datetime, Decimal, str, str]] = field(default_factory=dict)  # hash ->
    # delivered: batch, station, delivered at, place of the last pickup before it, its time
    deliveries: list[tuple[str, str, datetime, str | None, datetime | None]] = field(default_factory=list)
    excursions: list[tuple[str, datetime]] = field(default_factory=list)
    recalls: list[tuple[str, str, datetime, tuple[str, ...]]] = field(
        default_factory=list
    )  # id, origin, at, reached
    lifts: list[tuple[str, str, datetime]] = field(default_factory=list)  # id, origin, at
    complaints: list[tuple[str, datetime, str]] = field(default_factory=list)


# -- the generator -------------------------------------------------------------------------


class Season:
    """Plans timed actions, runs them in time order through the services, logs each one."""

    def __init__(self, env: TraceEnv) -> None:
        self.env = env
        self.t = env.trace
        self.codes = CodeService(self.t.ctx)
        self.complaints = ComplaintService(self.t.ctx)
        self.rng = random.Random(SEED)
        self.log = Log()
        self.plan: list[tuple[datetime, int, Callable[[], None]]] = []
        self.report_sha = ""
        self.last_pickup: dict[str, tuple[str, datetime]] = {}
        self.custodian: dict[str, str] = {}
        self.ranges: dict[str, tuple[int, int, int]] = {}  # batch -> (range id, first n, count)

    # scheduling ---------------------------------------------------------------------------
    def at(self, moment: datetime, action: Callable[[], None]) -> None:
        self.plan.append((moment, len(self.plan), action))

    def clock_to(self, moment: datetime) -> None:
        clock = self.env.clock
        clock.set(max(clock.now, moment.astimezone(UTC) + timedelta(minutes=1)))

    def run(self) -> None:
        # Actions may schedule more actions (a sale after a delivery); run until none is left.
        while self.plan:
            self.plan.sort(key=lambda item: (item[0], item[1]))
            moment, _n, action = self.plan.pop(0)
            self.clock_to(moment)
            action()
        self.env.session.commit()

    # set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        t = self.t
        self.env.at("2026-08-01 08:00")
        t.places.register(
            OPERATOR,
            {"id": "field-b", "kind": "field", "name_zh": "元桥村二号地", "parent": "wuhua.changbu.yuanqiao"},
        )
        for org in (
            {
                "id": "station-yuanqiao",
                "kind": "village_station",
                "name_zh": "元桥村电商服务站",
                "place": "wuhua.changbu.yuanqiao",
            },
            {"id": "household-wang", "kind": "household", "name_zh": "王家", "parent": "coop-changbu"},
            {"id": "household-zhao", "kind": "household", "name_zh": "赵家", "parent": "coop-hengpi"},
        ):
            t.orgs.register(OPERATOR, org)
        t.orgs.set_poverty_household(OPERATOR, "household-wang", True, public_mark=True)
        for product, (owner, unit, name) in PRODUCTS.items():
            t.products.register(owner, {"id": product, "name_zh": name, "category": "fruit", "unit": unit})
        self.report_sha = store_document(t.ctx, PDF, "application/pdf", uploaded_by=LAB)
        self.env.session.commit()

    # one batch ----------------------------------------------------------------------------
    def batch(self, n: int, start: datetime, *, fail: bool = False, ship: str | None = "county") -> None:
        rng = self.rng
        product = rng.choice(sorted(PRODUCTS))
        owner, unit, _name = PRODUCTS[product]
        members = [h for h, coop in COOP_OF.items() if coop == owner and h != owner]
        registrant = owner if n % 5 else members[0]  # a member household registers now and then
        producers = (registrant,) if registrant != owner else tuple(sorted({owner, rng.choice(members)}))
        origin = rng.choice(["field-a", "field-b", None])
        quantity = Decimal(rng.randrange(400, 2000))
        fact = BatchFact("", product, registrant, producers, origin, unit, start, quantity_in=quantity)
        client = f"season:{n}"

        def register() -> None:
            payload: dict[str, Any] = {
                "product": product,
                "lot": f"L{n:03d}",
                "producers": list(producers),
                "unit": unit,
                "quantity": str(quantity),
            }
            if origin:
                payload["origin_place"] = origin
            fact.id = self.t.batches.register(registrant, payload, event_time=start, client_id=client).batch
            self.log.batches[fact.id] = fact
            self.custodian[fact.id] = registrant

        self.at(start, register)
        if n % 4 == 0:  # a harvest adds to quantity_in
            harvest = Decimal(rng.randrange(10, 90))

            def harvested() -> None:
                self.t.events.record(
                    fact.id,
                    "farming.harvested",
                    {"quantity": str(harvest), "unit": unit},
                    actor=registrant,
                    event_time=start + timedelta(hours=20),
                )
                fact.quantity_in += harvest

            self.at(start + timedelta(hours=20), harvested)
        tested = start + timedelta(days=1, minutes=rng.randrange(0, 600))
        self.at(tested, lambda: self.lab(fact, tested, fail))
        issued = start + timedelta(days=2, minutes=rng.randrange(0, 600))
        self.at(issued, lambda: self.issue(fact, n))
        for _ in range(rng.randrange(0, 12)):
            when = start + timedelta(days=3, hours=rng.randrange(0, 24 * 30))
            self.at(when, lambda when=when: self.scan(fact, when))
        if fail:
            return  # non-conformant: neither shipped nor sold
        if ship is not None:
            pickup = start + timedelta(days=3, minutes=rng.randrange(0, 24 * 60))
            place = {"county": rng.choice(sorted(COUNTY_LEVEL - {"wuhua"})), "village": "field-a"}[ship]
            station = rng.choice(sorted(STATIONS))
            lead = timedelta(hours=24) if n % 7 == 2 else timedelta(minutes=rng.randrange(90, 40 * 60))
            self.at(pickup, lambda: self.pick_up(fact, place, pickup))
            if n % 3 == 0:
                reading_at = pickup + lead / 2
                self.at(reading_at, lambda: self.temperature(fact, reading_at, outside=n % 2 == 0))
            self.at(pickup + lead, lambda: self.deliver(fact, station, pickup + lead))
            first_sale = pickup + lead + timedelta(hours=rng.randrange(1, 48))
        else:
            first_sale = start + timedelta(days=3, hours=rng.randrange(0, 48))
        for k in range(rng.randrange(1, 4)):
            when = first_sale + timedelta(hours=7 * k, minutes=rng.randrange(0, 300))
            self.at(when, lambda when=when, k=k: self.sell(fact, when, k))
        if n % 6 == 1:
            self.at(start + timedelta(days=2, hours=3), lambda: self.complain(fact, "quality"))

    # actions --------------------------------------------------------------------------------
    def lab(self, fact: BatchFact, when: datetime, fail: bool) -> None:
        failed = tuple(sorted(self.rng.sample(ANALYTES, self.rng.randrange(1, 3)))) if fail else ()
        results = [
            {
                "analyte": a,
                "method": "GB 23200.113-2018",
                "value": "0.9" if a in failed else "0.01",
                "limit": "0.5",
                "unit": "mg/kg",
                "verdict": "fail" if a in failed else "pass",
            }
            for a in ANALYTES
        ]
        payload = {
            "sample_id": f"S-{fact.id[-5:]}",
            "report_sha256": self.report_sha,
            "verdict": "fail" if fail else "pass",
            "results": results,
        }
        self.t.events.record(fact.id, "lab.tested", payload, actor=LAB, event_time=when)
        self.log.labs.append((fact.id, when, "fail" if fail else "pass", failed))

    def issue(self, fact: BatchFact, n: int) -> None:
        count = self.rng.randrange(5, 40)
        issued = self.codes.issue(PACKER, fact.id, count)
        self.ranges[fact.id] = (issued.range_id, self.first_n(issued.range_id), count)
        self.log.codes.append((fact.id, issued.issued_at, count))
        if n % 8 == 5:
            voided = self.codes.void(PACKER, "卷标印错 misprinted roll", range_id=issued.range_id)
            self.log.voids.append((fact.id, voided.at, voided.count))

    def first_n(self, range_id: int) -> int:
        from farmtrace.trace.codes.models import CodeRange

        row = self.env.session.get(CodeRange, range_id)
        assert row is not None
        return row.first_n

    def scan(self, fact: BatchFact, when: datetime) -> None:
        _rid, first, count = self.ranges[fact.id]
        n = first + self.rng.randrange(0, min(count, 4))  # few items: repeat scans of one item
        record_scan(self.env.session, n, when.astimezone(UTC), Scanner(b"\x01" * 16, "nabcdef0123"))
        self.log.scans.append((n, fact.id, when))

    def pick_up(self, fact: BatchFact, place: str, when: datetime) -> None:
        self.t.events.record(
            fact.id,
            "logistics.picked_up",
            {"carrier": CARRIER, "place": place},
            actor=self.custodian[fact.id],
            event_time=when,
        )
        self.custodian[fact.id] = CARRIER
        self.last_pickup[fact.id] = (place, when)

    def temperature(self, fact: BatchFact, when: datetime, outside: bool) -> None:
        readings = [{"time": when.isoformat(), "celsius": "9.5" if outside else "4.0"}]
        payload = {"min_celsius": "2", "max_celsius": "8", "readings": readings}
        self.t.events.record(fact.id, "logistics.temperature", payload, actor=CARRIER, event_time=when)
        if outside:
            self.log.excursions.append((fact.id, when))

    def deliver(self, fact: BatchFact, station: str, when: datetime, place: str | None = None) -> None:
        self.t.events.record(
            fact.id,
            "logistics.delivered",
            {"station": station, "place": place or STATIONS.get(station, "wuhua.hengpi")},
            actor=CARRIER,
            event_time=when,
        )
        self.custodian[fact.id] = station
        pickup_place, pickup_at = self.last_pickup.get(fact.id, (None, None))
        self.log.deliveries.append((fact.id, station, when, pickup_place, pickup_at))

    def sell(self, fact: BatchFact, when: datetime, k: int) -> None:
        mass = fact.unit in MASS
        unit = {"kg": "jin", "jin": "kg"}.get(fact.unit, fact.unit) if k == 1 and mass else fact.unit
        quantity = Decimal(self.rng.randrange(1, 25)) + (Decimal("0.5") if mass else 0)
        channel = self.rng.choice(CHANNELS)
        payload = {
            "channel": channel,
            "order_reference": f"ORD-{fact.id[-4:]}-{k}",
            "quantity": str(quantity),
            "unit": unit,
        }
        event = self.t.events.record(
            fact.id, "sale.recorded", payload, actor=self.custodian[fact.id], event_time=when
        )
        self.log.sales[event.hash] = (fact.id, when, quantity, unit, channel)

    def correct_sale(self, entry_hash: str, quantity: Decimal, channel: str) -> None:
        batch, when, _q, unit, _c = self.log.sales[entry_hash]
        actor = self.custodian[batch]
        payload = {
            "channel": channel,
            "order_reference": "ORD-FIXED",
            "quantity": str(quantity),
            "unit": unit,
        }
        self.t.events.correct(batch, entry_hash, payload, actor=actor, reason="录入数量有误 typo in quantity")
        self.log.sales[entry_hash] = (batch, when, quantity, unit, channel)

    def complain(self, fact: BatchFact, kind: str) -> None:
        view = self.complaints.submit(fact.id, kind, "收到的李子有霉斑", phone=PHONE)
        self.log.complaints.append((fact.id, view.created_at, kind))


def make_season(env: TraceEnv) -> Log:
    season = Season(env)
    season.setup()
    rng = season.rng
    starts = [cst("2026-08-20 08:00") + timedelta(minutes=rng.randrange(0, 50 * 24 * 60)) for _ in range(22)]
    # Midnight in the county: 00:00 on 1 September is September, 23:59:59 the day before is not.
    starts[0], starts[1] = cst("2026-09-01 00:00"), cst("2026-08-31 23:59:59")
    for n, start in enumerate(starts):
        season.batch(
            n, start, fail=n % 9 == 4, ship="village" if n == 10 else "county" if n % 2 == 0 else None
        )
    season.run()

    # A sale corrected (the correction restates quantity and channel), a split, a recall of
    # the split batch (it reaches both outputs), a lifted recall, a two-leg delivery whose
    # last pickup is in a town (so not a county -> village delivery), a town-centre delivery.
    sold = next(iter(season.log.sales))
    season.clock_to(cst("2026-10-20 09:00"))
    season.correct_sale(sold, Decimal("3"), "market")

    quiet = [b for b in season.log.batches.values() if b.id not in {s[0] for s in season.log.sales.values()}]
    source = next(
        b
        for b in season.log.batches.values()
        if b.id not in {f[0] for f in season.log.labs if f[2] == "fail"} and b.id != season.log.sales[sold][0]
    )
    split_at = cst("2026-10-21 10:00")
    season.clock_to(split_at)
    split = env.trace.lineage.split(
        season.custodian[source.id], source.id, [{"quantity": "5"}, {"quantity": "6"}], event_time=split_at
    )
    for out in split.outputs:
        season.log.batches[out] = BatchFact(
            out,
            source.product,
            season.custodian[source.id],
            source.producers,
            source.origin_place,
            source.unit,
            split_at,
            origin="split",
            quantity_in=Decimal(5 if out == split.outputs[0] else 6),
        )
    recall_at = cst("2026-10-22 15:00")
    season.clock_to(recall_at)
    recall = env.trace.recalls.issue(OPERATOR, source.id, "抽检发现标签不符", level=2, event_time=recall_at)
    season.log.recalls.append((recall.recall_id, source.id, recall_at, recall.batches))
    lifted_source = (
        quiet[0]
        if quiet and quiet[0].id != source.id
        else next(b for b in season.log.batches.values() if b.origin == "registered" and b.id != source.id)
    )
    season.clock_to(cst("2026-10-23 09:00"))
    other = env.trace.recalls.issue(
        OPERATOR, lifted_source.id, "疑似污染，暂停销售", level=1, event_time=cst("2026-10-23 09:00")
    )
    season.log.recalls.append((other.recall_id, lifted_source.id, cst("2026-10-23 09:00"), other.batches))
    season.clock_to(cst("2026-10-25 09:00"))
    env.trace.recalls.lift(OPERATOR, other.recall_id, "复检合格", event_time=cst("2026-10-25 09:00"))
    season.log.lifts.append((other.recall_id, lifted_source.id, cst("2026-10-25 09:00")))

    two_leg = next(
        b
        for b in season.log.batches.values()
        if b.origin == "registered"
        and season.custodian[b.id] in PRODUCTS.get(b.product, ("",))[:1]
        and b.id not in {r for rec in season.log.recalls for r in rec[3]}
        and b.id not in {f[0] for f in season.log.labs if f[2] == "fail"}
    )
    t0 = cst("2026-10-26 08:00")
    season.clock_to(t0)
    season.pick_up(two_leg, "county-warehouse", t0)
    season.clock_to(t0 + timedelta(hours=3))
    season.deliver(two_leg, "town-hengpi", t0 + timedelta(hours=3), place="wuhua.hengpi")
    season.clock_to(t0 + timedelta(hours=5))
    season.pick_up(two_leg, "wuhua.hengpi", t0 + timedelta(hours=5))
    season.clock_to(t0 + timedelta(hours=9))
    season.deliver(two_leg, "station-xiaping", t0 + timedelta(hours=9))
    env.session.commit()
    return season.log


# -- expected figures, from the log alone ---------------------------------------------------


def town_of_batch(b: BatchFact) -> str | None:
    if b.origin_place and b.origin_place in TOWN_OF_PLACE:
        return TOWN_OF_PLACE[b.origin_place]
    return TOWN_OF_PLACE.get(ORG_PLACE.get(b.owner, ""))


def key_of(b: BatchFact, scope: Scope) -> str | None:
    if scope is Scope.COUNTY:
        return "county"
    if scope is Scope.TOWN:
        return town_of_batch(b)
    if scope is Scope.COOP:
        return COOP_OF.get(b.owner)
    return b.product


def in_base(quantity: Decimal, unit: str, dimension: str) -> Decimal | None:
    if dimension == "mass":
        return quantity * MASS[unit] if unit in MASS else None
    if dimension == "volume":
        return quantity * VOLUME[unit] if unit in VOLUME else None
    return quantity if unit not in MASS and unit not in VOLUME else None


def percentile_cont(values: list[int], p: Fraction) -> Fraction:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    below = int(position)
    fraction = position - below
    if fraction == 0:
        return Fraction(ordered[below])
    return ordered[below] + (ordered[below + 1] - ordered[below]) * fraction


def hours_of(ms: Fraction | None) -> Decimal | None:
    if ms is None:
        return None
    return (Decimal(ms.numerator) / Decimal(ms.denominator) / 3_600_000).quantize(Decimal("0.001"))


def ratio(part: int, whole: int) -> Decimal | None:
    return None if not whole else (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


class Expected:
    def __init__(self, log: Log, period: Period, scope: Scope) -> None:
        self.log, self.scope = log, scope
        self.lo, self.hi = period.utc_bounds()

    def inside(self, moment: datetime) -> bool:
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return self.lo <= moment.astimezone(UTC) < self.hi

    def key(self, batch: str) -> str | None:
        return key_of(self.log.batches[batch], self.scope)

    def figures(self) -> dict[str | None, dict[str, Any]]:
        log = self.log
        out: dict[str | None, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        for b in log.batches.values():
            if not self.inside(b.registered_at):
                continue
            row = out[key_of(b, self.scope)]
            if b.origin == "registered":
                row["batches_registered"] += 1
                for dim, name in (
                    ("mass", "quantity_kg"),
                    ("volume", "quantity_l"),
                    ("count", "quantity_units"),
                ):
                    value = in_base(b.quantity_in, b.unit, dim)
                    row[name] += value or 0
            else:
                row["batches_derived"] += 1
        for batch, when, count in log.codes:
            if self.inside(when):
                out[self.key(batch)]["items_coded"] += count
        for batch, when, count in log.voids:
            if self.inside(when):
                out[self.key(batch)]["items_voided"] += count
        items: dict[str | None, set[int]] = defaultdict(set)
        for n, batch, when in log.scans:
            if self.inside(when):
                out[self.key(batch)]["scans"] += 1
                items[self.key(batch)].add(n)
        for key, seen in items.items():
            out[key]["unique_items_scanned"] = len(seen)
        for batch, when, _kind in log.complaints:
            if self.inside(when):
                out[self.key(batch)]["complaints"] += 1
        for batch, when, verdict, _failed in log.labs:
            if self.inside(when):
                row = out[self.key(batch)]
                row["lab_tests"] += 1
                row["lab_passed" if verdict == "pass" else "lab_failed"] += 1
        for _rid, origin, when, reached in log.recalls:
            if self.inside(when):
                out[self.key(origin)]["recalls_issued"] += 1
                for batch in reached:
                    out[self.key(batch)]["recalled_batches"] += 1
        for _rid, origin, when in log.lifts:
            if self.inside(when):
                out[self.key(origin)]["recalls_lifted"] += 1
        leads: dict[str | None, list[int]] = defaultdict(list)
        for batch, station, when, pickup_place, pickup_at in log.deliveries:
            if not self.inside(when) or station not in STATIONS or pickup_place not in COUNTY_LEVEL:
                continue
            assert pickup_at is not None
            key = TOWN_OF_PLACE[STATIONS[station]] if self.scope is Scope.TOWN else self.key(batch)
            leads[key].append(int((when - pickup_at) / timedelta(milliseconds=1)))
        for key, values in leads.items():
            row = out[key]
            row["shipments"] = len(values)
            row["delivered_within_24h"] = sum(1 for v in values if v <= DAY_MS)
            row["lead_time_median_h"] = hours_of(percentile_cont(values, Fraction(1, 2)))
            row["lead_time_p90_h"] = hours_of(percentile_cont(values, Fraction(9, 10)))
        for batch, when in log.excursions:
            if self.inside(when):
                out[self.key(batch)]["cold_chain_excursions"] += 1
        for key in list(out):
            batches = {b for b, w in log.excursions if self.inside(w) and self.key(b) == key}
            out[key]["excursion_batches"] = len(batches)
        households: dict[str | None, set[str]] = defaultdict(set)
        for batch, when, quantity, unit, _channel in log.sales.values():
            if not self.inside(when):
                continue
            row = out[self.key(batch)]
            poor = set(log.batches[batch].producers) & POVERTY
            households[self.key(batch)] |= poor
            for prefix in ("sales", "poverty_sales") if poor else ("sales",):
                row[prefix] += 1
                for dim, suffix in (("mass", "_kg"), ("volume", "_l"), ("count", "_units")):
                    row[prefix + suffix] += in_base(quantity, unit, dim) or 0
        for key, seen in households.items():
            out[key]["poverty_households_selling"] = len(seen)
        for row in out.values():
            row["pass_rate"] = ratio(row["lab_passed"], row["lab_tests"])
            row["share_within_24h"] = ratio(row["delivered_within_24h"], row["shipments"])
        return out


def compare(figures: Figures, expected: dict[str, Any], where: str) -> None:
    for f in FIGURES:
        got = figures.value(f.name)
        want = expected.get(f.name, 0)
        if f.kind in ("ratio", "hours"):
            want = expected.get(f.name)
        elif f.kind == "quantity":
            want = Decimal(want).quantize(Decimal("0.001"))
        if f.kind == "hours" and want is not None and got is not None:
            assert abs(got - want) <= Decimal("0.001"), f"{where} {f.name}: got {got}, expected {want}"
        else:
            assert got == want, f"{where} {f.name}: got {got!r}, expected {want!r}"


def assert_report(report: Report, log: Log) -> None:
    expected = Expected(log, report.period, report.scope).figures()
    county = Expected(log, report.period, Scope.COUNTY).figures().get("county", {})
    compare(report.county, county, f"{report.period.label} county")
    if report.scope is Scope.COUNTY:
        return
    rows = {r.member.key: r.figures for r in report.rows}
    assert set(expected) <= set(rows), f"rows missing: {set(expected) - set(rows)}"
    for key, figures in rows.items():
        compare(figures, expected.get(key, {}), f"{report.period.label} {report.scope.value} {key}")


@pytest.fixture
def season(county: TraceEnv) -> Log:
    return make_season(county)


PERIODS = (
    month(2026, 9),
    month(2026, 8),
    day(date(2026, 9, 1)),
    day(date(2026, 8, 31)),
    year(2026),
    custom(date(2026, 9, 10), date(2026, 10, 24)),
)


def test_every_figure_matches_the_generation_log(county: TraceEnv, season: Log) -> None:
    log = season
    # The season is not trivial: every group of figures has something to count.
    yearly = Expected(log, year(2026), Scope.COUNTY).figures()["county"]
    for name in (
        "batches_registered",
        "batches_derived",
        "items_coded",
        "items_voided",
        "scans",
        "complaints",
        "lab_failed",
        "recalls_issued",
        "recalls_lifted",
        "shipments",
        "cold_chain_excursions",
        "poverty_sales",
        "sales_units",
        "sales_l",
    ):
        assert yearly.get(name), f"the generated season has no {name}"
    assert yearly["shipments"] < len(log.deliveries), (
        "some deliveries must not count (town centre, village pickup)"
    )
    session = county.session
    for period in PERIODS:
        assert_report(build_report(session, period, Scope.COUNTY), log)
    for scope in (Scope.TOWN, Scope.COOP, Scope.PRODUCT):
        for period in (month(2026, 9), year(2026)):
            assert_report(build_report(session, period, scope), log)


def test_side_tables_exports_and_feed(county: TraceEnv, season: Log, tmp_path) -> None:
    # One season for all of these: building it is most of the test's time.
    side_tables_and_public_view(county, season)
    xlsx_csv_and_json_exports(county, season, tmp_path)
    feed_document_is_public_and_versioned(county, season)


def side_tables_and_public_view(county: TraceEnv, season: Log) -> None:
    log = season
    report = build_report(county.session, year(2026), Scope.TOWN, include_personal=True)
    failures: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for batch, _when, _verdict, failed in log.labs:
        for analyte in failed:
            failures[analyte].add(batch)
            counts[analyte] += 1
    assert {(a.analyte, a.failures, a.batches) for a in report.failures_by_analyte} == {
        (a, counts[a], len(b)) for a, b in failures.items()
    }
    channels: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0), Decimal(0)])
    for _batch, _when, quantity, unit, channel in log.sales.values():
        channels[channel][0] += 1
        for i, dim in enumerate(("mass", "volume", "count"), start=1):
            channels[channel][i] += in_base(quantity, unit, dim) or 0
    assert {c.channel: [c.sales, c.kg, c.litres, c.units] for c in report.sales_by_channel} == {
        k: [v[0], *(Decimal(x).quantize(Decimal("0.001")) for x in v[1:])] for k, v in channels.items()
    }
    assert report.complaints_by_type == (("quality", len(log.complaints)),)
    assert report.personal_data
    assert report.complaint_records is not None and {c.phone for c in report.complaint_records} == {PHONE}
    assert report.households is not None and {h.household for h in report.households} <= POVERTY

    public = report.public()
    assert not public.personal_data and public.households is None and public.complaint_records is None
    selling = report.county.poverty_households_selling
    assert selling is not None and 0 < selling < 3, "the season has one or two poverty households selling"
    assert public.county.poverty_sales is None and public.county.poverty_households_selling is None
    assert public.county.sales == report.county.sales


def xlsx_csv_and_json_exports(county: TraceEnv, season: Log, tmp_path) -> None:
    report = build_report(county.session, month(2026, 9), Scope.PRODUCT, include_personal=True)
    path = tmp_path / "report.xlsx"
    path.write_bytes(export.xlsx_bytes(report))
    book = load_workbook(path, read_only=True)
    assert book.sheetnames[:2] == ["说明", "汇总"]
    about = list(book["说明"].iter_rows(values_only=True))
    assert about[0][0] == export.PERSONAL_DATA, "an export with personal data says so on its first row"
    head, *rows = list(book["汇总"].iter_rows(values_only=True))
    assert head[:2] == ("编号", "产品")
    assert "登记数量（质量）（千克）" in head and "扫码次数（次）" in head and "检测合格率（%）" in head
    assert "配送时长中位数（小时）" in head and "其中建档立卡户产品销售（笔）" in head
    column = {name: i for i, name in enumerate(head)}
    total = rows[-1]
    assert total[:2] == ("county", "全县合计")
    assert total[column["扫码次数（次）"]] == report.county.scans
    assert Decimal(str(total[column["销售数量（质量）（千克）"]])) == report.county.sales_kg
    if report.county.pass_rate is not None:
        assert Decimal(str(total[column["检测合格率（%）"]])) == (report.county.pass_rate * 100).quantize(
            Decimal("0.01")
        )
    by_key = {r.member.key: r.figures for r in report.rows}
    for row in rows[:-1]:
        assert row[column["登记批次（批）"]] == by_key[row[0]].batches_registered
    personal = [name for name in book.sheetnames if name.startswith("个人信息")]
    assert personal == ["个人信息-建档立卡户销售", "个人信息-投诉记录"]
    complaint_rows = list(book["个人信息-投诉记录"].iter_rows(values_only=True))
    assert complaint_rows[0][0] == export.PERSONAL_DATA
    assert PHONE in {r[-1] for r in complaint_rows[2:]}

    public = report.public()
    public_book = load_workbook(io.BytesIO(export.xlsx_bytes(public)), read_only=True)
    assert not [n for n in public_book.sheetnames if n.startswith("个人信息")]
    assert next(public_book["说明"].iter_rows(values_only=True))[0] == export.NO_PERSONAL_DATA
    cells = {str(c) for sheet in public_book for row in sheet.iter_rows(values_only=True) for c in row}
    assert PHONE not in cells and "王家" not in cells

    text = export.csv_bytes(public).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [export.NO_PERSONAL_DATA]
    assert lines[2][:3] == ["编号", "产品", "登记批次（批）"]
    assert PHONE not in text and "李家" not in text

    document = export.report_document(report)
    assert document["version"] == "1" and document["personal_data"] is True
    assert document["county"]["scans"] == report.county.scans
    assert document["county"]["sales_kg"] == str(report.county.sales_kg)


def feed_document_is_public_and_versioned(county: TraceEnv, season: Log) -> None:
    document = feed.feed_document(county.session, "monthly", "2026-09", now=datetime(2026, 10, 1, tzinfo=UTC))
    assert document["version"] == "1" and document["kind"] == "monthly"
    assert document["period"] == {
        "type": "month",
        "label": "2026-09",
        "start": "2026-09-01T00:00:00+08:00",
        "end": "2026-10-01T00:00:00+08:00",
        "timezone": "Asia/Shanghai",
    }
    expected = Expected(season, month(2026, 9), Scope.COUNTY).figures()["county"]
    assert document["county"]["batches_registered"] == expected["batches_registered"]
    assert document["county"]["poverty_sales"] is None, "one or two households: withheld"
    assert {t["id"] for t in document["towns"]} >= {"wuhua.hengpi", "wuhua.changbu"}
    assert {p["id"] for p in document["products"]} == set(PRODUCTS)
    text = json.dumps(document, ensure_ascii=False)
    assert PHONE not in text and "王家" not in text and "household-" not in text
    with pytest.raises(InvalidInput, match=r"kind: expected one of daily, monthly, annual, found 'weekly'"):
        feed.feed_document(county.session, "weekly", "2026")


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("month", "2026-13", "date: '2026-13' is not a real month"),
        ("month", "2026-9", "date: expected YYYY-MM like 2026-09 for a month, found '2026-9'"),
        ("day", "2026-02-30", "date: '2026-02-30' is not a real day"),
        ("year", "２０２６", "date: expected YYYY like 2026 for a year, found '２０２６'"),
        ("custom", "2026-09-10..2026-09-10", "to: expected a day after from (2026-09-10), found 2026-09-10"),
        (
            "custom",
            "2026-09-10",
            "date: expected FROM..TO like 2026-09-01..2026-09-15 (TO excluded), found '2026-09-10'",
        ),
        ("week", "2026-09", "period: expected one of day, month, year, custom, found 'week'"),
    ],
)
def test_bad_periods_are_refused_with_their_reason(kind: str, text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_period(kind, text)
    assert caught.value.message == message


def test_period_bounds_are_county_days() -> None:
    september = parse_period("month", "2026-09")
    assert september.utc_bounds() == (
        datetime(2026, 8, 31, 16, tzinfo=UTC),
        datetime(2026, 9, 30, 16, tzinfo=UTC),
    )
    assert parse_period("custom", "2026-09-01..2026-09-15").days == 14
    assert parse_period("year", "2026").previous() == year(2025)
    assert month(2026, 1).previous() == month(2025, 12)
