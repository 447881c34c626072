"""EPCIS Event Hash ID: the published vectors, and the canonicalisation rules one by one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _paths import reference_dir

from farmtrace.trace.epcis.epc_uri import canonical_gs1_uri, gs1_check_digit
from farmtrace.trace.epcis.event_hash import (
    event_hash_id,
    hash_id_of_prehash,
    prehash_string,
    verify_event_hash_id,
)
from farmtrace.trace.epcis.hash_values import canonical_number, normalise_timestamp
from farmtrace.trace.errors import EpcisInputError, EventHashMismatch

VECTOR_DIR = reference_dir() / "epcis-hash"
VECTOR_NAMES = (
    "ReferenceEventHashAlgorithm",
    "ReferenceEventHashAlgorithm2",
    "ReferenceEventHashAlgorithm3",
    "epcisDocWithSingleEvent",
    "epcisDocWithSensorDataObjectEvent",
    "epcisDocWithShippingAndTransportingEvent",
    "TimeStampRoundOff",
    "epclist_normalisation",
    "persistentDisposition",
    "epcisDocWithVariousEventTypes",
)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _vector_cases() -> list[pytest.param]:
    cases = []
    for name in VECTOR_NAMES:
        document = json.loads((VECTOR_DIR / f"{name}.jsonld").read_text(encoding="utf-8"))
        events = document["epcisBody"]["eventList"]
        prehashes = _lines(VECTOR_DIR / f"{name}.prehashes")
        hashes = _lines(VECTOR_DIR / f"{name}.hashes")
        assert len(events) == len(prehashes) == len(hashes), name
        for i, event in enumerate(events):
            cases.append(
                pytest.param(document["@context"], event, prehashes[i], hashes[i], id=f"{name}[{i}]")
            )
    return cases


VECTOR_CASES = _vector_cases()


def test_all_26_vector_events_are_collected() -> None:
    assert len(VECTOR_CASES) == 26


@pytest.mark.parametrize(("context", "event", "want_prehash", "want_hash"), VECTOR_CASES)
def test_prehash_string_matches_vector(
    context: object, event: dict, want_prehash: str, want_hash: str
) -> None:
    assert prehash_string(event, context) == want_prehash


@pytest.mark.parametrize(("context", "event", "want_prehash", "want_hash"), VECTOR_CASES)
def test_event_hash_id_matches_vector(
    context: object, event: dict, want_prehash: str, want_hash: str
) -> None:
    assert event_hash_id(event, context) == want_hash
    assert hash_id_of_prehash(want_prehash) == want_hash


def _single_event() -> tuple[object, dict]:
    document = json.loads((VECTOR_DIR / "epcisDocWithSingleEvent.jsonld").read_text(encoding="utf-8"))
    return document["@context"], document["epcisBody"]["eventList"][0]


def test_hash_ignores_field_order_record_time_event_id_and_error_declaration() -> None:
    context, event = _single_event()
    reordered = dict(reversed(list(event.items())))
    reordered["epcList"] = list(reversed(event["epcList"]))
    reordered["recordTime"] = "2030-01-01T00:00:00Z"
    reordered["eventID"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    reordered["errorDeclaration"] = {"declarationTime": "2030-01-01T00:00:00Z", "reason": "incorrect_data"}
    assert event_hash_id(reordered, context) == event_hash_id(event, context)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("disposition", "damaged"),
        ("eventTime", "2022-02-16T20:33:31.117-06:00"),
        ("epcList", ["urn:epc:id:sgtin:0614141.107346.2017"]),
        ("readPoint", {"id": "urn:epc:id:sgln:0614141.07346.1235"}),
    ],
)
def test_hash_changes_when_a_field_changes(field: str, value: object) -> None:
    context, event = _single_event()
    assert event_hash_id({**event, field: value}, context) != event_hash_id(event, context)


def test_hash_changes_when_an_extension_is_added() -> None:
    context, event = _single_event()
    context = [*context, {"ex": "https://ns.example.com/epcis/"}]
    assert event_hash_id({**event, "ex:note": "x"}, context) != event_hash_id(event, context)


def test_same_timestamp_in_other_offset_hashes_the_same() -> None:
    context, event = _single_event()
    utc = {**event, "eventTime": "2022-02-17T02:33:31.116Z"}
    assert event_hash_id(utc, context) == event_hash_id(event, context)


def test_verify_event_hash_id() -> None:
    context, event = _single_event()
    good = {**event, "eventID": event_hash_id(event, context)}
    assert verify_event_hash_id(good, context) is None
    bad = {**good, "disposition": "damaged"}
    with pytest.raises(EventHashMismatch, match=r"eventID of ObjectEvent at .*: expected ni:///sha-256;"):
        verify_event_hash_id(bad, context)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2023-02-02T11:04:03.1415Z", "2023-02-02T11:04:03.142Z"),
        ("2023-02-02T11:04:03.1414Z", "2023-02-02T11:04:03.141Z"),
        ("2023-02-02T11:04:03.1425Z", "2023-02-02T11:04:03.142Z"),  # half to even
        ("2023-02-02T11:04:03.9995+01:00", "2023-02-02T10:04:04.000Z"),  # carries into seconds
        ("2020-04-01T15:00:00+01:00", "2020-04-01T14:00:00.000Z"),
        ("2020-04-01T15:00+08:00", "2020-04-01T07:00:00.000Z"),
        ("2022-02-16T20:33:31.116000-06:00", "2022-02-17T02:33:31.116Z"),
    ],
)
def test_normalise_timestamp(text: str, want: str) -> None:
    assert normalise_timestamp("eventTime", text) == want


@pytest.mark.parametrize("text", ["2020-04-01T15:00:00", "22-07-2026", "2020-02-30T00:00:00Z"])
def test_normalise_timestamp_refuses_what_names_no_instant(text: str) -> None:
    with pytest.raises(EpcisInputError) as info:
        normalise_timestamp("eventTime", text)
    assert info.value.field == "eventTime"
    assert repr(text) in info.value.message


def test_event_time_without_offset_is_refused_with_field_name() -> None:
    context, event = _single_event()
    with pytest.raises(
        EpcisInputError, match=r"^eventTime: expected an RFC 3339 date-time with a UTC offset"
    ):
        prehash_string({**event, "eventTime": "2022-02-16T20:33:31"}, context)


def test_null_value_is_refused() -> None:
    context, event = _single_event()
    with pytest.raises(
        EpcisInputError, match=r"^disposition: expected a string, number or boolean, found None$"
    ):
        prehash_string({**event, "disposition": None}, context)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("26.0", "26"),
        ("0.050", "0.05"),
        ("+12", "12"),
        ("007", "7"),
        ("1e3", "1000"),
        ("12a", "12a"),
        ("-0.5", "-0.5"),
    ],
)
def test_canonical_number(text: str, want: str) -> None:
    assert canonical_number(text) == want


@pytest.mark.parametrize(
    ("uri", "want"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
        ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
        (
            "https://trace.example.cn/01/06901234567892/10/L1/21/ABC",
            "https://id.gs1.org/01/06901234567892/21/ABC",
        ),
        ("https://trace.example.cn/01/6901234567892/10/L1", "https://id.gs1.org/01/06901234567892/10/L1"),
        (
            "https://trace.example.cn/01/06901234567892/22/V1/10/L1?x=1",
            "https://id.gs1.org/01/06901234567892/10/L1",
        ),
        ("https://trace.example.cn/batch/B-1", None),
        ("https://trace.example.cn/01/06901234567892/21/A%2FB", None),  # '%' is outside the constrained set
        ("urn:epc:id:sgtin:0614141.10734.2017", None),  # company prefix + item reference must be 13 digits
        ("geo:47.506694,11.104301", None),
    ],
)
def test_canonical_gs1_uri(uri: str, want: str | None) -> None:
    assert canonical_gs1_uri(uri) == want


def test_gs1_check_digit() -> None:
    assert gs1_check_digit("690123456789") == "2"
    assert gs1_check_digit("1061414107346") == "4"
