"""The URI a label's QR code holds, and the short form for products without a GTIN.

Two forms, both on our resolver's domain (docs/codes.md):

* GS1 Digital Link, `https://DOMAIN/01/{gtin14}/10/{lot}/21/{serial}` (digital_link.py);
* short URI, `https://DOMAIN/c/{serial}`, for products without a GTIN.

Upper-case rule. A QR code in alphanumeric mode (ISO/IEC 18004 §7.4.4) holds only
0-9 A-Z space $ % * + - . / : at 5.5 bits a character instead of 8, which usually saves
a version. Scheme, host, AI numbers and %XX escapes are case-insensitive, so upper-casing
a URI changes nothing but its lot and serial values, which GS1 treats as case-sensitive.
`qr_uri` therefore returns the upper-case form iff every lot and serial character
survives it: no lower-case letter and no "_" or "~" (the only unreserved characters
outside the alphanumeric set; every other CSET 82 character is written as %XX anyway).
Our own serials are upper-case by design, so the rule only ever bites on a lot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from farmtrace.trace.errors import DigitalLinkError, InvalidInput
from farmtrace.trace.gs1.charset import percent_decode, percent_encode, uppercase_safe, validate_x20
from farmtrace.trace.gs1.digital_link import (
    DigitalLink,
    format_digital_link,
    parse_digital_link,
    validate_domain,
)

# ISO/IEC 18004 table 5: the 45 characters of alphanumeric mode.
QR_ALPHANUMERIC: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
SHORT_PATH: Final = "c"
_SCHEMES: Final = ("https://", "HTTPS://", "http://", "HTTP://")


@dataclass(frozen=True)
class ShortLink:
    """A parsed short URI `https://DOMAIN/c/{serial}`."""

    stem: str  # scheme and domain as written, e.g. "HTTPS://TRACE.EXAMPLE.ORG"
    serial: str  # as written (after percent-decoding); parse it with serials.parse_serial

    @property
    def host(self) -> str:
        return self.stem.split("://", 1)[1].lower()

    def to_uri(self) -> str:
        return f"{self.stem}/{SHORT_PATH}/{percent_encode(self.serial)}"


def format_short_uri(domain: str, serial: str, *, uppercase: bool = False) -> str:
    """`https://{domain}/c/{serial}`, or `HTTPS://{DOMAIN}/C/{SERIAL}` with `uppercase`."""
    host = validate_domain(domain)
    try:
        validate_x20("21", serial)
    except InvalidInput as exc:
        raise DigitalLinkError(exc.field, exc.message) from exc
    uri = ShortLink(f"https://{host}", serial).to_uri()
    if not uppercase:
        return uri
    if not uppercase_safe(serial):
        raise DigitalLinkError(
            "uppercase",
            f"Cannot write serial {serial!r} in an upper-case URI: Expected no lower-case letters, "
            f"'_' or '~', got {serial!r}.",
        )
    return uri.upper()


def parse_short_uri(uri: str) -> ShortLink:
    """Parse `http[s]://DOMAIN/c/{serial}` (either case; query and fragment ignored)."""
    scheme = next((s for s in _SCHEMES if uri.startswith(s)), None)
    rest = uri[len(scheme) :] if scheme else ""
    head = rest.split("#", 1)[0].split("?", 1)[0]
    host, _, path = head.partition("/")
    segments = path.split("/")
    if scheme is None or not host or len(segments) != 2 or segments[0] not in ("c", "C") or not segments[1]:
        raise DigitalLinkError(
            "uri",
            f"Invalid short URI {uri!r}: Expected 'https://DOMAIN/c/SERIAL' "
            f"(scheme all lower or all upper case), got {uri!r}.",
        )
    validate_domain(host)
    serial = percent_decode(segments[1]).decode("utf-8", errors="replace")
    try:
        validate_x20("21", serial)
    except InvalidInput as exc:
        raise DigitalLinkError("serial", f"Invalid short URI {uri!r}: {exc.message}") from exc
    return ShortLink(scheme + host, serial)


def parse_scan_uri(uri: str) -> DigitalLink | ShortLink:
    """Parse what a phone read from one of our labels: the short form or a Digital Link."""
    scheme = next((s for s in _SCHEMES if uri.startswith(s)), "")
    path = uri[len(scheme) :].split("#", 1)[0].split("?", 1)[0].partition("/")[2]
    if path.split("/")[0] in ("c", "C") and path.count("/") == 1:
        return parse_short_uri(uri)
    return parse_digital_link(uri)


def qr_uri(domain: str, serial: str, *, gtin: str | None = None, lot: str | None = None) -> str:
    """The URI to put in an item's QR code: upper-case whenever that is lossless.

    With a `gtin`, a Digital Link `…/01/{gtin14}[/10/{lot}]/21/{serial}`; without, the
    short form (a lot then has no place in the URI and is refused).
    """
    if gtin is None:
        if lot is not None:
            raise DigitalLinkError("lot", f"Cannot put lot {lot!r} in a short URI: Expected a GTIN with it.")
        return format_short_uri(domain, serial, uppercase=uppercase_safe(serial))
    upper = uppercase_safe(serial) and (lot is None or uppercase_safe(lot))
    return format_digital_link(domain, gtin, lot, serial, uppercase=upper)
