"""What a batch's chain means: a pure fold of its entries into a BatchState.

`replay(events)` applies every entry in chain order, with corrections substituted for the
payloads they restate; `apply(state, event)` applies one more. Neither checks rules (that is
trace.rules, before an entry is appended) and neither touches the database (that is
trace.projections). Flags are computed here because they are meaning, not refusal: a
harvest inside a pre-harvest interval is recorded, and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from farmtrace.ledger.append import StoredEntry
from farmtrace.ledger.encoding import b64decode
from farmtrace.trace.events import types as t
from farmtrace.trace.text import format_decimal
from farmtrace.trace.units import convert

PHI_FLAG = "pre_harvest_interval"
LAB_FAILED_FLAG = "lab_failed"
EXCURSION_FLAG = "temperature_excursion"


@dataclass(frozen=True)
class Event:
    """One ledger entry of a batch chain, as the fold reads it."""

    batch: str
    seq: int
    type: str
    author: str
    event_time: datetime
    recorded_at: datetime
    payload: dict[str, Any]
    hash: bytes
    amends: bytes | None = None

    @classmethod
    def from_stored(cls, stored: StoredEntry) -> Event:
        entry = stored.entry
        amends = entry.fields.get("amends")
        return cls(
            batch=entry.batch,
            seq=entry.seq,
            type=entry.type,
            author=entry.author,
            event_time=entry.event_time,
            recorded_at=entry.recorded_at,
            payload=entry.payload,
            hash=entry.hash,
            amends=None if amends is None else b64decode(amends, "amends"),
        )


@dataclass
class Flag:
    seq: int
    idx: int
    kind: str
    message: str
    event_time: datetime


@dataclass
class Certificate:
    seq: int
    scheme: str
    number: str
    issuer: str
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


@dataclass
class LabResult:
    seq: int
    lab: str
    sample_id: str
    verdict: str
    report_sha256: str
    tested_at: datetime
    results: list[dict[str, Any]]


@dataclass
class RecallInfo:
    recall_id: str
    origin: str
    level: int
    reason: str
    issued_by: str
    issued_at: datetime
    issue_seq: int
    lifted_at: datetime | None = None
    lift_seq: int | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


@dataclass
class Edge:
    """An input named by this batch's registration: `quantity` and `unit` as recorded in
    `lineage.inputs` (a split: this output's part; a merge: what left the input; a
    transform: what the operation took from the input in all). `share` is how much of the
    input went into this batch when this chain says it (a split, a merge, a transform with
    stated `lineage.shares`); None for a transform without shares, where it depends on how
    many outputs the operation made (trace.projections resolves that from the input's chain).
    """

    parent: str
    kind: str
    operation: str
    quantity: Decimal
    unit: str
    share: Decimal | None = None
    share_unit: str | None = None


@dataclass
class Take:
    """What left this batch in a lineage operation (a lineage.* entry on its chain)."""

    seq: int
    operation: str
    kind: str  # split, merge, transform
    quantity: Decimal
    unit: str
    outputs: tuple[str, ...]


@dataclass
class BatchState:
    id: str
    product: str
    lot: str
    owner: str
    producers: tuple[str, ...]
    origin_place: str | None
    origin: str  # registered, split, merge, transform
    unit: str
    production_date: date | None
    registered_at: datetime
    custodian: str
    location: str | None
    quantity_in: Decimal
    quantity_out: Decimal = Decimal(0)
    packed_packages: int = 0
    conformity: str = "untested"
    in_warehouse: str | None = None
    inputs: list[Edge] = field(default_factory=list)
    takes: list[Take] = field(default_factory=list)
    recalls: dict[str, RecallInfo] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    lab_tests: list[LabResult] = field(default_factory=list)
    pesticides: list[tuple[int, datetime, int, str]] = field(default_factory=list)
    harvests: list[tuple[int, datetime]] = field(default_factory=list)
    corrections: list[int] = field(default_factory=list)
    head_seq: int = 0

    @property
    def available(self) -> Decimal:
        return self.quantity_in - self.quantity_out

    @property
    def recalled(self) -> bool:
        return any(recall.active for recall in self.recalls.values())

    def active_recall(self) -> RecallInfo | None:
        return next((r for r in self.recalls.values() if r.active), None)

    def quantity(self, amount: str, unit: str, field_name: str = "payload.unit") -> Decimal:
        return convert(field_name, Decimal(amount), unit, self.unit)


def effective_payloads(events: list[Event]) -> dict[bytes, dict[str, Any]]:
    """Entry hash -> the payload its latest correction restates."""
    corrected: dict[bytes, dict[str, Any]] = {}
    for event in events:
        if event.type == t.CORRECTED and event.amends is not None:
            corrected[event.amends] = event.payload["payload"]
    return corrected


def replay(events: list[Event]) -> BatchState:
    """The state of a batch after all of `events` (its whole chain, in order)."""
    if not events or events[0].type != t.BATCH_REGISTERED:
        raise ValueError("a batch chain starts with batch.registered")
    corrected = effective_payloads(events)
    state = registered(events[0])
    for event in events[1:]:
        payload = corrected.get(event.hash)
        apply(state, event if payload is None else _with_payload(event, payload))
    return state


def _with_payload(event: Event, payload: dict[str, Any]) -> Event:
    return Event(
        event.batch,
        event.seq,
        event.type,
        event.author,
        event.event_time,
        event.recorded_at,
        payload,
        event.hash,
        event.amends,
    )


def registered(event: Event) -> BatchState:
    p = event.payload
    lineage = p.get("lineage")
    state = BatchState(
        id=event.batch,
        product=p["product"],
        lot=p["lot"],
        owner=event.author,
        producers=tuple(p.get("producers", ())),
        origin_place=p.get("origin_place"),
        origin="registered" if lineage is None else lineage["kind"],
        unit=p["unit"],
        production_date=None if "production_date" not in p else date.fromisoformat(p["production_date"]),
        registered_at=event.event_time,
        custodian=event.author,
        location=p.get("origin_place"),
        quantity_in=Decimal(p.get("quantity", "0")),
    )
    if lineage is not None:
        state.conformity = lineage["conformity"]
        shares = {item["batch"]: item for item in lineage.get("shares", ())}
        for item in lineage["inputs"]:
            edge = Edge(
                item["batch"], lineage["kind"], lineage["operation"], Decimal(item["quantity"]), item["unit"]
            )
            share = shares.get(item["batch"]) if lineage["kind"] == "transform" else item
            if share is not None:
                edge.share, edge.share_unit = Decimal(share["quantity"]), share["unit"]
            state.inputs.append(edge)
    return state


def apply(state: BatchState, event: Event) -> None:
    """Apply one entry (seq > 0) to `state`."""
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event)
    state.head_seq = event.seq


def _flag(state: BatchState, event: Event, kind: str, message: str) -> None:
    idx = sum(1 for f in state.flags if f.seq == event.seq)
    state.flags.append(Flag(event.seq, idx, kind, message, event.event_time))


def _farming_input(state: BatchState, event: Event) -> None:
    p = event.payload
    if p["kind"] != "pesticide":
        return
    applied = (event.seq, event.event_time, p["pre_harvest_interval_days"], p["product_name"])
    state.pesticides.append(applied)
    # Recorded after a harvest it preceded (late data entry): the harvest is inside the interval all the same.
    for _seq, harvested in state.harvests:
        _check_interval(state, event, applied, harvested)


def _harvested(state: BatchState, event: Event) -> None:
    p = event.payload
    state.quantity_in += state.quantity(p["quantity"], p["unit"])
    state.harvests.append((event.seq, event.event_time))
    if p.get("place"):
        state.location = p["place"]
    for applied in state.pesticides:
        _check_interval(state, event, applied, event.event_time)


def _check_interval(
    state: BatchState, event: Event, applied: tuple[int, datetime, int, str], harvested: datetime
) -> None:
    _seq, when, interval, name = applied
    if when <= harvested < when + timedelta(days=interval):
        days = (harvested - when).days
        _flag(
            state,
            event,
            PHI_FLAG,
            f"harvest on {harvested.date().isoformat()} is {days} days after {name} was applied on "
            f"{when.date().isoformat()}; its pre-harvest interval is {interval} days",
        )


def _processed(state: BatchState, event: Event) -> None:
    p = event.payload
    if "loss_quantity" in p:
        state.quantity_out += state.quantity(p["loss_quantity"], p["loss_unit"], "payload.loss_unit")
    if p.get("place"):
        state.location = p["place"]


def _lab_tested(state: BatchState, event: Event) -> None:
    p = event.payload
    state.lab_tests.append(
        LabResult(
            event.seq,
            event.author,
            p["sample_id"],
            p["verdict"],
            p["report_sha256"],
            event.event_time,
            p["results"],
        )
    )
    if p["verdict"] == "pass":
        state.conformity = "conformant"
        return
    state.conformity = "non_conformant"
    failed = [r for r in p["results"] if r["verdict"] == "fail"]
    first = failed[0]
    detail = f"{first['analyte']} {first['value']} {first['unit']}"
    if "limit" in first:
        detail += f" (limit {first['limit']} {first['unit']})"
    more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
    _flag(
        state, event, LAB_FAILED_FLAG, f"lab test {p['sample_id']} by {event.author} failed: {detail}{more}"
    )


def _certified(state: BatchState, event: Event) -> None:
    p = event.payload
    state.certificates.append(
        Certificate(
            event.seq,
            p["scheme"],
            p["certificate_number"],
            p["issuer"],
            date.fromisoformat(p["valid_from"]),
            date.fromisoformat(p["valid_until"]),
        )
    )


def _conformity(state: BatchState, event: Event) -> None:
    state.conformity = event.payload["decision"]


def _packed(state: BatchState, event: Event) -> None:
    state.packed_packages += event.payload["packages"]
    if event.payload.get("place"):
        state.location = event.payload["place"]


def _picked_up(state: BatchState, event: Event) -> None:
    state.custodian = event.payload["carrier"]
    state.location = event.payload["place"]
    state.in_warehouse = None


def _warehouse_in(state: BatchState, event: Event) -> None:
    state.location = state.in_warehouse = event.payload["place"]


def _warehouse_out(state: BatchState, event: Event) -> None:
    state.location = event.payload["place"]
    state.in_warehouse = None


def _handed_off(state: BatchState, event: Event) -> None:
    state.custodian = event.payload["to"]
    if event.payload["place"] != state.in_warehouse:
        state.in_warehouse = None
    state.location = event.payload["place"]


def _delivered(state: BatchState, event: Event) -> None:
    state.custodian = event.payload["station"]
    state.location = event.payload["place"]
    state.in_warehouse = None


def _temperature(state: BatchState, event: Event) -> None:
    p = event.payload
    low, high = Decimal(p["min_celsius"]), Decimal(p["max_celsius"])
    outside = [r for r in p["readings"] if not low <= Decimal(r["celsius"]) <= high]
    if p.get("place"):
        state.location = p["place"]
    if not outside:
        return
    worst = max(outside, key=lambda r: max(low - Decimal(r["celsius"]), Decimal(r["celsius"]) - high))
    _flag(
        state,
        event,
        EXCURSION_FLAG,
        f"{len(outside)} of {len(p['readings'])} readings outside {format_decimal(low)} to "
        f"{format_decimal(high)} °C; the worst {worst['celsius']} °C at {worst['time']}",
    )


def _sold(state: BatchState, event: Event) -> None:
    state.quantity_out += state.quantity(event.payload["quantity"], event.payload["unit"])


def _lineage_out(state: BatchState, event: Event) -> None:
    p = event.payload
    state.quantity_out += state.quantity(p["quantity"], p["unit"])
    kind = t.LINEAGE_KIND_OF_OUT[event.type]
    state.takes.append(
        Take(event.seq, p["operation"], kind, Decimal(p["quantity"]), p["unit"], tuple(p["outputs"]))
    )


def _recall_issued(state: BatchState, event: Event) -> None:
    p = event.payload
    state.recalls[p["recall_id"]] = RecallInfo(
        p["recall_id"], p["origin"], p["level"], p["reason"], event.author, event.event_time, event.seq
    )


def _recall_lifted(state: BatchState, event: Event) -> None:
    recall = state.recalls.get(event.payload["recall_id"])
    if recall is not None:
        recall.lifted_at = event.event_time
        recall.lift_seq = event.seq


def _corrected(state: BatchState, event: Event) -> None:
    state.corrections.append(event.seq)


_HANDLERS = {
    t.FARMING_INPUT: _farming_input,
    t.HARVESTED: _harvested,
    t.PROCESSED: _processed,
    t.LAB_TESTED: _lab_tested,
    t.CERTIFICATION_ATTACHED: _certified,
    t.CONFORMITY_DECIDED: _conformity,
    t.PACKED: _packed,
    t.PICKED_UP: _picked_up,
    t.WAREHOUSE_IN: _warehouse_in,
    t.WAREHOUSE_OUT: _warehouse_out,
    t.HANDED_OFF: _handed_off,
    t.DELIVERED: _delivered,
    t.TEMPERATURE: _temperature,
    t.SOLD: _sold,
    t.SPLIT_OUT: _lineage_out,
    t.MERGED_OUT: _lineage_out,
    t.TRANSFORMED_OUT: _lineage_out,
    t.RECALL_ISSUED: _recall_issued,
    t.RECALL_LIFTED: _recall_lifted,
    t.CORRECTED: _corrected,
}
