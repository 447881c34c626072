"""Each rule of trace.rules, lineage and recalls, with its exact message; and the projections
that the same events build incrementally equal those rebuilt from the ledger."""

from __future__ import annotations

import pytest
from trace_env import OPERATOR, PDF, TraceEnv

from farmtrace.ledger.errors import IdempotencyConflict
from farmtrace.trace.documents import store_document
from farmtrace.trace.errors import InvalidInput, NotPermitted, RuleViolation
from farmtrace.trace.projections import rebuild_projections, snapshot

TEA = {"id": "wuhua-tea", "name_zh": "五华绿茶", "category": "tea", "unit": "kg"}
PACKED_TEA = {
    "id": "wuhua-tea-box",
    "name_zh": "五华绿茶礼盒",
    "category": "tea",
    "unit": "box",
    "specification": "250 g/盒",
}
PESTICIDE = {
    "kind": "pesticide",
    "product_name": "高效氯氰菊酯",
    "registration_number": "PD20096543",
    "active_ingredient": "beta-cypermethrin",
    "dose": "30",
    "dose_unit": "mL/mu",
    "pre_harvest_interval_days": 10,
}


@pytest.fixture
def tea(county: TraceEnv) -> dict[str, str]:
    t = county.trace
    county.at("2026-04-01 08:00")
    t.products.register("coop-hengpi", TEA)
    t.products.register("coop-hengpi", PACKED_TEA)
    leaves = t.batches.register(
        "coop-hengpi", {"product": "wuhua-tea", "unit": "kg", "lot": "T-01", "producers": ["household-li"]}
    ).batch
    more = t.batches.register(
        "coop-hengpi", {"product": "wuhua-tea", "unit": "kg", "lot": "T-02", "quantity": "200"}
    ).batch
    t.events.record(
        leaves,
        "farming.harvested",
        {"quantity": "500", "unit": "kg"},
        actor="coop-hengpi",
        event_time=county.at("2026-04-10 07:00"),
    )
    county.session.commit()
    return {"leaves": leaves, "more": more}


def rule(call, *args, **kwargs) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_pesticide_recorded_late_flags_the_harvest_inside_its_interval(
    county: TraceEnv, tea: dict[str, str]
) -> None:
    t = county.trace
    late = t.events.record(
        tea["leaves"], "farming.input", PESTICIDE, actor="coop-hengpi", event_time="2026-04-05T07:00:00+08:00"
    )
    assert late.flags == (
        "harvest on 2026-04-10 is 5 days after 高效氯氰菊酯 was applied on 2026-04-05; its pre-harvest interval is 10 days",
    )
    outside = t.events.record(
        tea["leaves"],
        "farming.input",
        {**PESTICIDE, "pre_harvest_interval_days": 3},
        actor="coop-hengpi",
        event_time="2026-04-05T07:00:00+08:00",
    )
    assert outside.flags == ()


