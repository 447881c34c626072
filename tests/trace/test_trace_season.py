"""A realistic season in Wuhua County, on the engine under test (SQLite, or PostgreSQL when
FARMTRACE_TEST_POSTGRES_URL is set): plums and sweet potatoes from registration to recall.

One test walks the whole story in order, because each step depends on the record so far;
it asserts what each actor may and may not do, what is flagged, what lineage says, that
the ledger verifies and that the EPCIS export validates against the GS1 schema.
"""

from __future__ import annotations

import json

import pytest
from _paths import reference_dir
from jsonschema import Draft7Validator
from trace_env import OPERATOR, PDF, TraceEnv

from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import verify_batch, verify_store
from farmtrace.trace.documents import store_document
from farmtrace.trace.epcis.document import verify_document_event_ids
from farmtrace.trace.epcis_export import export_batch
from farmtrace.trace.errors import NotPermitted, RuleViolation
from farmtrace.trace.projections import rebuild_projections, snapshot

PESTICIDE = {
    "kind": "pesticide",
    "product_name": "吡虫啉 10% 可湿性粉剂",
    "registration_number": "PD20080123",
    "active_ingredient": "imidacloprid",
    "dose": "20",
    "dose_unit": "g/mu",
    "pre_harvest_interval_days": 7,
    "place": "field-a",
}
ORIGIN = "trace.wuhua.example.cn/farmtrace-log"
FERTILISER = {"kind": "fertiliser", "product_name": "有机肥", "dose": "300", "dose_unit": "kg/mu"}


def lab_result(value: str, verdict: str, analyte: str = "吡虫啉 imidacloprid") -> dict:
    return {
        "analyte": analyte,
        "method": "GB/T 20769-2008",
        "value": value,
        "limit": "0.5",
        "limit_standard": "GB 2763-2021",
        "unit": "mg/kg",
        "verdict": verdict,
    }


@pytest.fixture(scope="module")
def epcis_validator() -> Draft7Validator:
    schema = json.loads(
        (reference_dir() / "epcis" / "epcis-json-schema-2.0.1.json").read_text(encoding="utf-8")
    )
    checker = Draft7Validator.FORMAT_CHECKER
    assert {"uri", "date-time"} <= set(checker.checkers), "install rfc3987 and rfc3339-validator"
    return Draft7Validator(schema, format_checker=checker)


