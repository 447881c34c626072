"""Bad input through the services: each is refused with the field and the reason, and nothing
is recorded (no ledger entry, no registry or projection row)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from trace_env import OPERATOR, TraceEnv

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.models.projection import Batch, BatchFlag
from farmtrace.trace.models.registry import Org, Product

TEN_MB = "名" * (10 * 1024 * 1024)


def counts(env: TraceEnv) -> tuple[int, ...]:
    s = env.session
    rows = [
        s.scalar(select(func.count()).select_from(table)) or 0 for table in (Org, Product, Batch, BatchFlag)
    ]
    return (*rows, env.entry_count())


@pytest.fixture
def sweet_potato(county: TraceEnv) -> str:
    county.at("2026-03-02 09:00")
    county.trace.products.register(
        "coop-changbu",
        {"id": "wuhua-sweet-potato", "name_zh": "五华高山红薯", "category": "vegetable", "unit": "kg"},
    )
    batch = county.trace.batches.register(
        "coop-changbu", {"product": "wuhua-sweet-potato", "unit": "kg", "origin_place": "wuhua.changbu"}
    ).batch
    county.session.commit()
    return batch


def refused(env: TraceEnv, call: Callable[[], object], field: str, message: str) -> None:
    before = counts(env)
    with pytest.raises(InvalidInput) as caught:
        call()
    env.session.rollback()
    assert (caught.value.field, caught.value.message) == (field, message)
    assert counts(env) == before, "nothing may be recorded"


def test_missing_field(county: TraceEnv, sweet_potato: str) -> None:
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato, "farming.harvested", {"unit": "kg"}, actor="coop-changbu"
        ),
        "payload.quantity",
        "payload.quantity: is required",
    )


def test_wrong_unit_for_the_batch(county: TraceEnv, sweet_potato: str) -> None:
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato, "farming.harvested", {"quantity": "300", "unit": "L"}, actor="coop-changbu"
        ),
        "payload.unit",
        "payload.unit: expected a unit of mass (g, kg, jin, t) like the batch's kg, found 'L'",
    )


def test_value_out_of_range(county: TraceEnv, sweet_potato: str) -> None:
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato,
            "logistics.temperature",
            {
                "min_celsius": "10",
                "max_celsius": "15",
                "readings": [{"time": "2026-03-02T09:05:00+08:00", "celsius": "-99"}],
            },
            actor="coop-changbu",
        ),
        "payload.readings[0].celsius",
        "payload.readings[0].celsius: must be at least -60, found '-99'",
    )


def test_unknown_analyte_unit(county: TraceEnv, sweet_potato: str) -> None:
    result = {
        "analyte": "铅 Pb",
        "method": "GB 5009.12-2017",
        "value": "0.01",
        "unit": "ppb",
        "verdict": "pass",
    }
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato,
            "lab.tested",
            {"sample_id": "S-9", "report_sha256": "0" * 64, "verdict": "pass", "results": [result]},
            actor="lab-meizhou",
        ),
        "payload.results[0].unit",
        "payload.results[0].unit: expected one of mg/kg, μg/kg, mg/L, μg/L, g/kg, g/100g, g/L, %, %vol, CFU/g, CFU/mL, MPN/100g, pH, found 'ppb'",
    )


def test_gtin_with_a_wrong_check_digit(county: TraceEnv) -> None:
    refused(
        county,
        lambda: county.trace.products.register(
            "coop-hengpi",
            {"id": "plum", "name_zh": "三华李", "category": "fruit", "unit": "kg", "gtin": "6901234567893"},
        ),
        "product.gtin",
        "product.gtin: Invalid GTIN check digit for '6901234567893': Expected 2, got 3.",
    )


def test_lot_with_a_forbidden_character(county: TraceEnv, sweet_potato: str) -> None:
    refused(
        county,
        lambda: county.trace.batches.register(
            "coop-changbu", {"product": "wuhua-sweet-potato", "unit": "kg", "lot": "红薯-2026"}
        ),
        "payload.lot",
        "payload.lot: Invalid AI (10) value '红薯-2026': Expected only GS1 CSET 82 characters, got '红' at position 1.",
    )


def test_text_with_control_characters(county: TraceEnv) -> None:
    refused(
        county,
        lambda: county.trace.orgs.register(
            OPERATOR, {"id": "coop-x", "kind": "cooperative", "name_zh": "合作社\u0007\u0007"}
        ),
        "org.name_zh",
        "org.name_zh: contains the control character U+0007 at position 4",
    )


def test_a_ten_megabyte_name(county: TraceEnv) -> None:
    refused(
        county,
        lambda: county.trace.products.register(
            "coop-hengpi", {"id": "plum", "name_zh": TEN_MB, "category": "fruit", "unit": "kg"}
        ),
        "product.name_zh",
        "product.name_zh: expected at most 100 characters, found 10485760",
    )


def test_a_rule_refusal_records_nothing(county: TraceEnv, sweet_potato: str) -> None:
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato,
            "sale.recorded",
            {"channel": "shop", "order_reference": "A-1", "quantity": "1", "unit": "kg"},
            actor="coop-changbu",
        ),
        "payload.quantity",
        f"payload.quantity: 1 kg is more than {sweet_potato} has left: 0 kg in, 0 kg out, 0 kg available",
    )


def test_unknown_references(county: TraceEnv, sweet_potato: str) -> None:
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato,
            "farming.harvested",
            {"quantity": "1", "unit": "kg", "place": "nowhere"},
            actor="coop-changbu",
        ),
        "payload.place",
        "payload.place: no place 'nowhere'",
    )
    refused(
        county,
        lambda: county.trace.events.record(
            "B0000000000AA", "farming.harvested", {"quantity": "1", "unit": "kg"}, actor="coop-changbu"
        ),
        "batch",
        "batch: no batch 'B0000000000AA'",
    )
    refused(
        county,
        lambda: county.trace.events.record(
            sweet_potato, "farming.harvested", {"quantity": "1", "unit": "kg"}, actor="coop-nobody"
        ),
        "actor",
        "actor: no organisation 'coop-nobody'",
    )
    refused(
        county,
        lambda: county.trace.events.record(sweet_potato, "batch.registered", {}, actor="coop-changbu"),
        "type",
        "type: expected one of farming.input, farming.harvested, processing.recorded, lab.tested, certification.attached, "
        "conformity.decided, packing.packed, logistics.picked_up, logistics.warehouse_in, logistics.warehouse_out, "
        "logistics.handed_off, logistics.delivered, logistics.temperature, sale.recorded, found 'batch.registered'",
    )
