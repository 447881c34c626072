"""EventRecorder.record_many against record() one by one: for random sequences of valid
and invalid events (and retries, and ids reused for other content) both give the same
answers, refuse the same items with the same errors, store the same entry bytes and build
the same projections. On the engine under test (SQLite, or PostgreSQL when set).

Each example runs both ways from the same committed starting point, each in a savepoint
that is rolled back, with the clock stopped so recorded times agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from trace_env import CST, OPERATOR, PDF, TraceEnv

from farmtrace.ledger.errors import IdempotencyConflict, KeyNotUsable, LedgerError
from farmtrace.ledger.models import EntryRow, Unsequenced
from farmtrace.trace.documents import store_document
from farmtrace.trace.errors import NotFound, RuleViolation, SchemaInvalid, TraceError
from farmtrace.trace.projections import rebuild_projections, snapshot
from farmtrace.trace.recorder_bulk import EventInput, ItemRefused

REGISTERED = datetime(2026, 5, 1, 8, 0, tzinfo=CST)
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=CST)
# Repeats weight the draws: most events are by the one who may record them, on a real
# batch, at a valid time; custody moves are rarer (after one the owner may record less).
ACTORS = ("coop-hengpi", "carrier-sf", "lab-meizhou", "shop-wuhua", OPERATOR)
BY = {"lab.tested": "lab-meizhou", "conformity.decided": OPERATOR}
COMMON = ("farming.harvested",) * 3 + ("farming.input", "processing.recorded", "logistics.temperature") * 2


class StoppedClock:
    def __init__(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(county: TraceEnv) -> Iterator[dict[str, Any]]:
    t = county.trace
    county.at("2026-05-01 08:30")
    t.products.register("coop-hengpi", {"id": "plum", "name_zh": "三华李", "category": "fruit", "unit": "kg"})
    batches = [
        t.batches.register(
            "coop-hengpi",
            {"product": "plum", "unit": "kg", "lot": f"P-{n}", "quantity": "300"},
            event_time=REGISTERED,
            client_id=f"reg-{n}",
        ).batch
        for n in range(2)
    ]
    report = store_document(t.ctx, PDF, "application/pdf", filename="r.pdf", uploaded_by="lab-meizhou")
    county.session.commit()
    county.keystore.ledger.clock = StoppedClock(NOW.astimezone(county.clock.now.tzinfo))
    yield {"env": county, "batches": batches, "report": report}


def _payloads(report: str) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    kg = st.sampled_from(["1", "20", "150", "400"])
    reading = st.fixed_dictionaries(
        {
            "time": st.sampled_from(["2026-05-19T08:00:00+08:00"] * 3 + ["2026-04-01T08:00:00+08:00"]),
            "celsius": st.sampled_from(["4", "12", "30"]),
        }
    )
    result = {
        "analyte": "毒死蜱",
        "method": "NY/T 761-2008",
        "value": "0.5",
        "limit": "0.05",
        "unit": "mg/kg",
    }
    return {
        "farming.harvested": st.fixed_dictionaries({"quantity": kg, "unit": st.sampled_from(["kg", "t"])}),
        "farming.input": st.one_of(
            st.fixed_dictionaries(
                {
                    "kind": st.just("pesticide"),
                    "product_name": st.just("吡虫啉"),
                    "registration_number": st.just("PD20080123"),
                    "active_ingredient": st.just("imidacloprid"),
                    "dose": st.sampled_from(["10", "-3"]),  # -3: refused by the schema
                    "dose_unit": st.just("mL/mu"),
                    "pre_harvest_interval_days": st.sampled_from([0, 7, 30]),
                }
            ),
            st.fixed_dictionaries(
                {
                    "kind": st.just("fertiliser"),
                    "product_name": st.just("有机肥"),
                    "dose": st.just("300"),
                    "dose_unit": st.just("kg/mu"),
                    "place": st.sampled_from(["field-a", "no-such-place"]),
                }
            ),
        ),
        "processing.recorded": st.fixed_dictionaries(
            {"step": st.just("washing"), "loss_quantity": kg, "loss_unit": st.just("kg")}
        ),
        "sale.recorded": st.fixed_dictionaries(
            {
                "channel": st.just("market"),
                "order_reference": st.just("M-1"),
                "quantity": kg,
                "unit": st.just("kg"),
            }
        ),
        "logistics.picked_up": st.fixed_dictionaries(
            {"carrier": st.sampled_from(["carrier-sf", "shop-wuhua"]), "place": st.just("field-a")}
        ),
        "logistics.handed_off": st.fixed_dictionaries(
            {"to": st.sampled_from(["coop-hengpi", "carrier-sf"]), "place": st.just("county-warehouse")}
        ),
        "logistics.warehouse_in": st.fixed_dictionaries(
            {"place": st.sampled_from(["county-warehouse", "field-a"])}
        ),
        "logistics.temperature": st.fixed_dictionaries(
            {
                "min_celsius": st.just("2"),
                "max_celsius": st.just("15"),
                "readings": st.lists(reading, min_size=1, max_size=2),
            }
        ),
        "lab.tested": st.fixed_dictionaries(
            {
                "sample_id": st.just("S-1"),
                "report_sha256": st.sampled_from([report, "a" * 64]),
                "verdict": st.just("fail"),
                "results": st.just([{**result, "verdict": "fail"}]),
            }
        ),
        "conformity.decided": st.fixed_dictionaries(
            {"decision": st.just("conformant"), "reason": st.just("复检合格")}
        ),
    }


@st.composite
def events(draw: st.DrawFn, world: dict[str, Any]) -> EventInput:
    payloads = _payloads(world["report"])
    kind = draw(st.sampled_from([*COMMON, "sale.recorded", *sorted(payloads)]))
    batch = draw(st.sampled_from([*world["batches"] * 4, "B000000000000"]))
    when = draw(
        st.sampled_from(
            [
                *[None] * 4,
                NOW - timedelta(days=2),
                NOW - timedelta(hours=5),
                NOW - timedelta(hours=1),
                REGISTERED - timedelta(days=1),  # before the batch: refused
                NOW + timedelta(days=1),  # in the future: refused
            ]
        )
    )
    # A small pool of ids: reuse is a retry (same content) or a conflict (other content).
    client_id = draw(st.sampled_from([*[None] * 8, "bad id!", *(f"c{n}" for n in range(4))]))
    if client_id is None:
        client_id = f"u{draw(st.integers(0, 10**9))}"  # unique: new entries' ids must match across arms
    actor = draw(st.sampled_from([BY.get(kind, "coop-hengpi")] * 6 + list(ACTORS)))
    return EventInput(batch, kind, draw(payloads[kind]), actor, when, client_id)


def _one_by_one(env: TraceEnv, items: list[EventInput]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in items:
        try:
            result = env.trace.events.record(
                item.batch,
                item.type,
                item.payload,
                actor=item.actor,
                event_time=item.event_time,
                client_id=item.client_id,
            )
        except (TraceError, LedgerError) as exc:
            out.append(("refused", type(exc).__name__, str(exc)))
        else:
            out.append(("recorded", result.to_json()))
    return out


def _in_bulk(env: TraceEnv, items: list[EventInput]) -> list[tuple[Any, ...]]:
    """record_many over the items, dropping each refused item and calling again (all or none
    means nothing of a refused call was kept)."""
    out: dict[int, tuple[Any, ...]] = {}
    remaining = list(range(len(items)))
    while True:
        try:
            results = env.trace.events.record_many([items[i] for i in remaining])
        except ItemRefused as refused:
            index = remaining.pop(refused.index)
            assert str(refused) == f"items[{refused.index}]: {refused.cause}"
            out[index] = ("refused", type(refused.cause).__name__, str(refused.cause))
            continue
        for index, result in zip(remaining, results, strict=True):
            out[index] = ("recorded", result.to_json())
        return [out[i] for i in range(len(items))]


def _record(env: TraceEnv) -> dict[str, Any]:
    rows = env.session.execute(
        select(EntryRow.batch, EntryRow.seq, EntryRow.canonical, EntryRow.signature).order_by(
            EntryRow.batch, EntryRow.seq
        )
    ).all()
    queued = env.session.scalars(select(Unsequenced.entry_id)).all()
    return {
        "entries": [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows],
        "queued": len(queued),
        "projections": snapshot(env.session),
    }


def _run(env: TraceEnv, history: list[EventInput], items: list[EventInput], bulk: bool) -> dict[str, Any]:
    savepoint = env.session.begin_nested()
    try:
        _one_by_one(env, history)
        answers = _in_bulk(env, items) if bulk else _one_by_one(env, items)
        env.session.flush()
        return {"answers": answers, **_record(env)}
    finally:
        savepoint.rollback()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_record_many_answers_and_stores_exactly_what_one_by_one_does(
    world: dict[str, Any], data: st.DataObject
) -> None:
    history = data.draw(st.lists(events(world), max_size=4), label="history")
    items = data.draw(st.lists(events(world), min_size=1, max_size=14), label="items")
    # Retries: copies of earlier events (without their time, which then means the first one).
    for _ in range(data.draw(st.integers(0, 3), label="retries")):
        source = data.draw(st.sampled_from(history + items), label="retried")
        if data.draw(st.booleans(), label="without time"):
            source = replace(source, event_time=None)
        items.insert(data.draw(st.integers(0, len(items)), label="at"), source)
    env = world["env"]
    one = _run(env, history, items, bulk=False)
    many = _run(env, history, items, bulk=True)
    assert many["answers"] == one["answers"]
    recorded = [a for a in one["answers"] if a[0] == "recorded"]
    # Seen with --hypothesis-show-statistics: how much each example exercises.
    event(f"recorded {'5 or more' if len(recorded) >= 5 else len(recorded)}")
    event(f"retries {sum(1 for a in recorded if not a[1]['created'])}")
    event(f"flags {sum(len(a[1]['flags']) for a in recorded)}")
    for answer in one["answers"]:
        if answer[0] == "refused":
            event(f"refused: {answer[1]} {getattr(answer, 'rule', '')}{answer[2].split(':')[0]}")
    assert many["entries"] == one["entries"]
    assert many["queued"] == one["queued"]
    assert many["projections"] == one["projections"]


def _harvest(batch: str, client_id: str | None, quantity: str = "10", **extra: Any) -> EventInput:
    return EventInput(
        batch,
        "farming.harvested",
        {"quantity": quantity, "unit": "kg"},
        "coop-hengpi",
        extra.get("event_time"),
        client_id,
    )


def test_a_retried_bulk_records_nothing_and_returns_the_first_answers(world: dict[str, Any]) -> None:
    env, (a, b) = world["env"], world["batches"]
    items = [_harvest(a, "h1"), _harvest(b, "h2", "20"), _harvest(a, "h3", "30")]
    first = env.trace.events.record_many(items)
    env.session.commit()
    assert [r.created for r in first] == [True, True, True]
    assert [(r.batch, r.seq) for r in first] == [(a, 1), (b, 1), (a, 2)]
    before = _record(env)
    # The same items again (a client that lost the answer), with one new item among them.
    again = env.trace.events.record_many([*items[:2], _harvest(b, "h4", "40"), items[2]])
    env.session.commit()
    assert [r.created for r in again] == [False, False, True, False]
    assert [r.hash for r in again[:2]] + [again[3].hash] == [r.hash for r in first]
    assert [r.entry for r in again[:2]] == [r.entry for r in first[:2]]
    assert again[2].seq == 2 and again[0].flags == ()
    after = _record(env)
    assert len(after["entries"]) == len(before["entries"]) + 1
    # A retry without an event time keeps the first time, as record() does.
    env.keystore.ledger.clock.now += timedelta(hours=1)
    retried = env.trace.events.record_many([_harvest(a, "h1")])
    assert retried[0].created is False and retried[0].entry == first[0].entry
    assert env.trace.events.record_many([]) == []


def test_an_id_used_twice_in_one_bulk_is_a_retry_of_the_first_or_a_conflict(world: dict[str, Any]) -> None:
    env, (a, _b) = world["env"], world["batches"]
    results = env.trace.events.record_many([_harvest(a, "x"), _harvest(a, "y"), _harvest(a, "x")])
    assert [r.created for r in results] == [True, True, False]
    assert results[2].hash == results[0].hash and results[2].seq == 1
    with pytest.raises(ItemRefused) as caught:
        env.trace.events.record_many([_harvest(a, "p"), _harvest(a, "p", "11")])
    assert caught.value.index == 1
    assert isinstance(caught.value.cause, IdempotencyConflict)
    assert str(caught.value.cause) == (
        "entry.id: 'p' was already used for a different entry (payload differs); use a new id for new content"
    )


def test_a_refusal_in_the_middle_keeps_nothing(world: dict[str, Any]) -> None:
    env, (a, b) = world["env"], world["batches"]
    before = _record(env)
    sale = EventInput(
        a,
        "sale.recorded",
        {"channel": "market", "order_reference": "M", "quantity": "310", "unit": "kg"},
        "coop-hengpi",
    )
    items = [_harvest(b, "ok-1"), _harvest(a, "ok-2", "5"), sale, _harvest(a, "ok-3")]
    with pytest.raises(ItemRefused) as caught:
        env.trace.events.record_many(items)
    assert caught.value.index == 2
    assert isinstance(caught.value.cause, RuleViolation) and caught.value.cause.rule == "quantity_exceeded"
    # 300 registered + 5 harvested earlier in the same bulk = 305: the running state, not the stored one.
    assert "305 kg in" in caught.value.cause.message
    env.session.flush()
    assert _record(env) == before
    with pytest.raises(ItemRefused) as caught:
        env.trace.events.record_many([_harvest(a, "z"), _harvest("B000000000000", "n")])
    assert caught.value.index == 1 and isinstance(caught.value.cause, NotFound)
    assert caught.value.cause.message == "batch: no batch 'B000000000000'"
    with pytest.raises(ItemRefused) as caught:
        env.trace.events.record_many([_harvest(a, "bad", "-1")])
    assert isinstance(caught.value.cause, SchemaInvalid)
    assert _record(env) == before


def test_a_key_the_ledger_refuses_is_reported_at_the_item_one_by_one_would_be(
    world: dict[str, Any],
) -> None:
    """A server clock behind the organisation's newest key: the ledger refuses the key for
    every entry; the bulk names the first new item, as recording one by one would."""
    env, (a, _b) = world["env"], world["batches"]
    clock = env.keystore.ledger.clock
    env.clock.set(clock.now.astimezone(env.clock.now.tzinfo) + timedelta(days=1))
    env.keystore.ledger.clock = env.clock
    env.keystore.create_org_key("coop-hengpi")  # valid from a day after the stopped clock
    env.keystore.ledger.clock = clock
    items = [_harvest(a, "h1", event_time=NOW - timedelta(hours=1)), _harvest(a, "h2")]
    one = _run(env, [], items, bulk=False)
    assert one["answers"][0][:2] == ("refused", "KeyNotUsable")
    with pytest.raises(ItemRefused) as caught:
        env.trace.events.record_many(items)
    assert caught.value.index == 0 and isinstance(caught.value.cause, KeyNotUsable)
    assert str(caught.value.cause) == one["answers"][0][2]


def test_the_projections_of_a_bulk_equal_a_rebuild(world: dict[str, Any]) -> None:
    env, (a, b) = world["env"], world["batches"]
    temperature = {
        "min_celsius": "2",
        "max_celsius": "8",
        "readings": [{"time": "2026-05-19T08:00:00+08:00", "celsius": "12"}],
    }
    results = env.trace.events.record_many(
        [
            _harvest(a, "h"),
            EventInput(a, "logistics.temperature", temperature, "coop-hengpi", None, "t"),
            EventInput(b, "logistics.temperature", temperature, "coop-hengpi", None, "t2"),
        ]
    )
    assert results[1].flags == (
        "1 of 1 readings outside 2 to 8 °C; the worst 12 °C at 2026-05-19T08:00:00+08:00",
    )
    env.session.flush()
    incremental = snapshot(env.session)
    rebuild_projections(env.session)
    assert snapshot(env.session) == incremental
