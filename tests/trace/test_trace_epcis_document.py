"""EPCIS 2.0 documents built for a small season validate against the GS1 JSON Schema, strictly."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from _paths import reference_dir
from jsonschema import Draft7Validator

from farmtrace.trace.epcis.document import (
    BizTransaction,
    ObjectEvent,
    QuantityElement,
    SensorElement,
    SensorReport,
    SourceDestination,
    TransformationEvent,
    build_document,
    verify_document_event_ids,
)
from farmtrace.trace.epcis.event_hash import event_hash_id
from farmtrace.trace.epcis.identifiers import batch_class_uri, farmtrace_namespace, item_uri
from farmtrace.trace.errors import EpcisInputError, EventHashMismatch

EPCIS_DIR = reference_dir() / "epcis"
DOMAIN = "trace.example-county.cn"
NS = farmtrace_namespace(DOMAIN)
GTIN = "06901234567892"
CST = timezone(timedelta(hours=8))
PLOT = f"https://{DOMAIN}/place/coop-17/plot-3"
PACKHOUSE = f"https://{DOMAIN}/place/coop-17/packhouse"
COUNTY_WAREHOUSE = f"https://{DOMAIN}/place/county-warehouse"
LOT = batch_class_uri(DOMAIN, "B2025-0042", gtin=GTIN, lot="2025NQ42")
LOT_A = batch_class_uri(DOMAIN, "B2025-0042-A", gtin=GTIN, lot="2025NQ42A")
LOT_B = batch_class_uri(DOMAIN, "B2025-0042-B", gtin=GTIN, lot="2025NQ42B")
NO_GTIN_BATCH = batch_class_uri(DOMAIN, "B2025-0043")


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads((EPCIS_DIR / "epcis-json-schema-2.0.1.json").read_text(encoding="utf-8"))
    checker = Draft7Validator.FORMAT_CHECKER
    # Without these two packages jsonschema silently skips the formats.
    assert {"uri", "date-time"} <= set(checker.checkers)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=checker)


def season_events() -> list[ObjectEvent | TransformationEvent]:
    return [
        ObjectEvent(  # farming input on the plot
            event_time=datetime(2025, 4, 12, 9, 30, tzinfo=CST),
            action="OBSERVE",
            biz_step=f"{NS}BizStep-applying_input",
            quantity_list=(QuantityElement(LOT),),
            read_point=PLOT,
            extensions={
                "input": {"kind": "fertiliser", "product": "复合肥 15-15-15", "amount": 25, "unit": "kg"},
                "operator": "张三",
            },
        ),
        ObjectEvent(  # harvest registers the batch
            event_time=datetime(2025, 6, 1, 7, 0, tzinfo=CST),
            action="ADD",
            biz_step="commissioning",
            disposition="active",
            quantity_list=(QuantityElement(LOT, Decimal("1200.0"), "KGM"),),
            read_point=PLOT,
            biz_location=PACKHOUSE,
            ilmd={
                "harvestDate": date(2025, 6, 1),
                "cbvmda:bestBeforeDate": date(2025, 6, 20),
                "variety": "脐橙",
            },
        ),
        ObjectEvent(  # lab test, the report as a business document
            event_time=datetime(2025, 6, 2, 15, 45, 12, 345000, tzinfo=CST),
            action="OBSERVE",
            biz_step="inspecting",
            disposition="conformant",
            quantity_list=(QuantityElement(LOT),),
            read_point=f"https://{DOMAIN}/org/county-lab",
            biz_transactions=(BizTransaction(f"https://{DOMAIN}/lab-report/R-2025-0611", "testres"),),
            extensions={
                "results": [
                    {
                        "analyte": "毒死蜱",
                        "method": "GB 23200.113-2018",
                        "limit": 0.5,
                        "value": 0.01,
                        "unit": "mg/kg",
                    },
                    {
                        "analyte": "克百威",
                        "method": "GB 23200.113-2018",
                        "limit": 0.02,
                        "value": 0,
                        "unit": "mg/kg",
                    },
                ],
                "verdict": "pass",
            },
        ),
        TransformationEvent(  # split into two lots
            event_time=datetime(2025, 6, 3, 10, 0, tzinfo=CST),
            biz_step="repackaging",
            input_quantity_list=(QuantityElement(LOT, 1200, "KGM"),),
            output_quantity_list=(QuantityElement(LOT_A, 700, "KGM"), QuantityElement(LOT_B, 500, "KGM")),
            read_point=PACKHOUSE,
            extensions={"lineage": "split"},
        ),
        ObjectEvent(  # packing: item codes issued for lot A
            event_time=datetime(2025, 6, 3, 14, 0, tzinfo=CST),
            action="ADD",
            biz_step="packing",
            epc_list=tuple(item_uri(DOMAIN, GTIN, f"K7Q{n}X", lot="2025NQ42A") for n in range(3)),
            read_point=PACKHOUSE,
        ),
        ObjectEvent(  # cold-chain leg to the county warehouse, with temperatures
            event_time=datetime(2025, 6, 4, 6, 30, tzinfo=CST),
            action="OBSERVE",
            biz_step="transporting",
            disposition="in_transit",
            quantity_list=(QuantityElement(LOT_A, 700, "KGM"),),
            read_point="geo:25.8312,114.9336",
            sources=(SourceDestination("location", PACKHOUSE),),
            destinations=(SourceDestination("location", COUNTY_WAREHOUSE),),
            sensor_elements=tuple(
                SensorElement(
                    time=datetime(2025, 6, 4, 5 + i, 0, tzinfo=CST),
                    device_id=f"https://{DOMAIN}/device/truck-9-logger",
                    reports=(
                        SensorReport("Temperature", value=celsius, uom="CEL"),
                        SensorReport("RelativeHumidity", value=88.5, uom="P1"),
                    ),
                )
                for i, celsius in enumerate((3.8, 4.25))
            ),
        ),
        ObjectEvent(  # a product without a GTIN, named by our own batch URI
            event_time=datetime(2025, 6, 5, 8, 0, tzinfo=UTC),
            action="OBSERVE",
            biz_step="receiving",
            disposition="in_progress",
            quantity_list=(QuantityElement(NO_GTIN_BATCH, 80, "KGM"),),
            biz_location=COUNTY_WAREHOUSE,
        ),
        ObjectEvent(  # recall of lot A
            event_time=datetime(2025, 6, 9, 18, 0, tzinfo=CST),
            action="OBSERVE",
            biz_step="holding",
            disposition="recalled",
            persistent_disposition_set=("recalled",),
            quantity_list=(QuantityElement(LOT_A),),
            extensions={"recall": {"id": "RC-2025-007", "reason": "抽检复核不合格"}},
        ),
    ]


@pytest.fixture(scope="module")
def season() -> dict:
    created = datetime(2025, 6, 10, 12, 0, tzinfo=CST)
    return build_document(season_events(), f"https://{DOMAIN}/org/coop-17", created, domain=DOMAIN)


def test_season_document_validates(validator: Draft7Validator, season: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(season)]
    assert errors == []


def test_season_document_shape(season: dict) -> None:
    assert season["@context"] == [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"ft": f"https://{DOMAIN}/ns/farmtrace/", "cbvmda": "urn:epcglobal:cbv:mda:"},
    ]
    events = season["epcisBody"]["eventList"]
    assert [e["type"] for e in events].count("TransformationEvent") == 1
    harvest = events[1]
    assert harvest["quantityList"] == [
        {"epcClass": f"https://{DOMAIN}/01/{GTIN}/10/2025NQ42", "quantity": 1200, "uom": "KGM"}
    ]
    assert harvest["ilmd"] == {
        "ft:harvestDate": "2025-06-01",
        "cbvmda:bestBeforeDate": "2025-06-20",
        "ft:variety": "脐橙",
    }
    assert harvest["eventTime"] == "2025-06-01T07:00:00.000+08:00"
    assert harvest["eventTimeZoneOffset"] == "+08:00"
    assert events[4]["epcList"][0] == f"https://{DOMAIN}/01/{GTIN}/10/2025NQ42A/21/K7Q0X"
    assert events[5]["sensorElementList"][1]["sensorReport"][0] == {
        "type": "Temperature",
        "value": 4.25,
        "uom": "CEL",
    }
    assert events[6]["quantityList"][0]["epcClass"] == f"https://{DOMAIN}/batch/B2025-0043"
    assert events[7]["persistentDisposition"] == {"set": ["recalled"]}
    assert events[7]["ft:recall"] == {"ft:id": "RC-2025-007", "ft:reason": "抽检复核不合格"}


def test_every_event_id_is_recomputable_from_the_document(season: dict) -> None:
    reread = json.loads(json.dumps(season, ensure_ascii=False))
    assert verify_document_event_ids(reread) is None
    for event in reread["epcisBody"]["eventList"]:
        body = {k: v for k, v in event.items() if k != "eventID"}
        assert event["eventID"] == event_hash_id(body, reread["@context"])
        assert event["eventID"].startswith("ni:///sha-256;") and event["eventID"].endswith("?ver=CBV2.0")
    ids = [e["eventID"] for e in reread["epcisBody"]["eventList"]]
    assert len(set(ids)) == len(ids)


def test_event_ids_do_not_depend_on_our_domain_for_gs1_identifiers() -> None:
    events = season_events()[4:5]  # item-level Digital Link URIs only
    here = build_document(events, "urn:x:a", datetime(2025, 6, 10, tzinfo=UTC), domain=DOMAIN)
    there = json.loads(json.dumps(here).replace(f"https://{DOMAIN}/01/", "https://id.gs1.org/01/"))
    assert verify_document_event_ids(there) is None


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("disposition",), "damaged"),
        (("quantityList", 0, "quantity"), 1201),
        (("ilmd", "ft:variety"), "蜜橘"),
        (("eventTime",), "2025-06-01T07:00:00.001+08:00"),
    ],
)
def test_tampered_event_fails_verification(season: dict, path: tuple, value: object) -> None:
    tampered = copy.deepcopy(season)
    target = tampered["epcisBody"]["eventList"][1]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(EventHashMismatch, match=r"^eventID of ObjectEvent at 2025-06-01T07:00:00"):
        verify_document_event_ids(tampered)


def _reference_documents(folder: str) -> list[Path]:
    return sorted((EPCIS_DIR / folder).iterdir())


@pytest.mark.parametrize("path", _reference_documents("examples"), ids=lambda p: p.name)
def test_gs1_examples_validate(validator: Draft7Validator, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(document)] == []


INVALID_ERRORS = {
    "EPCISDocument_without_context.json": "'@context' is a required property",
    "ObjectEvent_with_invalid_action.json": "'CREATE' is not one of ['OBSERVE', 'ADD', 'DELETE']",
    "ObjectEvent_with_invalid_eventTime_format.json": "'22-07-2026' is not a 'date-time'",
    "ObjectEvent_without_action_and_eventTime.json": "'eventTime' is a required property",
    "ObjectEvent_without_identifier_list.json": "is not valid under any of the given schemas",
}


def test_all_invalid_documents_are_named() -> None:
    assert {p.name for p in _reference_documents("invalid")} == set(INVALID_ERRORS)


@pytest.mark.parametrize("path", _reference_documents("invalid"), ids=lambda p: p.name)
def test_invalid_documents_fail(validator: Draft7Validator, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    messages = [e.message for e in validator.iter_errors(document)]
    messages += [c.message for e in validator.iter_errors(document) for c in e.context or ()]
    assert any(INVALID_ERRORS[path.name] in m for m in messages), messages


def _harvest(**changes: object) -> ObjectEvent:
    fields = {
        "event_time": datetime(2025, 6, 1, 7, 0, tzinfo=CST),
        "action": "ADD",
        "biz_step": "commissioning",
        "quantity_list": (QuantityElement(LOT, 1200, "KGM"),),
    }
    return ObjectEvent(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"event_time": datetime(2025, 6, 1, 7, 0)},
            "eventTime",
            "eventTime: expected a datetime with a UTC offset, found naive 2025-06-01T07:00:00",
        ),
        ({"action": "CREATE"}, "action", "action: expected one of ADD, OBSERVE, DELETE, found 'CREATE'"),
        (
            {"biz_step": "harvesting"},
            "bizStep",
            "bizStep 'harvesting' is neither a CBV 2.0 term (e.g. 'accepting') nor a URI of a private vocabulary",
        ),
        (
            {"quantity_list": (QuantityElement(LOT, 5, "kg"),)},
            "quantityList.uom",
            "quantityList.uom: expected a UN/ECE Rec 20 unit code like 'KGM', found 'kg'",
        ),
        (
            {"quantity_list": (QuantityElement(LOT, float("nan"), "KGM"),)},
            "quantityList.quantity",
            "quantityList.quantity: expected a finite number, found nan",
        ),
        (
            {"read_point": "https://trace.example-county.cn/地块/3"},
            "readPoint.id",
            "readPoint.id: expected an absolute ASCII URI, found 'https://trace.example-county.cn/地块/3'",
        ),
        ({"quantity_list": ()}, "epcList", "ObjectEvent: expected epc_list or quantity_list, found neither"),
        (
            {"extensions": {"operator name": "x"}},
            "extensions",
            "extensions: expected an extension name like 'labReportNo', found 'operator name'",
        ),
        (
            {"extensions": {"note": None}},
            "note",
            "note: expected text, a number, a date, an object or a list, found None",
        ),
        (
            {"ilmd": {"packedAt": datetime(2025, 6, 1, 7, 0)}},
            "ilmd.packedAt",
            "ilmd.packedAt: expected a datetime with a UTC offset, found naive 2025-06-01T07:00:00",
        ),
    ],
)
def test_builder_misuse_names_the_field(changes: dict, field: str, message: str) -> None:
    with pytest.raises(EpcisInputError) as info:
        build_document([_harvest(**changes)], "urn:x:a", datetime(2025, 6, 10, tzinfo=UTC), domain=DOMAIN)
    assert (info.value.field, info.value.message) == (field, message)


def test_naive_creation_date_is_refused() -> None:
    with pytest.raises(EpcisInputError) as info:
        build_document([_harvest()], "urn:x:a", datetime(2025, 6, 10), domain=DOMAIN)
    assert info.value.field == "creationDate"


def test_transformation_needs_inputs_and_outputs() -> None:
    event = TransformationEvent(
        event_time=datetime(2025, 6, 3, tzinfo=CST), input_quantity_list=(QuantityElement(LOT, 1, "KGM"),)
    )
    with pytest.raises(EpcisInputError, match=r"^TransformationEvent: expected inputs and outputs"):
        build_document([event], "urn:x:a", datetime(2025, 6, 10, tzinfo=UTC), domain=DOMAIN)


# The eventIDs PyPI epcis-event-hash-generator 1.9.3 (the reference implementation that
# made the published vectors) computes for the season document, run as
# `python -m epcis_event_hash_generator -a sha256 season.jsonld`.
REFERENCE_SEASON_EVENT_IDS = [
    "ni:///sha-256;e4e3a7ecae69a161cbdd60005bc9b8b3ed843e9e5da407ef0f109c231bdfd9bf?ver=CBV2.0",
    "ni:///sha-256;b7ed890216fa5a8902b176cbabd8da73b9f696310787560ef962e8a58c419ae7?ver=CBV2.0",
    "ni:///sha-256;44d91792424d75451a8a8293c9a882b06def56b0c1c4a3bd27cc89796e112f13?ver=CBV2.0",
    "ni:///sha-256;8731035688315061207f3da8e0261da943d453a444db71c6e6b217cbaa4d3584?ver=CBV2.0",
    "ni:///sha-256;ca012b77b5f3f8ccf2caf5fc7169ce6d356bc15e7268807698a0f2aa0a44c866?ver=CBV2.0",
    "ni:///sha-256;821ec6ef7421a73f880c431c1b5f578999d1935812982440a4704499c4aff19e?ver=CBV2.0",
    "ni:///sha-256;49d00df58e6ef08d98ad7681ead5e5c42815b9af6005e846e4b0dbb0b24c085a?ver=CBV2.0",
    "ni:///sha-256;d94cfd998911efd6954aada1e47c8fb8c2873195f4cdcfa9ed2d1571133ddfce?ver=CBV2.0",
]


def test_season_event_ids_equal_the_reference_implementations(season: dict) -> None:
    assert [e["eventID"] for e in season["epcisBody"]["eventList"]] == REFERENCE_SEASON_EVENT_IDS


def test_extension_text_equal_to_a_used_cbv_term_is_refused() -> None:
    recall = season_events()[-1]
    noted = ObjectEvent(
        event_time=recall.event_time,
        action="OBSERVE",
        quantity_list=recall.quantity_list,
        extensions={"status": "recalled"},
    )
    with pytest.raises(EpcisInputError) as info:
        build_document([recall, noted], "urn:x:a", datetime(2025, 6, 10, tzinfo=UTC), domain=DOMAIN)
    assert info.value.field == "ft:status"
    assert info.value.message.startswith(
        "ft:status: the text 'recalled' is also a vocabulary term of this document "
        "(https://ref.gs1.org/cbv/Disp-recalled)"
    )
    # Alone, without an event that uses the term, the same text is fine.
    build_document([noted], "urn:x:a", datetime(2025, 6, 10, tzinfo=UTC), domain=DOMAIN)


def test_boolean_extension_is_refused() -> None:
    with pytest.raises(EpcisInputError) as info:
        build_document(
            [_harvest(extensions={"organic": True})],
            "urn:x:a",
            datetime(2025, 6, 10, tzinfo=UTC),
            domain=DOMAIN,
        )
    assert (info.value.field, info.value.message) == (
        "organic",
        "organic: expected text such as 'true' instead of the boolean True",
    )


def test_uri_format_is_really_checked(validator: Draft7Validator, season: dict) -> None:
    broken = copy.deepcopy(season)
    broken["epcisBody"]["eventList"][1]["readPoint"]["id"] = "plot 3"
    assert any("is not a 'uri'" in e.message for e in validator.iter_errors(broken))
