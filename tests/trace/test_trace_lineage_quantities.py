"""How much of each input went into each output of a split, merge or transform: the edges
(trace_lineage_edge) say it where the record does, and what left each input is recorded once
(trace_lineage_take). A transform with several outputs and no stated shares has edges
without a quantity; stated shares must add up to what left each input. Quantities are
conserved across every operation, projections rebuilt from the ledger equal the ones
written as it grew, and the ledger still verifies. On the engine under test."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, text, update
from trace_env import TraceEnv

from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import verify_batch, verify_store
from farmtrace.trace.errors import InvalidInput, RuleViolation
from farmtrace.trace.models.projection import LineageEdge, LineageTake
from farmtrace.trace.projections import rebuild_projections, snapshot
from farmtrace.trace.units import convert
from farmtrace.web import migrate

COOP = "coop-hengpi"
ORIGIN = "trace.wuhua.example.cn/log"


@pytest.fixture
def rice(county: TraceEnv) -> dict[str, str]:
    t = county.trace
    county.at("2026-09-01 08:00")
    for product in (
        {"id": "rice", "name_zh": "丝苗米", "category": "grain", "unit": "kg"},
        {"id": "spirit", "name_zh": "长乐烧", "category": "spirit", "unit": "bottle"},
        {"id": "lees", "name_zh": "酒糟", "category": "other", "unit": "kg"},
    ):
        t.products.register(COOP, product)
    batches = {
        name: t.batches.register(
            COOP, {"product": "rice", "unit": "kg", "lot": name, "quantity": quantity}
        ).batch
        for name, quantity in (("early", "1000"), ("late", "600"))
    }
    county.session.commit()
    county.at("2026-09-20 08:00")
    return batches


def edges(env: TraceEnv) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    rows = env.session.scalars(select(LineageEdge))
    return {(e.parent_batch_id, e.child_batch_id): (e.quantity, e.unit) for e in rows}


def takes(env: TraceEnv) -> dict[tuple[str, str], tuple[str, str, int]]:
    rows = env.session.scalars(select(LineageTake))
    return {(t.batch_id, t.operation): (t.quantity, t.unit, t.outputs) for t in rows}


def assert_conserved(env: TraceEnv) -> None:
    """Per input and operation: the stated parts add up to what left the input (exactly,
    when every edge states its part; never more, when some do not)."""
    units = {b: env.trace.batches.get(b).summary.unit for (b, _op) in takes(env)}
    for (batch, operation), (quantity, unit, outputs) in takes(env).items():
        parts = [
            (e.quantity, e.unit)
            for e in env.session.scalars(
                select(LineageEdge).where(
                    LineageEdge.parent_batch_id == batch, LineageEdge.operation == operation
                )
            )
        ]
        assert len(parts) == outputs
        stated = [convert("unit", Decimal(q), u, units[batch]) for q, u in parts if q is not None]
        assert unit == units[batch]
        if len(stated) == len(parts):
            assert sum(stated, Decimal(0)) == Decimal(quantity), (batch, operation)
        else:
            assert not stated, "a transform states all its shares or none"


def assert_rebuilds(env: TraceEnv) -> None:
    env.session.flush()
    incremental = snapshot(env.session)
    rebuild_projections(env.session)
    assert snapshot(env.session) == incremental


def test_a_split_records_each_outputs_part_and_what_left_the_input_once(
    county: TraceEnv, rice: dict[str, str]
) -> None:
    result = county.trace.lineage.split(
        COOP, rice["early"], [{"quantity": "300"}, {"quantity": "0.2", "unit": "t"}, {"quantity": "100"}]
    )
    a, b, c = result.outputs
    early = rice["early"]
    assert edges(county) == {(early, a): ("300", "kg"), (early, b): ("0.2", "t"), (early, c): ("100", "kg")}
    assert takes(county) == {(early, result.operation): ("600", "kg", 3)}
    view = county.trace.batches.get(early)
    assert view.taken == [
        {
            "batch": early,
            "operation": result.operation,
            "kind": "split",
            "quantity": "600",
            "unit": "kg",
            "outputs": 3,
        }
    ]
    assert [o["quantity"] for o in view.outputs] == [
        edges(county)[(early, x)][0] for x in sorted(result.outputs)
    ]
    assert_conserved(county)
    assert_rebuilds(county)


def test_a_merge_records_what_left_each_input_into_its_one_output(
    county: TraceEnv, rice: dict[str, str]
) -> None:
    result = county.trace.lineage.merge(
        COOP, [{"batch": rice["early"], "quantity": "250"}, {"batch": rice["late"]}]
    )
    (merged,) = result.outputs
    assert edges(county) == {(rice["early"], merged): ("250", "kg"), (rice["late"], merged): ("600", "kg")}
    assert takes(county) == {
        (rice["early"], result.operation): ("250", "kg", 1),
        (rice["late"], result.operation): ("600", "kg", 1),
    }
    assert county.trace.batches.get(merged).summary.quantity_in == "850"
    assert_conserved(county)
    assert_rebuilds(county)


def test_a_transform_with_one_output_took_all_it_took_into_it(county: TraceEnv, rice: dict[str, str]) -> None:
    result = county.trace.lineage.transform(
        COOP,
        [
            {"batch": rice["early"], "quantity": "0.5", "unit": "t"},
            {"batch": rice["late"], "quantity": "100", "unit": "kg"},
        ],
        [{"product": "spirit", "quantity": "400", "unit": "bottle"}],
    )
    (spirit,) = result.outputs
    assert edges(county) == {(rice["early"], spirit): ("500", "kg"), (rice["late"], spirit): ("100", "kg")}
    assert_conserved(county)
    assert_rebuilds(county)


def transform_two(env: TraceEnv, rice: dict[str, str], **shares: list[dict[str, Any]]) -> Any:
    spirit: dict[str, Any] = {"product": "spirit", "quantity": "400", "unit": "bottle"}
    lees: dict[str, Any] = {"product": "lees", "quantity": "120", "unit": "kg"}
    if shares:
        spirit["shares"], lees["shares"] = shares["spirit"], shares["lees"]
    return env.trace.lineage.transform(
        COOP,
        [
            {"batch": rice["early"], "quantity": "500", "unit": "kg"},
            {"batch": rice["late"], "quantity": "200", "unit": "kg"},
        ],
        [spirit, lees],
    )


def test_a_transform_with_several_outputs_and_no_shares_says_no_quantity_per_output(
    county: TraceEnv, rice: dict[str, str]
) -> None:
    result = transform_two(county, rice)
    spirit, lees = result.outputs
    # Each output's registration records what the operation took from each input in all...
    registration = county.trace.batches.history(spirit)[0]["entry"]["payload"]["lineage"]
    assert registration["inputs"] == [
        {"batch": rice["early"], "quantity": "500", "unit": "kg"},
        {"batch": rice["late"], "quantity": "200", "unit": "kg"},
    ]
    assert "shares" not in registration
    # ...which is not what went into each output: the edges say nothing, the takes say it once.
    assert edges(county) == {
        (parent, child): (None, None) for parent in rice.values() for child in (spirit, lees)
    }
    assert takes(county) == {
        (rice["early"], result.operation): ("500", "kg", 2),
        (rice["late"], result.operation): ("200", "kg", 2),
    }
    graph = county.trace.lineage.graph(rice["early"])
    assert {(e["to"], e["quantity"], e["unit"]) for e in graph["edges"]} == {
        (spirit, None, None),
        (lees, None, None),
    }
    assert graph["taken"] == [
        {
            "batch": rice["early"],
            "operation": result.operation,
            "kind": "transform",
            "quantity": "500",
            "unit": "kg",
            "outputs": 2,
        }
    ]
    assert [i["quantity"] for i in county.trace.batches.get(lees).inputs] == [None, None]
    assert county.trace.batches.get(rice["early"]).summary.quantity_out == "500"
    assert_conserved(county)
    assert_rebuilds(county)


def test_stated_shares_are_the_edges_and_add_up_to_what_left_each_input(
    county: TraceEnv, rice: dict[str, str]
) -> None:
    result = transform_two(
        county,
        rice,
        spirit=[
            {"batch": rice["early"], "quantity": "0.45", "unit": "t"},
            {"batch": rice["late"], "quantity": "150"},
        ],
        lees=[{"batch": rice["late"], "quantity": "50"}, {"batch": rice["early"], "quantity": "50"}],
    )
    spirit, lees = result.outputs
    assert edges(county) == {
        (rice["early"], spirit): ("0.45", "t"),
        (rice["late"], spirit): ("150", "kg"),
        (rice["early"], lees): ("50", "kg"),
        (rice["late"], lees): ("50", "kg"),
    }
    lineage = county.trace.batches.history(lees)[0]["entry"]["payload"]["lineage"]
    assert lineage["shares"] == [
        {"batch": rice["late"], "quantity": "50", "unit": "kg"},
        {"batch": rice["early"], "quantity": "50", "unit": "kg"},
    ]
    assert lineage["inputs"][0] == {"batch": rice["early"], "quantity": "500", "unit": "kg"}
    assert_conserved(county)
    assert_rebuilds(county)
    integrate(county.session, SignerKey(ORIGIN, county.keystore.log_key().seed))
    root = county.keystore.root_key().public_key
    county.session.commit()  # verify_store reads in its own transaction, on the engine
    verify_store(county.session.get_bind(), root, log_origin=ORIGIN, workers=1)
    for batch in (*rice.values(), spirit, lees):
        checked = verify_batch(county.session, batch, root, log_origin=ORIGIN)
        assert checked.entries == checked.signatures == len(county.trace.batches.history(batch))


@pytest.mark.parametrize(
    ("shares", "error", "message"),
    [
        (
            {"spirit": [{"quantity": "1"}]},
            InvalidInput,
            "outputs[1].shares: is required when another output states its shares",
        ),
        (
            {"spirit": [{"quantity": "450"}], "lees": [{"quantity": "50"}]},
            InvalidInput,
            "outputs[0].shares: expected one share of each input ({early}, {late}), found {early}",
        ),
        (
            {
                "spirit": [{"quantity": "450"}, {"quantity": "150"}],
                "lees": [{"quantity": "40"}, {"quantity": "50"}],
            },
            RuleViolation,
            "outputs: the shares of {early} add up to 490 kg; 500 kg leaves it",
        ),
        (
            {
                "spirit": [{"quantity": "450"}, {"quantity": "160"}],
                "lees": [{"quantity": "50"}, {"quantity": "50"}],
            },
            RuleViolation,
            "outputs: the shares of {late} add up to 210 kg; 200 kg leaves it",
        ),
    ],
)
def test_shares_that_are_incomplete_or_do_not_add_up_are_refused(
    county: TraceEnv, rice: dict[str, str], shares: dict[str, list[dict[str, str]]], error: type, message: str
) -> None:
    order = (rice["early"], rice["late"])
    outputs: list[dict[str, Any]] = [
        {"product": "spirit", "quantity": "400", "unit": "bottle"},
        {"product": "lees", "quantity": "120", "unit": "kg"},
    ]
    for output, name in zip(outputs, ("spirit", "lees"), strict=True):
        if name in shares:
            output["shares"] = [{"batch": order[i], **share} for i, share in enumerate(shares[name])]
    before = county.entry_count()
    with pytest.raises(error) as caught:
        county.trace.lineage.transform(
            COOP, [{"batch": order[0], "quantity": "500"}, {"batch": order[1], "quantity": "200"}], outputs
        )
    assert caught.value.message == message.format(early=order[0], late=order[1])
    if error is RuleViolation:
        assert caught.value.rule == "quantity_not_conserved"
    assert county.entry_count() == before


def test_only_a_transform_states_shares(county: TraceEnv, rice: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        county.trace.lineage.split(
            COOP,
            rice["early"],
            [{"quantity": "1", "shares": [{"batch": rice["early"], "quantity": "1"}]}, {"quantity": "1"}],
        )
    assert (
        caught.value.message
        == "outputs[0].shares: only a transform states shares; a split's quantities say it"
    )


def test_edges_written_before_shares_existed_are_corrected_by_a_rebuild(
    county: TraceEnv, rice: dict[str, str]
) -> None:
    """Before migration 0010 each edge of a multi-output transform repeated the input's whole
    quantity. The entries are the same as a transform without shares writes today, so a
    rebuild from the ledger reads them the new way; nothing in the ledger changes."""
    result = transform_two(county, rice)
    county.session.flush()
    county.session.execute(
        update(LineageEdge).where(LineageEdge.operation == result.operation).values(quantity="500", unit="kg")
    )
    county.session.execute(delete(LineageTake))  # the table did not exist
    rebuild_projections(county.session)
    assert set(edges(county).values()) == {(None, None)}
    assert takes(county)[(rice["early"], result.operation)] == ("500", "kg", 2)
    assert_conserved(county)


def test_migration_0010_down_and_up_keeps_what_the_edges_said(
    county: TraceEnv, rice: dict[str, str], engine: Engine
) -> None:
    """Downgrading to 0009 (edge quantities NOT NULL, no takes) gives each NULL edge what left
    its input, which is what 0009's code wrote; upgrading again keeps those values until a
    rebuild, which gives the NULLs back."""
    result = transform_two(county, rice)
    county.session.commit()
    county.session.close()
    migrate.downgrade(engine, "0009")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT parent_batch_id, quantity, unit FROM trace_lineage_edge WHERE operation = :op"),
            {"op": result.operation},
        ).all()
    assert sorted(rows) == sorted([(rice["early"], "500", "kg")] * 2 + [(rice["late"], "200", "kg")] * 2)
    migrate.upgrade(engine)
    assert {q for q, _u in edges(county).values()} == {"500", "200"}
    rebuild_projections(county.session)
    assert set(edges(county).values()) == {(None, None)}
