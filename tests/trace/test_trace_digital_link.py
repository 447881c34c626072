"""GS1 Digital Link: every shared vector, our own vectors, biip as a second opinion, round trips."""

from __future__ import annotations

import csv
import json

import pytest
from _paths import VECTORS_DIR, reference_dir
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace.trace.errors import DigitalLinkError, InvalidInput
from farmtrace.trace.gs1.charset import CSET82, CSET82_MUST_ENCODE_IN_PATH, uppercase_safe
from farmtrace.trace.gs1.digital_link import DigitalLink, format_digital_link, parse_digital_link

SHARED = reference_dir() / "digital-link" / "dl-uri-vectors.tsv"
OWN = VECTORS_DIR / "trace" / "dl-farmtrace-vectors.json"
DOMAIN = "trace.example.org"
GTIN = "09506000134352"


def _shared_rows() -> list[dict[str, str]]:
    with SHARED.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _shared_rows()
VALID = [r for r in ROWS if r["expected"] == "valid"]
INVALID = [r for r in ROWS if r["expected"] == "invalid"]
OWN_CASES = json.loads(OWN.read_text(encoding="utf-8"))["cases"]


def _biip_element_string(uri: str) -> str:
    parsed = GS1DigitalLinkURI.parse(uri)
    return "".join(f"({es.ai.ai}){es.value}" for es in parsed.element_strings)


def test_shared_vector_counts() -> None:
    assert (len(ROWS), len(VALID), len(INVALID)) == (42, 17, 25)


@pytest.mark.parametrize("row", VALID, ids=[r["id"] for r in VALID])
def test_shared_valid_vector(row: dict[str, str]) -> None:
    link = parse_digital_link(row["uri"])
    assert link.element_string() == row["element_string_or_engine_error"]
    # biip is lenient where the engine is strict, but on valid URIs the two must agree.
    assert _biip_element_string(row["uri"]) == link.element_string()


@pytest.mark.parametrize("row", INVALID, ids=[r["id"] for r in INVALID])
def test_shared_invalid_vector(row: dict[str, str]) -> None:
    with pytest.raises(DigitalLinkError) as caught:
        parse_digital_link(row["uri"])
    message = str(caught.value)
    assert message.startswith(f"Invalid GS1 Digital Link URI {row['uri']!r}: ")
    assert row["element_string_or_engine_error"] in message  # the engine's own wording
    assert caught.value.field == "uri"


@pytest.mark.parametrize("row", VALID, ids=[r["id"] for r in VALID])
def test_shared_valid_vector_round_trips(row: dict[str, str]) -> None:
    link = parse_digital_link(row["uri"])
    again = parse_digital_link(link.to_uri())
    assert again == link


@pytest.mark.parametrize("case", OWN_CASES, ids=[c["id"] for c in OWN_CASES])
def test_own_vector(case: dict[str, str]) -> None:
    if "want" in case:
        link = parse_digital_link(case["uri"])
        assert link.element_string() == case["want"]
        assert parse_digital_link(link.to_uri()) == link
    else:
        with pytest.raises(DigitalLinkError) as caught:
            parse_digital_link(case["uri"])
        assert case["want_err"] in str(caught.value)


def test_parsed_fields() -> None:
    link = parse_digital_link("https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426")
    assert link == DigitalLink(
        stem="https://id.gs1.org",
        key=("01", "09520123456788"),
        qualifiers=(("10", "ABC1"), ("21", "12345")),
        attributes=(("17", "180426"),),
    )
    assert (link.gtin, link.lot, link.serial) == ("09520123456788", "ABC1", "12345")
    assert link.extra == (("17", "180426"),)
    assert link.element_string() == "(01)09520123456788(10)ABC1(21)12345(17)180426"
    assert link.host == "id.gs1.org"


def test_stem_and_other_keys() -> None:
    link = parse_digital_link("HTTPS://A/stem/00/006141411234567890")
    assert (link.stem, link.host, link.gtin, link.lot, link.serial) == (
        "HTTPS://A/stem",
        "a",
        None,
        None,
        None,
    )
    assert link.extra == (("00", "006141411234567890"),)


def test_lot_as_query_attribute_after_235() -> None:
    link = parse_digital_link("https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123")
    assert link.lot == "ABC123"


def test_format_typical_label() -> None:
    uri = format_digital_link(DOMAIN, GTIN, "LOT2025-07A", "000001")
    assert uri == "https://trace.example.org/01/09506000134352/10/LOT2025-07A/21/000001"
    assert parse_digital_link(uri).element_string() == "(01)09506000134352(10)LOT2025-07A(21)000001"


