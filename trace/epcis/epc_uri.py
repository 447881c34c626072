"""GS1 identifiers in the one form the EPCIS Event Hash ID hashes: constrained canonical Digital Link.

CBV 2.0 §8.9 (EPCIS Event Hash ID), rules 17 and 18 as numbered in the reference
implementation's README (RalphTro/epcis-event-hash-generator):

* an EPC URI, EPC Class URI or EPC ID Pattern URI (GS1 Tag Data Standard 2.x §6, §8)
  becomes the canonical GS1 Digital Link URI on `https://id.gs1.org`;
* a GS1 Digital Link URI on any domain moves to `https://id.gs1.org`, loses its query
  string, its CPV and (when a serial is present) its lot, and must then be one of the
  key/qualifier shapes below, else it is left as it was.

Values that are not GS1 identifiers are not touched: `canonical_gs1_uri` returns None.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CANONICAL_DL_ROOT = "https://id.gs1.org/"


# GS1 General Specifications §7.9.1: the standard mod-10 check digit.
def gs1_check_digit(digits: str) -> str:
    """Check digit for a GS1 numeric key given without it (GTIN, GLN, SSCC, GRAI, GDTI, ...)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


# TDS 2.x §6.3 / Table A-1: a character of a serial-like component of an EPC URI is either
# one of these unreserved characters or a %-escape; the escapes that occur are those of the
# remaining characters of GS1 AI encodable character set 82.
_URN_CHAR = r"(?:%(?:2[125-9A-Fa-f]|3[0-9A-Fa-f]|4[1-9A-Fa-f]|5[0-9AaFf]|6[1-9A-Fa-f]|7[0-9Aa])|[!')(*+,.0-9:;=A-Za-z_-])"
# GS1 AI encodable character set 39 (CPI component reference): digits, capitals, # - /.
_URN_CPI_CHAR = r"(?:%(?:2[3dfDF]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa])|[0-9A-Z-])"

# GS1 Digital Link 1.2 §7.2 Table 7-1: characters that a DL URI path element percent-encodes
# and an EPC URI may carry raw.
_DL_ESCAPES = {"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B", ",": "%2C", ":": "%3A"}


def _dl_encode(value: str) -> str:
    return "".join(_DL_ESCAPES.get(c, c) for c in value)


def _chars(pattern: str, low: int, high: int) -> str:
    return f"(?:{pattern}){{{low},{high}}}"


def _gtin14(gcp: str, ref: str) -> str:
    # TDS §7.1.2: indicator digit first, then the company prefix and the rest of the item reference.
    body = ref[:1] + gcp + ref[1:]
    return body + gs1_check_digit(body)


def _with_check(body: str) -> str:
    return body + gs1_check_digit(body)


_Builder = Callable[[re.Match[str]], "str | None"]


def _sized(total: int, build: Callable[[re.Match[str]], str]) -> _Builder:
    """Company prefix plus the next component must have `total` digits (TDS §6.3.x)."""

    def checked(m: re.Match[str]) -> str | None:
        if len(m["gcp"]) + len(m["ref"]) != total:
            return None
        return build(m)

    return checked


