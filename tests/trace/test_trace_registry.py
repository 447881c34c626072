"""Organisations, places and products: who registers them, the county hierarchy, GTINs,
certificates that expire, the poverty-alleviation flag, and their entries on the ledger."""

from __future__ import annotations

from datetime import date

import pytest
from trace_env import OPERATOR, TraceEnv

from farmtrace.ledger.append import Ledger
from farmtrace.trace.errors import InvalidInput, NotPermitted, RuleViolation


def test_the_operator_bootstraps_once_and_registers_everyone(trace_env: TraceEnv) -> None:
    orgs = trace_env.trace.orgs
    assert orgs.bootstrap_operator({"id": OPERATOR, "name_zh": "五华县"}).id == OPERATOR
    with pytest.raises(RuleViolation) as caught:
        orgs.bootstrap_operator({"id": "other-county", "name_zh": "别县"})
    assert caught.value.message == f"org.id: the operator is already {OPERATOR}"
    orgs.register(OPERATOR, {"id": "coop-a", "kind": "cooperative", "name_zh": "甲合作社"})
    with pytest.raises(NotPermitted) as caught:
        orgs.register("coop-a", {"id": "coop-b", "kind": "cooperative", "name_zh": "乙合作社"})
    assert caught.value.message == "actor: only the county operator may do this; coop-a is a cooperative"
    with pytest.raises(RuleViolation) as caught:
        orgs.register(OPERATOR, {"id": "coop-a", "kind": "cooperative", "name_zh": "甲"})
    assert caught.value.message == "org.id: organisation coop-a already exists"
    entries = Ledger(trace_env.session).entries("orgs")
    assert [(e.entry.type, e.entry.payload["id"]) for e in entries] == [
        ("org.registered", OPERATOR),
        ("org.registered", "coop-a"),
    ]
    assert entries[1].entry.author == OPERATOR
    assert entries[1].entry.payload["key_id"] == trace_env.keystore.signer_for("coop-a").key_id


def test_stations_sit_in_the_county_hierarchy(county: TraceEnv) -> None:
    t = county.trace
    assert [p.id for p in t.places.path("field-a")] == [
        "wuhua",
        "wuhua.hengpi",
        "wuhua.hengpi.xiaping",
        "field-a",
    ]
    with pytest.raises(RuleViolation) as caught:
        t.places.register(
            OPERATOR, {"id": "wuhua.lost", "kind": "village", "name_zh": "迷村", "parent": "wuhua"}
        )
    assert caught.value.message == "place.parent: a village sits in a town; found wuhua, a county"
    with pytest.raises(RuleViolation) as caught:
        t.orgs.register(
            OPERATOR, {"id": "station-x", "kind": "village_station", "name_zh": "站", "place": "wuhua.hengpi"}
        )
    assert (
        caught.value.message
        == "org.place: a village service station sits in a village; wuhua.hengpi is a town"
    )
    with pytest.raises(InvalidInput) as caught:
        t.orgs.register(OPERATOR, {"id": "station-x", "kind": "village_station", "name_zh": "站"})
    assert caught.value.message == "org.place: is required for a village service station"
    with pytest.raises(NotPermitted):
        t.places.register(
            "coop-hengpi", {"id": "wuhua.new", "kind": "town", "name_zh": "新镇", "parent": "wuhua"}
        )
    t.places.register(
        "coop-hengpi",
        {
            "id": "hengpi-orchard-2",
            "kind": "field",
            "name_zh": "二号果园",
            "latitude": "23.9",
            "longitude": "115.8",
        },
    )
    with pytest.raises(InvalidInput) as caught:
        t.places.register(
            OPERATOR, {"id": "bad-gps", "kind": "field", "name_zh": "x", "latitude": "95", "longitude": "115"}
        )
    assert caught.value.message == "place.latitude: must be at most 90, found '95'"


def test_poverty_flag_is_for_households_and_stays_off_the_ledger(county: TraceEnv) -> None:
    t = county.trace
    with pytest.raises(InvalidInput) as caught:
        t.orgs.register(
            OPERATOR, {"id": "coop-z", "kind": "cooperative", "name_zh": "丙", "poverty_household": True}
        )
    assert (
        caught.value.message
        == "org.poverty_household: only a producer household can be a registered poverty-alleviation household"
    )
    registration = next(
        e for e in Ledger(county.session).entries("orgs") if e.entry.payload["id"] == "household-li"
    )
    assert "poverty_household" not in registration.entry.payload
    assert t.orgs.get("household-li").poverty_household is True
    stats = t.orgs.poverty_statistics()
    assert (stats.households, stats.with_public_mark) == (1, 0)


def test_products_gtins_and_certificates(county: TraceEnv) -> None:
    t = county.trace
    product = t.products.register(
        "coop-hengpi",
        {"id": "plum", "name_zh": "三华李", "category": "fruit", "unit": "kg", "gtin": "06901234567892"},
    )
    assert product.gtin == "06901234567892"
    with pytest.raises(RuleViolation) as caught:
        t.products.register(
            "coop-changbu",
            {"id": "plum-2", "name_zh": "李", "category": "fruit", "unit": "kg", "gtin": "6901234567892"},
        )
    assert caught.value.message == "product.gtin: GTIN 06901234567892 is already used by product plum"
    with pytest.raises(NotPermitted):
        t.products.register(
            "coop-changbu",
            {"id": "plum-3", "owner": "coop-hengpi", "name_zh": "李", "category": "fruit", "unit": "kg"},
        )
    with pytest.raises(RuleViolation) as caught:
        t.products.register(
            OPERATOR,
            {"id": "plum-4", "owner": "lab-meizhou", "name_zh": "李", "category": "fruit", "unit": "kg"},
        )
    assert caught.value.message == "product.owner: a testing lab does not own products"
    certificate = {
        "scheme": "organic",
        "certificate_number": "OC-2026-1",
        "issuer": "中绿华夏有机产品认证中心",
        "valid_from": "2026-01-01",
        "valid_until": "2026-06-30",
    }
    t.products.add_certificate("coop-hengpi", "plum", certificate)
    with pytest.raises(NotPermitted):
        t.products.add_certificate("coop-changbu", "plum", {**certificate, "certificate_number": "OC-2"})
    assert [c.valid for c in t.products.certificates("plum", on=date(2026, 6, 30))] == [True]
    assert [c.valid for c in t.products.certificates("plum", on=date(2026, 7, 1))] == [False]
    view = t.products.certificates("plum", on=date(2026, 3, 1))[0].to_json()
    assert view["scheme_name_zh"] == "有机产品" and view["valid"] is True
    assert [e.entry.type for e in Ledger(county.session).entries("products")] == [
        "product.registered",
        "product.certified",
    ]
