"""Event payload schemas: units, ranges, required fields, and the exact messages people see."""

from __future__ import annotations

import pytest

from farmtrace.trace.errors import InvalidInput, SchemaInvalid
from farmtrace.trace.events import SCHEMAS, validate_payload
from farmtrace.trace.events import types as t

PESTICIDE = {
    "kind": "pesticide",
    "product_name": "吡虫啉",
    "registration_number": "PD20080123",
    "active_ingredient": "imidacloprid",
    "dose": "1.50",
    "dose_unit": "g/mu",
    "pre_harvest_interval_days": 7,
}
RESULT = {
    "analyte": "镉 Cd",
    "method": "GB 5009.15-2014",
    "value": "0.05",
    "limit": "0.2",
    "unit": "mg/kg",
    "verdict": "pass",
}
LAB = {"sample_id": "S-1", "report_sha256": "ab" * 32, "verdict": "pass", "results": [RESULT]}
TEMPERATURE = {
    "min_celsius": "0",
    "max_celsius": "8",
    "readings": [{"time": "2026-09-01T08:00:00+08:00", "celsius": "3.5"}],
}


def message(event_type: str, payload: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        validate_payload(event_type, payload)
    return caught.value.message


def test_a_valid_payload_comes_back_as_signed_json() -> None:
    assert validate_payload(t.FARMING_INPUT, PESTICIDE) == {**PESTICIDE, "dose": "1.5"}
    assert validate_payload(t.LAB_TESTED, LAB)["results"][0]["value"] == "0.05"
    assert validate_payload(t.HARVESTED, {"quantity": 1200, "unit": "kg"}) == {
        "quantity": "1200",
        "unit": "kg",
    }
    assert (
        validate_payload(t.HARVESTED, {"quantity": "12.500", "unit": "jin", "notes": "  晴  "})["notes"]
        == "晴"
    )


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        (t.FARMING_INPUT, {**PESTICIDE, "dose": "-1"}, "payload.dose: must be greater than 0, found '-1'"),
        (t.FARMING_INPUT, {**PESTICIDE, "dose": "0"}, "payload.dose: must be greater than 0, found '0'"),
        (
            t.FARMING_INPUT,
            {**PESTICIDE, "dose": 1.5},
            'payload.dose: expected a decimal number as a string like "1.5", found the number 1.5 (send decimals as strings)',
        ),
        (
            t.FARMING_INPUT,
            {**PESTICIDE, "dose_unit": "kg/acre"},
            "payload.dose_unit: expected one of g/mu, kg/mu, mL/mu, L/mu, g/ha, kg/ha, mL/ha, L/ha, times, found 'kg/acre'",
        ),
        (
            t.FARMING_INPUT,
            {k: v for k, v in PESTICIDE.items() if k != "product_name"},
            "payload.product_name: is required",
        ),
        (
            t.FARMING_INPUT,
            {k: v for k, v in PESTICIDE.items() if k != "pre_harvest_interval_days"},
            "payload.pre_harvest_interval_days: is required for a pesticide",
        ),
        (
            t.FARMING_INPUT,
            {**PESTICIDE, "pre_harvest_interval_days": 400},
            "payload.pre_harvest_interval_days: must be between 0 and 365, found 400",
        ),
        (
            t.FARMING_INPUT,
            {**PESTICIDE, "pre_harvest_interval_days": "7"},
            "payload.pre_harvest_interval_days: expected a whole number, found '7'",
        ),
        (
            t.FARMING_INPUT,
            {**PESTICIDE, "registration_number": "20080123"},
            "payload.registration_number: expected a pesticide registration number like 'PD20080123', found '20080123'",
        ),
        (t.FARMING_INPUT, {**PESTICIDE, "colour": "red"}, "payload.colour: is not a known field"),
        (
            t.HARVESTED,
            {"quantity": "1e3", "unit": "kg"},
            "payload.quantity: expected a decimal number like \"1.5\", found '1e3'",
        ),
        (
            t.HARVESTED,
            {"quantity": "2000000000", "unit": "kg"},
            "payload.quantity: must be at most 1000000000, found '2000000000'",
        ),
        (
            t.HARVESTED,
            {"quantity": "5", "unit": "pounds"},
            "payload.unit: expected one of g, kg, jin, t, mL, L, piece, box, bag, bottle, jar, carton, crate, found 'pounds'",
        ),
        (
            t.LAB_TESTED,
            {**LAB, "results": [{**RESULT, "unit": "ppm"}]},
            "payload.results[0].unit: expected one of mg/kg, μg/kg, mg/L, μg/L, g/kg, g/100g, g/L, %, %vol, CFU/g, CFU/mL, MPN/100g, pH, found 'ppm'",
        ),
        (
            t.LAB_TESTED,
            {**LAB, "results": [{**RESULT, "value": "0.3"}]},
            "payload.results[0].verdict: expected 'fail': 0.3 mg/kg exceeds the limit 0.2 mg/kg",
        ),
        (
            t.LAB_TESTED,
            {**LAB, "results": [{**RESULT, "value": "0.3", "verdict": "fail"}]},
            "payload.verdict: expected 'fail' because results[0] failed",
        ),
        (
            t.LAB_TESTED,
            {**LAB, "verdict": "fail"},
            "payload.verdict: expected 'pass' because every result passed",
        ),
        (
            t.LAB_TESTED,
            {**LAB, "results": [{**RESULT, "method": "my own method"}]},
            "payload.results[0].method: expected a method standard like 'GB/T 5009.199-2003' or 'NY/T 761-2008', found 'my own method'",
        ),
        (t.LAB_TESTED, {**LAB, "results": []}, "payload.results: expected 1 to 100 items, found 0"),
        (
            t.LAB_TESTED,
            {**LAB, "report_sha256": "report.pdf"},
            "payload.report_sha256: expected 64 lower-case hex digits (the SHA-256 of an uploaded document), found 'report.pdf'",
        ),
        (
            t.TEMPERATURE,
            {**TEMPERATURE, "max_celsius": "0"},
            "payload.max_celsius: must be greater than min_celsius 0, found 0",
        ),
        (
            t.TEMPERATURE,
            {**TEMPERATURE, "readings": [{"time": "2026-09-01T08:00:00+08:00", "celsius": "200"}]},
            "payload.readings[0].celsius: must be at most 80, found '200'",
        ),
        (
            t.TEMPERATURE,
            {**TEMPERATURE, "readings": [{"time": "2026-09-01 08:00", "celsius": "3"}]},
            "payload.readings[0].time: expected a time like 2026-09-01T08:30:00+08:00, found '2026-09-01 08:00'",
        ),
        (
            t.TEMPERATURE,
            {**TEMPERATURE, "readings": [{"time": "2026-09-01T08:00:00", "celsius": "3"}]},
            "payload.readings[0].time: 2026-09-01T08:00:00 has no UTC offset; add one such as +08:00",
        ),
        (
            t.TEMPERATURE,
            {**TEMPERATURE, "readings": TEMPERATURE["readings"] * 1001},
            "payload.readings: expected 1 to 1000 items, found 1001",
        ),
        (
            t.CERTIFICATION_ATTACHED,
            {
                "scheme": "organic",
                "certificate_number": "C-1",
                "issuer": "CQC",
                "valid_from": "2026-01-01",
                "valid_until": "2025-12-31",
            },
            "payload.valid_until: must not be before valid_from 2026-01-01, found 2025-12-31",
        ),
        (
            t.CERTIFICATION_ATTACHED,
            {
                "scheme": "halal",
                "certificate_number": "C-1",
                "issuer": "CQC",
                "valid_from": "2026-01-01",
                "valid_until": "2026-12-31",
            },
            "payload.scheme: expected one of pollution_free, green_food, organic, geographical_indication, found 'halal'",
        ),
        (
            t.BATCH_REGISTERED,
            {"product": "p-1", "lot": "AB#12", "unit": "kg"},
            "payload.lot: Invalid AI (10) value 'AB#12': Expected only GS1 CSET 82 characters, got '#' at position 3.",
        ),
        (
            t.BATCH_REGISTERED,
            {"product": "p-1", "lot": "L" * 21, "unit": "kg"},
            f"payload.lot: Invalid AI (10) value '{'L' * 21}': Expected at most 20 characters, got 21.",
        ),
        (
            t.BATCH_REGISTERED,
            {"product": "p-1", "lot": "L1", "unit": "kg", "producers": ["a-1", "a-1"]},
            "payload.producers: lists the same producer twice",
        ),
        (
            t.HARVESTED,
            {"quantity": "5", "unit": "kg", "notes": "bad\u0000byte"},
            "payload.notes: contains the control character U+0000 at position 4",
        ),
        (
            t.HARVESTED,
            {"quantity": "5", "unit": "kg", "notes": "right-to-left \u202e"},
            "payload.notes: contains the control character U+202E at position 15",
        ),
        (
            t.HARVESTED,
            {"quantity": "5", "unit": "kg", "notes": "x" * 10 * 1024 * 1024},
            "payload.notes: expected at most 500 characters, found 10485760",
        ),
        (
            t.SOLD,
            {"channel": "shop", "order_reference": "订单1", "quantity": "1", "unit": "kg"},
            "payload.order_reference: expected an order reference of 1-64 letters, digits, '.', '_', ':', '/' or '-', found '订单1'",
        ),
        (
            t.HANDED_OFF,
            {"to": "Coop A", "place": "x1"},
            "payload.to: expected 2-48 lower-case letters, digits or '-', like 'coop-longcun', found 'Coop A'",
        ),
        (t.HARVESTED, "1200 kg", "payload: expected an object, found '1200 kg'"),
        (
            "farming.weeding",
            {},
            "type: unknown event type 'farming.weeding'; expected one of " + ", ".join(sorted(SCHEMAS)),
        ),
    ],
)
def test_bad_payloads_name_the_field_and_the_reason(event_type: str, payload: object, expected: str) -> None:
    assert message(event_type, payload) == expected


def test_every_bad_field_is_listed_and_the_first_is_the_message() -> None:
    with pytest.raises(SchemaInvalid) as caught:
        validate_payload(t.HARVESTED, {"quantity": "-5", "unit": "stone", "extra": 1})
    assert caught.value.field == "payload.quantity"
    assert caught.value.message == "payload.quantity: must be greater than 0, found '-5' (and 2 more)"
    assert set(caught.value.errors) == {"payload.quantity", "payload.unit", "payload.extra"}


def test_a_limit_of_kind_min_fails_values_below_it() -> None:
    spirit = {
        "analyte": "酒精度",
        "method": "GB 5009.225-2016",
        "value": "48",
        "limit": "50",
        "limit_kind": "min",
        "unit": "%vol",
        "verdict": "pass",
    }
    assert message(t.LAB_TESTED, {**LAB, "results": [spirit]}) == (
        "payload.results[0].verdict: expected 'fail': 48 %vol is below the minimum 50 %vol"
    )
    assert (
        validate_payload(t.LAB_TESTED, {**LAB, "results": [{**spirit, "value": "52"}]})["verdict"] == "pass"
    )