def test_format_normalises_gtin_and_encodes_values() -> None:
    uri = format_digital_link(DOMAIN, "9506000134352", "L/01", "S+1")
    assert uri == "https://trace.example.org/01/09506000134352/10/L%2F01/21/S%2B1"
    assert parse_digital_link(uri).element_string() == "(01)09506000134352(10)L/01(21)S+1"


def test_format_optional_lot_and_serial() -> None:
    assert format_digital_link(DOMAIN, GTIN) == "https://trace.example.org/01/09506000134352"
    assert format_digital_link(DOMAIN, GTIN, serial="7") == "https://trace.example.org/01/09506000134352/21/7"


def test_format_uppercase() -> None:
    uri = format_digital_link(DOMAIN, GTIN, "LOT2025/07", "3T5Y7XMTRC0D1R7PQZ1E", uppercase=True)
    assert uri == "HTTPS://TRACE.EXAMPLE.ORG/01/09506000134352/10/LOT2025%2F07/21/3T5Y7XMTRC0D1R7PQZ1E"
    link = parse_digital_link(uri)
    assert (link.lot, link.serial, link.host) == ("LOT2025/07", "3T5Y7XMTRC0D1R7PQZ1E", DOMAIN)


def test_format_uppercase_refuses_lossy_lot() -> None:
    with pytest.raises(DigitalLinkError) as caught:
        format_digital_link(DOMAIN, GTIN, "lot7", "1", uppercase=True)
    assert str(caught.value) == (
        "Cannot write AI (10) value 'lot7' in an upper-case URI: Expected no lower-case letters, "
        "'_' or '~', got 'lot7'."
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        (
            {"gtin": "09506000134353"},
            "gtin",
            "Invalid GTIN check digit for '09506000134353': Expected 2, got 3.",
        ),
        (
            {"gtin": GTIN, "lot": "A B"},
            "lot",
            "Invalid AI (10) value 'A B': Expected only GS1 CSET 82 characters, got ' ' at position 2.",
        ),
        (
            {"gtin": GTIN, "serial": "S" * 21},
            "serial",
            f"Invalid AI (21) value {'S' * 21!r}: Expected at most 20 characters, got 21.",
        ),
        ({"gtin": GTIN, "lot": ""}, "lot", "Invalid AI (10) value '': Expected 1 to 20 characters, got 0."),
        (
            {"gtin": GTIN, "domain": "https://trace.example.org"},
            "domain",
            "Invalid domain 'https://trace.example.org': Expected a host name of letters, digits, '.' and "
            "'-' with an optional ':port'.",
        ),
    ],
)
def test_format_refuses(kwargs: dict[str, str], field: str, message: str) -> None:
    kwargs = {"domain": DOMAIN, **kwargs}
    with pytest.raises(DigitalLinkError) as caught:
        format_digital_link(**kwargs)
    assert (caught.value.field, str(caught.value)) == (field, message)
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize("char", sorted(CSET82))
def test_percent_encoding_rule(char: str) -> None:
    """A CSET 82 character needs encoding in a path segment iff it is in CSET82_MUST_ENCODE_IN_PATH."""
    value = f"X{char}41"  # "%41" would decode to "A"
    formatted = format_digital_link(DOMAIN, GTIN, value, "1")
    assert parse_digital_link(formatted).lot == value
    raw = f"https://{DOMAIN}/01/{GTIN}/10/{value}/21/1"
    try:
        lot = parse_digital_link(raw).lot
    except DigitalLinkError:
        lot = None
    if char in CSET82_MUST_ENCODE_IN_PATH:
        assert lot != value
    else:
        assert lot == value


cset82_values = st.text(alphabet=sorted(CSET82), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(lot=cset82_values, serial=cset82_values)
def test_format_parse_round_trip_and_biip_agrees(lot: str, serial: str) -> None:
    uri = format_digital_link(DOMAIN, GTIN, lot, serial)
    link = parse_digital_link(uri)
    assert (link.gtin, link.lot, link.serial) == (GTIN, lot, serial)
    assert _biip_element_string(uri) == link.element_string()
    if uppercase_safe(lot) and uppercase_safe(serial):
        upper = format_digital_link(DOMAIN, GTIN, lot, serial, uppercase=True)
        assert upper == uri.upper()
        assert parse_digital_link(upper).elements == link.elements
        assert _biip_element_string(upper) == link.element_string()
    else:
        with pytest.raises(DigitalLinkError):
            format_digital_link(DOMAIN, GTIN, lot, serial, uppercase=True)
