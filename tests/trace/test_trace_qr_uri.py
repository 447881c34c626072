"""The URI a label carries: short form, upper-case rule, scan dispatch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace.trace.errors import DigitalLinkError
from farmtrace.trace.gs1.charset import CSET82, uppercase_safe
from farmtrace.trace.gs1.digital_link import DigitalLink, parse_digital_link
from farmtrace.trace.gs1.qr_uri import (
    QR_ALPHANUMERIC,
    ShortLink,
    format_short_uri,
    parse_scan_uri,
    parse_short_uri,
    qr_uri,
)

DOMAIN = "trace.example.org"
GTIN = "09506000134352"
SERIAL = "3T5Y7XMTRC0D1R7PQZ1E"


def test_short_uri_both_cases() -> None:
    assert format_short_uri(DOMAIN, SERIAL) == f"https://trace.example.org/c/{SERIAL}"
    assert format_short_uri(DOMAIN, SERIAL, uppercase=True) == f"HTTPS://TRACE.EXAMPLE.ORG/C/{SERIAL}"
    for uri in (format_short_uri(DOMAIN, SERIAL), format_short_uri(DOMAIN, SERIAL, uppercase=True)):
        link = parse_short_uri(uri)
        assert (link.serial, link.host) == (SERIAL, DOMAIN)
        assert parse_short_uri(link.to_uri()) == link


@pytest.mark.parametrize(
    "uri",
    [
        f"http://trace.example.org/c/{SERIAL}",
        f"https://trace.example.org:8443/c/{SERIAL}",
        f"https://trace.example.org/c/{SERIAL}?from=singlemessage&isappinstalled=0",
        f"https://trace.example.org/C/{SERIAL}#x",
        f"https://TRACE.example.org/c/{SERIAL}",
    ],
)
def test_short_uri_accepts(uri: str) -> None:
    assert parse_short_uri(uri).serial == SERIAL


@pytest.mark.parametrize(
    "uri",
    [
        f"https://trace.example.org/c/{SERIAL}/",
        f"https://trace.example.org/x/{SERIAL}",
        f"https://trace.example.org/c/c/{SERIAL}",
        "https://trace.example.org/c/",
        f"Https://trace.example.org/c/{SERIAL}",
        f"ftp://trace.example.org/c/{SERIAL}",
        f"https:///c/{SERIAL}",
    ],
)
def test_short_uri_refuses_shape(uri: str) -> None:
    with pytest.raises(DigitalLinkError) as caught:
        parse_short_uri(uri)
    assert str(caught.value) == (
        f"Invalid short URI {uri!r}: Expected 'https://DOMAIN/c/SERIAL' (scheme all lower or all upper case), "
        f"got {uri!r}."
    )


def test_short_uri_refuses_bad_serial_value() -> None:
    uri = "https://trace.example.org/c/A%20B"
    with pytest.raises(DigitalLinkError) as caught:
        parse_short_uri(uri)
    assert str(caught.value) == (
        f"Invalid short URI {uri!r}: Invalid AI (21) value 'A B': Expected only GS1 CSET 82 characters, "
        "got ' ' at position 2."
    )
    with pytest.raises(DigitalLinkError):
        parse_short_uri("https://trace_example.org/c/1")


def test_format_short_uri_refuses_lossy_uppercase() -> None:
    with pytest.raises(DigitalLinkError, match="Cannot write serial 'abc' in an upper-case URI"):
        format_short_uri(DOMAIN, "abc", uppercase=True)


def test_qr_uri_picks_the_form() -> None:
    assert qr_uri(DOMAIN, SERIAL) == f"HTTPS://TRACE.EXAMPLE.ORG/C/{SERIAL}"
    assert qr_uri(DOMAIN, SERIAL, gtin="9506000134352", lot="LOT2025-07A") == (
        f"HTTPS://TRACE.EXAMPLE.ORG/01/09506000134352/10/LOT2025-07A/21/{SERIAL}"
    )
    # A lower-case lot keeps the whole URI in its written case.
    assert qr_uri(DOMAIN, SERIAL, gtin=GTIN, lot="lot7") == (
        f"https://trace.example.org/01/09506000134352/10/lot7/21/{SERIAL}"
    )
    with pytest.raises(DigitalLinkError, match="Cannot put lot 'L1' in a short URI"):
        qr_uri(DOMAIN, SERIAL, lot="L1")


def test_parse_scan_uri_dispatches() -> None:
    assert parse_scan_uri(f"HTTPS://TRACE.EXAMPLE.ORG/C/{SERIAL}") == ShortLink(
        "HTTPS://TRACE.EXAMPLE.ORG", SERIAL
    )
    link = parse_scan_uri(f"https://trace.example.org/01/{GTIN}/21/{SERIAL}")
    assert isinstance(link, DigitalLink)
    assert link.serial == SERIAL
    # A path stem called "c" in front of a Digital Link is still a Digital Link.
    assert isinstance(parse_scan_uri(f"https://trace.example.org/c/01/{GTIN}"), DigitalLink)
    with pytest.raises(DigitalLinkError):
        parse_scan_uri("https://trace.example.org/about")


@pytest.mark.parametrize("char", sorted(CSET82))
def test_uppercase_rule_per_character(char: str) -> None:
    """qr_uri upper-cases iff that is lossless; when it does, every character is QR alphanumeric."""
    lot = f"L{char}1"
    uri = qr_uri(DOMAIN, SERIAL, gtin=GTIN, lot=lot)
    assert parse_digital_link(uri).lot == lot
    if uppercase_safe(lot):
        assert uri == uri.upper()
        assert set(uri) <= QR_ALPHANUMERIC
    else:
        # Upper-casing would either change the lot or leave a character QR alphanumeric
        # mode cannot hold, so the URI stays as written.
        assert uri.startswith("https://")
        upper = uri.upper()
        assert parse_digital_link(upper).lot != lot or not set(upper) <= QR_ALPHANUMERIC


@settings(max_examples=200, deadline=None)
@given(lot=st.text(alphabet=sorted(CSET82), min_size=1, max_size=20))
def test_qr_uri_round_trip(lot: str) -> None:
    uri = qr_uri(DOMAIN, SERIAL, gtin=GTIN, lot=lot)
    link = parse_scan_uri(uri)
    assert isinstance(link, DigitalLink)
    assert (link.gtin, link.lot, link.serial) == (GTIN, lot, SERIAL)
    assert (uri == uri.upper()) == uppercase_safe(lot)