def refused(error: type[Exception], call, *args, **kwargs) -> Exception:
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_season_from_registration_to_recall(county: TraceEnv, epcis_validator: Draft7Validator) -> None:
    env, t, s = county, county.trace, county.session

    # -- March: products and batches -------------------------------------------------------
    env.at("2026-03-02 09:00")
    t.products.register(
        "coop-hengpi",
        {
            "id": "hengpi-plum",
            "name_zh": "横陂三华李",
            "name_en": "Hengpi Sanhua plum",
            "category": "fruit",
            "unit": "kg",
            "gtin": "6901234567892",
        },
    )
    t.products.add_certificate(
        "coop-hengpi",
        "hengpi-plum",
        {
            "scheme": "green_food",
            "certificate_number": "LB-18-2101234567A",
            "issuer": "中国绿色食品发展中心",
            "valid_from": "2025-01-01",
            "valid_until": "2027-12-31",
        },
    )
    t.products.register(
        "coop-changbu",
        {"id": "wuhua-sweet-potato", "name_zh": "五华高山红薯", "category": "vegetable", "unit": "kg"},
    )
    t.products.add_certificate(
        "coop-changbu",
        "wuhua-sweet-potato",
        {
            "scheme": "geographical_indication",
            "certificate_number": "AGI2019-01-2601",
            "issuer": "农业农村部",
            "valid_from": "2019-01-01",
            "valid_until": "2025-12-31",
        },
    )
    assert [c.valid for c in t.products.certificates("hengpi-plum")] == [True]
    assert [c.valid for c in t.products.certificates("wuhua-sweet-potato")] == [False], (
        "an expired certificate is not valid"
    )

    plum = t.batches.register(
        "coop-hengpi",
        {
            "product": "hengpi-plum",
            "lot": "HP2026-01",
            "producers": ["household-li"],
            "origin_place": "field-a",
            "unit": "kg",
            "expected_quantity": "2000",
        },
        client_id="coop-hengpi:plum-2026",
    ).batch
    again = t.batches.register(
        "coop-hengpi",
        {
            "product": "hengpi-plum",
            "lot": "HP2026-01",
            "producers": ["household-li"],
            "origin_place": "field-a",
            "unit": "kg",
            "expected_quantity": "2000",
        },
        client_id="coop-hengpi:plum-2026",
    )
    assert (again.batch, again.created) == (plum, False), "a retried registration records nothing new"
    potato_a = t.batches.register(
        "coop-changbu",
        {"product": "wuhua-sweet-potato", "lot": "CB2026-A", "unit": "kg", "producers": ["coop-changbu"]},
    ).batch
    potato_b = t.batches.register(
        "coop-changbu",
        {"product": "wuhua-sweet-potato", "lot": "CB2026-B", "unit": "jin", "producers": ["coop-changbu"]},
    ).batch
    error = refused(
        NotPermitted, t.batches.register, "shop-wuhua", {"product": "wuhua-sweet-potato", "unit": "kg"}
    )
    assert error.message == "actor: a shop or e-commerce seller does not register batches; producers do"
    error = refused(
        NotPermitted, t.batches.register, "coop-hengpi", {"product": "wuhua-sweet-potato", "unit": "kg"}
    )
    assert error.message == (
        "payload.product: wuhua-sweet-potato belongs to coop-changbu; coop-hengpi may not register its batches"
    )
    s.commit()

    # -- farming: fertiliser and pesticide; only the owner ---------------------------------
    t.events.record(
        plum, "farming.input", FERTILISER, actor="coop-hengpi", event_time=env.at("2026-03-20 08:00")
    )
    t.events.record(
        plum, "farming.input", PESTICIDE, actor="coop-hengpi", event_time=env.at("2026-06-01 07:30")
    )
    t.events.record(
        potato_a,
        "farming.input",
        {**PESTICIDE, "place": "wuhua.changbu", "pre_harvest_interval_days": 14},
        actor="coop-changbu",
        event_time=env.at("2026-08-20 08:00"),
    )
    t.events.record(
        potato_b, "farming.input", FERTILISER, actor="coop-changbu", event_time=env.at("2026-08-21 08:00")
    )
    error = refused(NotPermitted, t.events.record, plum, "farming.input", FERTILISER, actor="coop-changbu")
    assert (
        error.message
        == f"actor: only the owner of {plum} (coop-hengpi) may record farming.input; coop-changbu is not the owner"
    )
    assert error.rule == "owner_only"
    error = refused(
        RuleViolation,
        t.events.record,
        plum,
        "farming.input",
        FERTILISER,
        actor="coop-hengpi",
        event_time="2026-02-01T08:00:00+08:00",
    )
    assert error.message.startswith("event_time: 2026-02-01T08:00:00+08:00 is before the registration of ")
    error = refused(
        RuleViolation,
        t.events.record,
        plum,
        "farming.input",
        FERTILISER,
        actor="coop-hengpi",
        event_time="2026-12-01T08:00:00+08:00",
    )
    assert error.rule == "time_in_future"
    assert "at most 5 minutes ahead is accepted" in error.message

    # -- harvest: the plum inside the pre-harvest interval is recorded and flagged ----------
    harvest = t.events.record(
        plum,
        "farming.harvested",
        {"quantity": "1800", "unit": "kg", "place": "field-a"},
        actor="coop-hengpi",
        event_time=env.at("2026-06-04 06:00"),
    )
    assert harvest.flags == (
        "harvest on 2026-06-04 is 2 days after 吡虫啉 10% 可湿性粉剂 was applied on 2026-06-01; its pre-harvest interval is 7 days",
    )
    assert (
        t.events.record(
            potato_a,
            "farming.harvested",
            {"quantity": "3000", "unit": "kg"},
            actor="coop-changbu",
            event_time=env.at("2026-10-10 07:00"),
        ).flags
        == ()
    )
    t.events.record(
        potato_b,
        "farming.harvested",
        {"quantity": "4000", "unit": "jin"},
        actor="coop-changbu",
        event_time=env.at("2026-10-12 07:00"),
    )
    error = refused(
        NotPermitted,
        t.events.record,
        potato_a,
        "farming.harvested",
        {"quantity": "5", "unit": "kg"},
        actor="carrier-sf",
    )
    assert error.rule == "owner_only"
    s.commit()

    # -- the lab: a fail on the plum, a pass on the sweet potatoes -------------------------
    env.at("2026-10-14 10:00")
    fail_report = store_document(
        t.ctx, PDF + b"plum", "application/pdf", filename="HP2026-01.pdf", uploaded_by="lab-meizhou"
    )
    pass_report = store_document(
        t.ctx, PDF + b"potato", "application/pdf", filename="CB2026.pdf", uploaded_by="lab-meizhou"
    )
    test = {
        "sample_id": "MZ-2026-0611",
        "report_sha256": fail_report,
        "verdict": "fail",
        "results": [lab_result("0.82", "fail")],
    }
    error = refused(NotPermitted, t.events.record, plum, "lab.tested", test, actor="coop-hengpi")
    assert error.message == "actor: only a testing lab may record lab.tested; coop-hengpi is a cooperative"
    failed = t.events.record(
        plum, "lab.tested", test, actor="lab-meizhou", event_time=env.at("2026-06-06 15:00")
    )
    assert failed.flags == (
        "lab test MZ-2026-0611 by lab-meizhou failed: 吡虫啉 imidacloprid 0.82 mg/kg (limit 0.5 mg/kg)",
    )
    for batch, sample in ((potato_a, "MZ-2026-1015"), (potato_b, "MZ-2026-1016")):
        t.events.record(
            batch,
            "lab.tested",
            {
                "sample_id": sample,
                "report_sha256": pass_report,
                "verdict": "pass",
                "results": [lab_result("0.01", "pass")],
            },
            actor="lab-meizhou",
            event_time=env.at("2026-10-15 11:00"),
        )
    assert t.batches.get(plum).summary.conformity == "non_conformant"
    sale = {"channel": "ecommerce", "order_reference": "JD-20261015-0001", "quantity": "10", "unit": "kg"}
    error = refused(RuleViolation, t.events.record, plum, "sale.recorded", sale, actor="coop-hengpi")
    assert error.message == (
        f"batch: {plum} is non-conformant (failed lab test); it may not be sold until a passing test or an operator decision"
    )
    s.commit()

    # -- logistics: pickup, a cold-chain excursion, the county warehouse receives ---------
    env.at("2026-10-16 08:00")
    error = refused(
        NotPermitted,
        t.events.record,
        potato_a,
        "logistics.warehouse_in",
        {"place": "county-warehouse"},
        actor="carrier-sf",
    )
    assert error.message == (
        f"actor: only the current custodian of {potato_a} (coop-changbu) may record logistics.warehouse_in; carrier-sf is not the custodian"
    )
    error = refused(
        RuleViolation,
        t.events.record,
        potato_a,
        "logistics.picked_up",
        {"carrier": "lab-meizhou", "place": "wuhua.changbu"},
        actor="coop-changbu",
    )
    assert error.message == "payload.carrier: lab-meizhou is a testing lab, not a logistics carrier"
    t.events.record(
        potato_a,
        "logistics.picked_up",
        {
            "carrier": "carrier-sf",
            "place": "wuhua.changbu",
            "destination": "county-warehouse",
            "vehicle": "粤M·12345",
        },
        actor="coop-changbu",
        event_time=env.at("2026-10-16 08:30"),
    )
    excursion = t.events.record(
        potato_a,
        "logistics.temperature",
        {
            "min_celsius": "10",
            "max_celsius": "15",
            "device": "TL-0042",
            "readings": [
                {"time": "2026-10-16T09:00:00+08:00", "celsius": "13.2"},
                {"time": "2026-10-16T10:00:00+08:00", "celsius": "4.5"},
                {"time": "2026-10-16T11:00:00+08:00", "celsius": "12.8"},
            ],
        },
        actor="carrier-sf",
        event_time=env.at("2026-10-16 11:05"),
    )
    assert excursion.flags == (
        "1 of 3 readings outside 10 to 15 °C; the worst 4.5 °C at 2026-10-16T10:00:00+08:00",
    )
    t.events.record(
        potato_a,
        "logistics.handed_off",
        {"to": OPERATOR, "place": "county-warehouse"},
        actor="carrier-sf",
        event_time=env.at("2026-10-16 12:00"),
    )
    error = refused(
        RuleViolation,
        t.events.record,
        potato_a,
        "logistics.handed_off",
        {"to": OPERATOR, "place": "county-warehouse"},
        actor=OPERATOR,
    )
    assert error.message == f"payload.to: {potato_a} is already in the custody of {OPERATOR}"
    t.events.record(
        potato_a,
        "logistics.warehouse_in",
        {"place": "county-warehouse"},
        actor=OPERATOR,
        event_time=env.at("2026-10-16 12:10"),
    )
    error = refused(
        RuleViolation,
        t.events.record,
        potato_a,
        "logistics.warehouse_out",
        {"place": "county-cold-store"},
        actor=OPERATOR,
    )
    assert (
        error.message == f"payload.place: {potato_a} is not in county-cold-store (it is in county-warehouse)"
    )
    t.events.record(
        potato_a,
        "logistics.warehouse_out",
        {"place": "county-warehouse"},
        actor=OPERATOR,
        event_time=env.at("2026-10-17 08:00"),
    )
    t.events.record(
        potato_a,
        "logistics.handed_off",
        {"to": "packer-wuhua", "place": "packing-hall"},
        actor=OPERATOR,
        event_time=env.at("2026-10-17 09:00"),
    )
    t.events.record(
        potato_b,
        "logistics.handed_off",
        {"to": "packer-wuhua", "place": "packing-hall"},
        actor="coop-changbu",
        event_time=env.at("2026-10-17 09:30"),
    )
    s.commit()

    # -- split and merge at the packing station ---------------------------------------------
    env.at("2026-10-17 10:00")
    error = refused(
        RuleViolation, t.lineage.split, "packer-wuhua", potato_b, [{"quantity": "1500"}, {"quantity": "2600"}]
    )
    assert (
        error.message
        == f"outputs: 4100 jin is more than {potato_b} has left: 4000 jin in, 0 jin out, 4000 jin available"
    )
    split = t.lineage.split(
        "packer-wuhua",
        potato_a,
        [{"quantity": "1000", "lot": "CB2026-A1"}, {"quantity": "1500", "lot": "CB2026-A2"}],
        client_id="packer:split-a",
    )
    boxed, bulk = split.outputs
    assert (
        t.lineage.split(
            "packer-wuhua",
            potato_a,
            [{"quantity": "1000", "lot": "CB2026-A1"}, {"quantity": "1500", "lot": "CB2026-A2"}],
            client_id="packer:split-a",
        ).created
        is False
    )
    error = refused(
        RuleViolation,
        t.lineage.merge,
        "packer-wuhua",
        [{"batch": bulk}, {"batch": potato_b, "quantity": "2500", "unit": "kg"}],
    )
    assert error.message == (
        f"inputs[1].quantity: 2500 kg is more than {potato_b} has left: 4000 jin in, 0 jin out, 4000 jin available"
    )
    merged = t.lineage.merge(
        "packer-wuhua",
        [{"batch": bulk}, {"batch": potato_b, "quantity": "1000", "unit": "kg"}],
        {"lot": "CB2026-M1"},
    )
    mixed = merged.outputs[0]
    state = {b: t.batches.get(b).summary for b in (potato_a, potato_b, boxed, bulk, mixed)}
    assert (state[potato_a].quantity_in, state[potato_a].quantity_out) == ("3000", "2500")
    assert (state[potato_b].quantity_in, state[potato_b].quantity_out) == (
        "4000",
        "2000",
    )  # 1000 kg = 2000 jin
    assert (state[bulk].quantity_in, state[bulk].quantity_out) == ("1500", "1500")
    assert (state[mixed].quantity_in, state[mixed].unit) == ("2500", "kg")
    assert state[boxed].conformity == "conformant", "a split keeps its input's passing test"
    assert state[mixed].conformity == "conformant", "a merge of conformant inputs is conformant"
    t.events.record(
        boxed,
        "packing.packed",
        {"packages": 200, "package": "box", "net_quantity": "5", "net_unit": "kg", "place": "packing-hall"},
        actor="packer-wuhua",
    )
    error = refused(
        RuleViolation,
        t.events.record,
        boxed,
        "packing.packed",
        {"packages": 201, "package": "box", "net_quantity": "5", "net_unit": "kg"},
        actor="packer-wuhua",
    )
    assert error.message == f"payload.packages: 201 x 5 kg is more than {boxed} has left (1000 kg available)"
    t.events.record(
        boxed, "logistics.handed_off", {"to": "shop-wuhua", "place": "packing-hall"}, actor="packer-wuhua"
    )
    t.events.record(
        boxed,
        "sale.recorded",
        {"channel": "shop", "order_reference": "POS-0001", "quantity": "20", "unit": "kg"},
        actor="shop-wuhua",
    )
    t.events.record(
        mixed, "logistics.picked_up", {"carrier": "carrier-sf", "place": "packing-hall"}, actor="packer-wuhua"
    )
    t.events.record(
        mixed,
        "logistics.delivered",
        {"station": "station-xiaping", "place": "wuhua.hengpi.xiaping"},
        actor="carrier-sf",
    )
    assert t.batches.get(mixed).summary.custodian == "station-xiaping"
    s.commit()

    # -- lineage ------------------------------------------------------------------------------
    assert set(t.lineage.downstream(potato_a)) == {boxed, bulk, mixed}
    assert set(t.lineage.upstream(mixed)) == {bulk, potato_b, potato_a}
    assert t.lineage.upstream(boxed) == [potato_a]
    assert t.lineage.downstream(potato_b) == [mixed]
    view = t.batches.get(mixed)
    assert sorted((i["batch"], i["quantity"], i["unit"]) for i in view.inputs) == sorted(
        [(bulk, "1500", "kg"), (potato_b, "2000", "jin")]
    )

    # -- recall: it reaches every batch downstream, and nothing upstream -------------------
    env.at("2026-10-20 09:00")
    error = refused(NotPermitted, t.recalls.issue, "carrier-sf", potato_a, "chilling injury")
    assert error.rule == "operator_or_owner"
    recall = t.recalls.issue(
        OPERATOR, potato_a, "冷链运输温度过低导致冷害 chilling injury in transit", level=2
    )
    assert set(recall.batches) == {potato_a, boxed, bulk, mixed}
    for batch in (potato_a, boxed, bulk, mixed):
        view = t.batches.get(batch)
        assert view.summary.recalled and [r["origin"] for r in view.recalls] == [potato_a]
    assert not t.batches.get(potato_b).summary.recalled, "a recall does not travel upstream"
    error = refused(
        RuleViolation, t.events.record, boxed, "sale.recorded", {**sale, "quantity": "5"}, actor="shop-wuhua"
    )
    assert error.message == f"batch: {boxed} is recalled ({recall.recall_id}); it may not be sold"
    error = refused(
        RuleViolation, t.lineage.split, "station-xiaping", mixed, [{"quantity": "1"}, {"quantity": "1"}]
    )
    assert error.rule == "recalled"

    # -- the plum: a retest passes, and the batch may be sold again ------------------------
    t.events.record(
        plum,
        "lab.tested",
        {
            "sample_id": "MZ-2026-0620",
            "report_sha256": pass_report,
            "verdict": "pass",
            "results": [lab_result("0.12", "pass")],
        },
        actor="lab-meizhou",
        event_time=env.at("2026-10-21 10:00"),
    )
    t.events.record(
        plum,
        "sale.recorded",
        {**sale, "quantity": "100"},
        actor="coop-hengpi",
        event_time=env.at("2026-10-21 11:00"),
    )
    plum_view = t.batches.get(plum)
    assert plum_view.summary.conformity == "conformant"
    assert [f["kind"] for f in plum_view.flags] == ["pre_harvest_interval", "lab_failed"], (
        "flags stay as history"
    )
    assert (
        plum_view.poverty_mark is False
    )  # household-li is flagged, but the operator has not enabled the mark
    t.orgs.set_poverty_household(OPERATOR, "household-li", True, public_mark=True)
    assert t.batches.get(plum).poverty_mark is True
    assert t.orgs.poverty_statistics().batches == 1
    assert [c["valid"] for c in t.batches.get(potato_a).product["certificates"]] == [False]
    s.commit()

    # -- corrections restate a payload; the projection follows ------------------------------
    sale_entry = next(e for e in t.batches.history(boxed) if e["entry"]["type"] == "sale.recorded")
    t.events.correct(
        boxed,
        sale_entry["hash"],
        {"channel": "shop", "order_reference": "POS-0001", "quantity": "25", "unit": "kg"},
        actor="shop-wuhua",
        reason="扫码枪少记一箱",
    )
    assert t.batches.get(boxed).summary.quantity_out == "25"
    s.commit()

    # -- the record verifies, the projections rebuild identically --------------------------
    integrate(s, SignerKey(ORIGIN, env.keystore.log_key().seed))
    root = env.keystore.root_key().public_key
    s.commit()  # verify_store reads in its own transaction
    # The engine, not the session: verify_store leaves stream_results set on a connection it is given.
    report = verify_store(s.get_bind(), root, log_origin=ORIGIN, workers=1)
    assert report is not None
    for batch in (plum, potato_a, potato_b, boxed, bulk, mixed):
        checked = verify_batch(s, batch, root, log_origin=ORIGIN)
        assert checked.entries == checked.signatures == len(t.batches.history(batch))
    before = snapshot(s)
    assert rebuild_projections(s) == 6
    assert snapshot(s) == before
    s.rollback()

    # -- EPCIS 2.0 export of the merged batch and its lineage ------------------------------
    document = export_batch(
        s, mixed, public_base_url="https://trace.wuhua.example.cn", created_at=env.clock()
    )
    errors = sorted(epcis_validator.iter_errors(document), key=str)
    assert errors == [], errors[0].message if errors else ""
    verify_document_event_ids(document)
    events = document["epcisBody"]["eventList"]
    kinds = [e["type"] for e in events]
    assert kinds.count("TransformationEvent") == 2  # the split and the merge, once each
    assert any(e.get("disposition") == "recalled" for e in events)
    assert any(
        "errorDeclaration" in e
        for e in export_batch(
            s, boxed, public_base_url="https://trace.wuhua.example.cn", created_at=env.clock()
        )["epcisBody"]["eventList"]
    )
    plum_doc = export_batch(
        s, plum, public_base_url="https://trace.wuhua.example.cn", created_at=env.clock(), lineage="none"
    )
    assert (
        plum_doc["epcisBody"]["eventList"][0]["quantityList"][0]["epcClass"]
        == "https://trace.wuhua.example.cn/01/06901234567892/10/HP2026-01"
    )
    assert list(epcis_validator.iter_errors(plum_doc)) == []
    split_ids = {e["eventID"] for e in events if e["type"] == "TransformationEvent"}
    alone = export_batch(
        s, potato_a, public_base_url="https://trace.wuhua.example.cn", created_at=env.clock(), lineage="none"
    )
    assert split_ids & {e["eventID"] for e in alone["epcisBody"]["eventList"]}, (
        "an operation hashes the same in every export"
    )