_GCP = r"(?P<gcp>\d{6,12})"
_REF = r"(?P<ref>\d{0,7})"
_EPC_SCHEMES: tuple[tuple[str, str, _Builder], ...] = (
    (
        "urn:epc:id:sgtin:",
        rf"{_GCP}\.{_REF}\.(?P<s>{_chars(_URN_CHAR, 1, 20)})",
        _sized(13, lambda m: f"01/{_gtin14(m['gcp'], m['ref'])}/21/{_dl_encode(m['s'])}"),
    ),
    (
        "urn:epc:id:sscc:",
        r"(?P<gcp>\d{6,12})\.(?P<ref>\d{5,11})",
        _sized(17, lambda m: f"00/{_with_check(m['ref'][:1] + m['gcp'] + m['ref'][1:])}"),
    ),
    (
        "urn:epc:id:sgln:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.(?P<s>{_chars(_URN_CHAR, 1, 20)})",
        _sized(
            12,
            lambda m: (
                f"414/{_with_check(m['gcp'] + m['ref'])}"
                + ("" if m["s"] == "0" else f"/254/{_dl_encode(m['s'])}")
            ),
        ),
    ),
    (
        "urn:epc:id:grai:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.(?P<s>{_chars(_URN_CHAR, 1, 16)})",
        _sized(12, lambda m: f"8003/{_with_check('0' + m['gcp'] + m['ref'])}{_dl_encode(m['s'])}"),
    ),
    (
        "urn:epc:id:giai:",
        rf"{_GCP}\.(?P<s>{_chars(_URN_CHAR, 1, 24)})",
        lambda m: (
            f"8004/{m['gcp']}{_dl_encode(m['s'])}"
            if len(m["gcp"]) + len(re.findall(_URN_CHAR, m["s"])) <= 30
            else None
        ),
    ),
    (
        "urn:epc:id:gsrn:",
        r"(?P<gcp>\d{6,12})\.(?P<ref>\d{5,11})",
        _sized(17, lambda m: f"8018/{_with_check(m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:id:gsrnp:",
        r"(?P<gcp>\d{6,12})\.(?P<ref>\d{5,11})",
        _sized(17, lambda m: f"8017/{_with_check(m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:id:gdti:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.(?P<s>{_chars(_URN_CHAR, 0, 17)})",
        _sized(12, lambda m: f"253/{_with_check(m['gcp'] + m['ref'])}{_dl_encode(m['s'])}"),
    ),
    (
        "urn:epc:id:cpi:",
        rf"{_GCP}\.(?P<ref>{_chars(_URN_CPI_CHAR, 1, 24)})\.(?P<s>\d{{1,12}})",
        lambda m: (
            f"8010/{_dl_encode(m['gcp'] + m['ref'])}/8011/{m['s']}"
            if len(m["gcp"]) + len(re.findall(_URN_CPI_CHAR, m["ref"])) <= 30
            else None
        ),
    ),
    (
        "urn:epc:id:sgcn:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.(?P<s>\d{{1,12}})",
        _sized(12, lambda m: f"255/{_with_check(m['gcp'] + m['ref'])}{m['s']}"),
    ),
    (
        "urn:epc:id:ginc:",
        rf"{_GCP}\.(?P<s>{_chars(_URN_CHAR, 1, 24)})",
        lambda m: (
            f"401/{m['gcp']}{_dl_encode(m['s'])}"
            if len(m["gcp"]) + len(re.findall(_URN_CHAR, m["s"])) <= 30
            else None
        ),
    ),
    (
        "urn:epc:id:gsin:",
        r"(?P<gcp>\d{6,12})\.(?P<ref>\d{4,10})",
        _sized(16, lambda m: f"402/{_with_check(m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:id:itip:",
        rf"{_GCP}\.{_REF}\.(?P<p>\d\d)\.(?P<t>\d\d)\.(?P<s>{_chars(_URN_CHAR, 1, 20)})",
        _sized(
            13,
            lambda m: f"8006/{_gtin14(m['gcp'], m['ref'])}{m['p']}{m['t']}/21/{_dl_encode(m['s'])}",
        ),
    ),
    (
        "urn:epc:id:upui:",
        rf"{_GCP}\.{_REF}\.(?P<s>{_chars(_URN_CHAR, 1, 28)})",
        _sized(13, lambda m: f"01/{_gtin14(m['gcp'], m['ref'])}/235/{_dl_encode(m['s'])}"),
    ),
    (
        "urn:epc:id:pgln:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})",
        _sized(12, lambda m: f"417/{_with_check(m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:class:lgtin:",
        rf"{_GCP}\.{_REF}\.(?P<s>{_chars(_URN_CHAR, 1, 20)})",
        _sized(13, lambda m: f"01/{_gtin14(m['gcp'], m['ref'])}/10/{_dl_encode(m['s'])}"),
    ),
    (
        "urn:epc:idpat:sgtin:",
        rf"{_GCP}\.{_REF}\.\*",
        _sized(13, lambda m: f"01/{_gtin14(m['gcp'], m['ref'])}"),
    ),
    (
        "urn:epc:idpat:grai:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.\*",
        _sized(12, lambda m: f"8003/{_with_check('0' + m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:idpat:gdti:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.\*",
        _sized(12, lambda m: f"253/{_with_check(m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:idpat:sgcn:",
        rf"{_GCP}\.(?P<ref>\d{{0,6}})\.\*",
        _sized(12, lambda m: f"255/{_with_check(m['gcp'] + m['ref'])}"),
    ),
    (
        "urn:epc:idpat:cpi:",
        rf"{_GCP}\.(?P<ref>{_chars(_URN_CPI_CHAR, 1, 24)})\.\*",
        lambda m: f"8010/{_dl_encode(m['gcp'] + m['ref'])}",
    ),
    (
        "urn:epc:idpat:itip:",
        rf"{_GCP}\.{_REF}\.(?P<p>\d\d)\.(?P<t>\d\d)\.\*",
        _sized(13, lambda m: f"8006/{_gtin14(m['gcp'], m['ref'])}{m['p']}{m['t']}"),
    ),
    (
        "urn:epc:idpat:upui:",
        rf"{_GCP}\.{_REF}\.\*",
        _sized(13, lambda m: f"01/{_gtin14(m['gcp'], m['ref'])}"),
    ),
)


def epc_urn_to_digital_link(urn: str) -> str | None:
    """TDS 2.x §8 / GS1 Digital Link 1.2 §4.11: an EPC (class, pattern) URI as canonical DL.

    Returns None for anything that is not a well-formed EPC URI of a GS1 key.
    """
    for prefix, body, build in _EPC_SCHEMES:
        if urn.startswith(prefix):
            m = re.fullmatch(body, urn[len(prefix) :])
            if m is None:
                return None
            path = build(m)
            return None if path is None else CANONICAL_DL_ROOT + path
    return None


# GS1 Digital Link 1.2 §6.2: the short names some resolvers accept in place of AIs.
_SHORT_NAMES = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
_PRIMARY_KEYS = frozenset(
    ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018")
)

# The constrained canonical shapes (rule 18 III): the most fine-grained identification
# only, with the characters the reference implementation accepts in each component.
_C = r"[\x22\x27\x2D\x2E0-9\x3B-\x3FA-Z_a-z]"
_CONSTRAINED_SHAPES = re.compile(
    "|".join(
        (
            r"00/\d{18}",
            rf"01/\d{{14}}(?:/(?:10|21)/{_C}{{0,20}}|/235/{_C}{{0,28}})?",
            rf"253/\d{{13}}{_C}{{0,17}}",
            r"255/\d{13}\d{0,12}",
            rf"401/{_C}{{0,30}}",
            r"402/\d{17}",
            rf"414/\d{{13}}(?:/254/{_C}{{0,20}})?",
            r"417/\d{13}",
            rf"8003/\d{{14}}{_C}{{0,16}}",
            rf"8004/{_C}{{0,30}}",
            rf"8006/\d{{18}}(?:/(?:10|21)/{_C}{{0,20}})?",
            r"8010/[#\-/0-9A-Z]{0,30}(?:/8011/\d{0,12})?",
            r"8017/\d{18}",
            r"8018/\d{18}",
        )
    )
)
_HTTP_URI = re.compile(r"https?://[^/?#]*(?P<path>/[^?#]*)(?:\?.*)?", re.DOTALL)


def constrain_digital_link(uri: str) -> str | None:
    """A GS1 Digital Link URI in constrained canonical form (rule 18), or None if it is not one."""
    m = _HTTP_URI.fullmatch(uri)
    if m is None:
        return None
    segments = [_SHORT_NAMES.get(s, s) for s in m["path"].split("/")[1:]]
    for i, segment in enumerate(segments[:-1]):
        if segment in _PRIMARY_KEYS and re.match(r"\d{4}", segments[i + 1]):
            break
    else:
        return None
    key, value, rest = segments[i], segments[i + 1], segments[i + 2 :]
    if key == "01" and value.isdigit() and len(value) in (8, 12, 13):
        value = value.rjust(14, "0")
    if key in ("01", "8006"):
        if len(rest) % 2:
            return None
        qualifiers = dict(zip(rest[::2], rest[1::2], strict=True))
        qualifiers.pop("22", None)  # the CPV is a finer item attribute, not identification
        if "21" in qualifiers:
            qualifiers.pop("10", None)
        rest = [part for pair in qualifiers.items() for part in pair]
    path = "/".join([key, value, *rest])
    if _CONSTRAINED_SHAPES.fullmatch(path) is None:
        return None
    return CANONICAL_DL_ROOT + path


def canonical_gs1_uri(value: str) -> str | None:
    """The constrained canonical Digital Link of an EPC URI or DL URI; None for other values."""
    if value.startswith("urn:epc:"):
        return epc_urn_to_digital_link(value)
    if value.startswith(("https://", "http://")):
        return constrain_digital_link(value)
    return None