def test_the_operator_decides_on_a_non_conformant_batch(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    report = store_document(t.ctx, PDF, "application/pdf")
    result = {
        "analyte": "联苯菊酯",
        "method": "GB 23200.113-2018",
        "value": "6",
        "limit": "5",
        "unit": "mg/kg",
        "verdict": "fail",
    }
    t.events.record(
        tea["leaves"],
        "lab.tested",
        {"sample_id": "T1", "report_sha256": report, "verdict": "fail", "results": [result]},
        actor="lab-meizhou",
    )
    assert t.batches.get(tea["leaves"]).summary.conformity == "non_conformant"
    decision = {"decision": "conformant", "reason": "复检样品送省检，原样品污染"}
    with pytest.raises(NotPermitted) as caught:
        t.events.record(tea["leaves"], "conformity.decided", decision, actor="coop-hengpi")
    assert (
        caught.value.message
        == "actor: only the county operator may record conformity.decided; coop-hengpi is a cooperative"
    )
    t.events.record(tea["leaves"], "conformity.decided", decision, actor=OPERATOR)
    assert t.batches.get(tea["leaves"]).summary.conformity == "conformant"


def test_a_lab_test_needs_its_report_uploaded_first(county: TraceEnv, tea: dict[str, str]) -> None:
    result = {
        "analyte": "铅",
        "method": "GB 5009.12-2017",
        "value": "0.1",
        "limit": "5",
        "unit": "mg/kg",
        "verdict": "pass",
    }
    error = rule(
        county.trace.events.record,
        tea["leaves"],
        "lab.tested",
        {"sample_id": "T1", "report_sha256": "a" * 64, "verdict": "pass", "results": [result]},
        actor="lab-meizhou",
    )
    assert (
        error.message
        == f"payload.report_sha256: no uploaded document has SHA-256 {'a' * 64}; upload the report first"
    )


def test_delivery_goes_to_a_station(county: TraceEnv, tea: dict[str, str]) -> None:
    error = rule(
        county.trace.events.record,
        tea["leaves"],
        "logistics.delivered",
        {"station": "shop-wuhua", "place": "wuhua.hengpi"},
        actor="coop-hengpi",
    )
    assert (
        error.message
        == "payload.station: shop-wuhua is a shop or e-commerce seller, not a village service station or town service centre"
    )
    county.trace.events.record(
        tea["leaves"],
        "logistics.delivered",
        {"station": "town-hengpi", "place": "wuhua.hengpi"},
        actor="coop-hengpi",
    )
    assert county.trace.batches.get(tea["leaves"]).summary.custodian == "town-hengpi"


def test_warehouse_in_needs_a_warehouse(county: TraceEnv, tea: dict[str, str]) -> None:
    error = rule(
        county.trace.events.record,
        tea["leaves"],
        "logistics.warehouse_in",
        {"place": "field-a"},
        actor="coop-hengpi",
    )
    assert error.message == "payload.place: field-a is a field, not a warehouse or cold store"


def test_transform_makes_a_new_product_that_needs_its_own_test(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    county.at("2026-04-12 09:00")
    with pytest.raises(InvalidInput) as caught:
        t.lineage.transform(
            "coop-hengpi", [{"batch": tea["leaves"]}], [{"product": "wuhua-tea-box", "quantity": "400"}]
        )
    assert caught.value.message == "inputs[0].quantity: is required for a transform"
    result = t.lineage.transform(
        "coop-hengpi",
        [
            {"batch": tea["leaves"], "quantity": "100", "unit": "kg"},
            {"batch": tea["more"], "quantity": "50", "unit": "kg"},
        ],
        [{"product": "wuhua-tea-box", "quantity": "120", "unit": "box", "lot": "TB-01"}],
    )
    boxes = t.batches.get(result.outputs[0])
    assert (
        boxes.summary.product,
        boxes.summary.quantity_in,
        boxes.summary.unit,
        boxes.summary.conformity,
    ) == ("wuhua-tea-box", "120", "box", "untested")
    assert sorted((i["batch"], i["quantity"]) for i in boxes.inputs) == sorted(
        [(tea["leaves"], "100"), (tea["more"], "50")]
    )
    assert [p["id"] for p in boxes.producers] == ["household-li"]
    assert t.batches.get(tea["leaves"]).summary.quantity_out == "100"
    error = rule(
        t.events.record,
        result.outputs[0],
        "farming.harvested",
        {"quantity": "1", "unit": "box"},
        actor="coop-hengpi",
    )
    assert (
        error.message
        == f"type: {result.outputs[0]} was made by a transform of other batches; only a registered crop lot is harvested"
    )


def test_a_merge_conserves_quantity_and_takes_one_product(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    error = rule(
        t.lineage.merge,
        "coop-hengpi",
        [{"batch": tea["leaves"], "quantity": "10"}, {"batch": tea["more"], "quantity": "10"}],
        {"quantity": "25"},
    )
    assert error.message == "outputs[0].quantity: a merge makes the sum of its inputs, 20 kg; found 25"
    merged = t.lineage.merge(
        "coop-hengpi",
        [{"batch": tea["leaves"], "quantity": "10"}, {"batch": tea["more"]}],
        {"quantity": "210"},
    )
    assert t.batches.get(merged.outputs[0]).summary.quantity_in == "210"
    assert t.batches.get(tea["more"]).summary.quantity_out == "200", "no quantity means all that is left"


def test_custody_moves_with_a_hand_off(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    t.events.record(
        tea["leaves"],
        "logistics.handed_off",
        {"to": "packer-wuhua", "place": "packing-hall"},
        actor="coop-hengpi",
    )
    with pytest.raises(NotPermitted) as caught:
        t.events.record(
            tea["leaves"],
            "logistics.handed_off",
            {"to": "shop-wuhua", "place": "packing-hall"},
            actor="coop-hengpi",
        )
    assert caught.value.rule == "custodian_only"
    error = rule(t.lineage.split, "coop-hengpi", tea["leaves"], [{"quantity": "1"}, {"quantity": "1"}])
    assert error.rule == "custodian_only"
    assert t.batches.get(tea["leaves"]).summary.owner == "coop-hengpi", "custody is not ownership"


def test_recall_lift(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    split = t.lineage.split("coop-hengpi", tea["leaves"], [{"quantity": "100"}, {"quantity": "100"}])
    recall = t.recalls.issue("coop-hengpi", tea["leaves"], "自主召回：包装破损", level=3)
    assert set(recall.batches) == {tea["leaves"], *split.outputs}
    error = rule(t.recalls.issue, OPERATOR, tea["leaves"], "again")
    assert error.message == f"batch: {tea['leaves']} is already recalled ({recall.recall_id})"
    with pytest.raises(NotPermitted):
        t.recalls.lift("shop-wuhua", recall.recall_id, "checked")
    lifted = t.recalls.lift(OPERATOR, recall.recall_id, "复检合格，解除召回")
    assert set(lifted.batches) == set(recall.batches)
    assert not any(t.batches.get(b).summary.recalled for b in recall.batches)
    assert t.batches.get(split.outputs[0]).recalls[0]["active"] is False
    error = rule(t.recalls.lift, OPERATOR, recall.recall_id, "again")
    assert error.message == f"recall_id: {recall.recall_id} was already lifted"


def test_retries_record_once_and_a_reused_id_with_new_content_is_refused(
    county: TraceEnv, tea: dict[str, str]
) -> None:
    t = county.trace
    first = t.events.record(
        tea["more"],
        "sale.recorded",
        {"channel": "market", "order_reference": "M-1", "quantity": "150", "unit": "kg"},
        actor="coop-hengpi",
        client_id="phone-7:sale-1",
    )
    again = t.events.record(
        tea["more"],
        "sale.recorded",
        {"channel": "market", "order_reference": "M-1", "quantity": "150", "unit": "kg"},
        actor="coop-hengpi",
        client_id="phone-7:sale-1",
    )
    assert (first.created, again.created, again.seq, again.hash) == (True, False, first.seq, first.hash)
    assert t.batches.get(tea["more"]).summary.quantity_out == "150", "the retry did not sell twice"
    with pytest.raises(IdempotencyConflict):
        t.events.record(
            tea["more"],
            "sale.recorded",
            {"channel": "market", "order_reference": "M-1", "quantity": "40", "unit": "kg"},
            actor="coop-hengpi",
            client_id="phone-7:sale-1",
        )


def test_corrections(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    sale = t.events.record(
        tea["more"],
        "sale.recorded",
        {"channel": "market", "order_reference": "M-2", "quantity": "150", "unit": "kg"},
        actor="coop-hengpi",
    )
    with pytest.raises(NotPermitted) as caught:
        t.events.correct(
            tea["more"],
            sale.hash,
            {"channel": "market", "order_reference": "M-2", "quantity": "15", "unit": "kg"},
            actor=OPERATOR,
            reason="typo",
        )
    assert (
        caught.value.message
        == f"actor: only coop-hengpi, who recorded {tea['more']}/{sale.seq}, may correct it"
    )
    error = rule(
        t.events.correct,
        tea["more"],
        sale.hash,
        {"channel": "market", "order_reference": "M-2", "quantity": "250", "unit": "kg"},
        actor="coop-hengpi",
        reason="typo",
    )
    assert (
        error.message
        == f"payload.quantity: 250 kg is more than {tea['more']} has left: 200 kg in, 0 kg out, 200 kg available"
    )
    t.events.correct(
        tea["more"],
        sale.hash,
        {"channel": "market", "order_reference": "M-2", "quantity": "15", "unit": "kg"},
        actor="coop-hengpi",
        reason="多写了一个零",
    )
    assert t.batches.get(tea["more"]).summary.quantity_out == "15"
    registration = t.batches.history(tea["more"])[0]["hash"]
    error = rule(t.events.correct, tea["more"], registration, {}, actor="coop-hengpi", reason="x")
    assert (
        error.message
        == "amends: a batch.registered entry is not corrected by restating it; record a new event"
    )


def test_rebuilt_projections_equal_the_incremental_ones(county: TraceEnv, tea: dict[str, str]) -> None:
    t = county.trace
    t.events.record(
        tea["leaves"], "farming.input", PESTICIDE, actor="coop-hengpi", event_time="2026-04-05T07:00:00+08:00"
    )
    report = store_document(t.ctx, PDF, "application/pdf")
    failing = {
        "analyte": "联苯菊酯",
        "method": "GB 23200.113-2018",
        "value": "6",
        "limit": "5",
        "unit": "mg/kg",
        "verdict": "fail",
    }
    test = t.events.record(
        tea["leaves"],
        "lab.tested",
        {"sample_id": "T1", "report_sha256": report, "verdict": "fail", "results": [failing]},
        actor="lab-meizhou",
    )
    t.events.correct(
        tea["leaves"],
        test.hash,
        {
            "sample_id": "T1",
            "report_sha256": report,
            "verdict": "fail",
            "results": [{**failing, "value": "7"}],
        },
        actor="lab-meizhou",
        reason="transcription",
    )
    t.events.record(
        tea["leaves"],
        "certification.attached",
        {
            "scheme": "organic",
            "certificate_number": "OC-1",
            "issuer": "CQC",
            "valid_from": "2026-01-01",
            "valid_until": "2026-12-31",
        },
        actor="coop-hengpi",
    )
    t.events.record(
        tea["more"],
        "logistics.temperature",
        {
            "min_celsius": "0",
            "max_celsius": "25",
            "readings": [{"time": "2026-04-10T06:00:00+08:00", "celsius": "31"}],
        },
        actor="coop-hengpi",
    )
    split = t.lineage.split("coop-hengpi", tea["more"], [{"quantity": "50"}, {"quantity": "50"}])
    merged = t.lineage.merge(
        "coop-hengpi", [{"batch": split.outputs[0]}, {"batch": split.outputs[1], "quantity": "20"}]
    )
    recall = t.recalls.issue(OPERATOR, tea["more"], "温度超标")
    t.recalls.lift(OPERATOR, recall.recall_id, "复检合格")
    t.recalls.issue(OPERATOR, split.outputs[1], "包装破损")
    county.session.commit()
    incremental = snapshot(county.session)
    assert (
        incremental["trace_batch_flag"] and incremental["trace_recall"] and incremental["trace_lineage_edge"]
    )
    assert merged.outputs[0] in {row[0] for row in incremental["trace_batch"]}
    assert rebuild_projections(county.session) == 5
    county.session.commit()
    assert snapshot(county.session) == incremental
