"""Canonical JSON: RFC 8785 output, I-JSON restrictions, strict parsing, messages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace.ledger.canonical import canonical_bytes, parse_json_strict
from farmtrace.ledger.errors import FormatError


def test_rfc8785_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3 example: keys sorted by UTF-16, so U+1F600 (a surrogate pair,
    # 0xD83D...) sorts before U+20AC and after U+00F6.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_bytes(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_canonical_bytes_are_compact_utf8() -> None:
    value = {"product": "苹果", "seq": 3, "ok": True, "note": None, "tags": ["a\n", "\u001f"]}
    assert canonical_bytes(value) == (
        '{"note":null,"ok":true,"product":"苹果","seq":3,"tags":["a\\n","\\u001f"]}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"payload": {"dose": 1.5}},
            r'payload.dose: floating-point number 1.5 is not allowed in ledger JSON; write decimals as strings, e.g. "12.5"',
        ),
        ({"t": float("nan")}, "t: nan is not a JSON number"),
        ({"t": [0, float("-inf")]}, r"t\[1\]: -inf is not a JSON number"),
        (
            {"a": {"b c": [2**53]}},
            r'a\["b c"\]\[0\]: integer 9007199254740992 is outside the I-JSON safe range',
        ),
        (-(2**53), r"\(top level\): integer -9007199254740992 is outside the I-JSON safe range"),
        ({"x": {1: "a"}}, "x: object key 1 has type int, expected str"),
        (
            {"s": "ok\ud800"},
            "s: string contains U\\+D800 at index 2, a lone surrogate with no UTF-8 encoding",
        ),
        ({"\udfff": 1}, r"\(top level\): object key contains U\+DFFF at index 0"),
        ({"when": object()}, "when: object is not a JSON value"),
        ({"b": b"bytes"}, "b: bytes is not a JSON value"),
    ],
)
def test_refusals_name_the_json_path(value: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        canonical_bytes(value)


def test_safe_integer_bounds_are_accepted() -> None:
    assert canonical_bytes([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a":1,"a":2}', "JSON input: duplicate object key 'a'"),
        (b'{"a":NaN}', "JSON input: NaN is not a JSON number"),
        (b"[-Infinity]", "JSON input: -Infinity is not a JSON number"),
        (b'{"dose":1.50}', "JSON input: number 1.50 has a fraction or exponent"),
        (b"[1e3]", "JSON input: number 1e3 has a fraction or exponent"),
        (b'{"a":"\xff"}', r"JSON input: not valid UTF-8 at byte 6 \(byte 0xff\)"),
        (b"\xef\xbb\xbf{}", "JSON input: starts with a UTF-8 byte-order mark"),
        (
            b'{"a":1,}',
            r"JSON input: Expecting property name enclosed in double quotes at line 1 column 8 \(char 7\)",
        ),
        (b'{"a":\n tru}', r"at line 2 column 2 \(char 7\)"),
        (b'{"x": ["\\ud800"]}', r"x\[0\]: string contains U\+D800"),
        (b'{"n": 9007199254740992}', "n: integer 9007199254740992 is outside the I-JSON safe range"),
        (b"[" * 100000, "JSON input: nested too deeply"),
        (b"1" * 5000, "JSON input: Exceeds the limit"),
    ],
)
def test_parse_json_strict_refusals(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_json_strict(data)


def test_parse_json_strict_requires_bytes() -> None:
    with pytest.raises(FormatError, match="JSON input: expected bytes, found str"):
        parse_json_strict("{}")  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_parse_of_canonical_bytes_round_trips(value: object) -> None:
    encoded = canonical_bytes(value)
    assert parse_json_strict(encoded) == value
    assert canonical_bytes(parse_json_strict(encoded)) == encoded
