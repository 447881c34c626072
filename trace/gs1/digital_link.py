"""Parse and format GS1 Digital Link URIs, strictly, as GS1's own syntax engine does.

GS1 Digital Link URI Syntax (standard 1.4), §4 (URI structure) and §6 (key
qualifiers); the decision procedure is that of the reference implementation,
gs1/gs1-syntax-engine src/c-lib/dl.c `gs1_parseDLuri`, with default options:

* the scheme is "http://" or "https://", all lower- or all upper-case;
* the primary key is found by walking "/AI/value" pairs back from the end of the path;
  anything before it is a free "stem"; a trailing "/" or an unknown AI ends the walk;
* the path AIs must form a valid key-qualifier sequence (01 then 22, 10, 21 in that
  order, or 235) and a GTIN must have all 14 digits;
* numeric query parameters are AIs (unknown ones are errors, and a key qualifier that
  belongs in the path is an error); other query parameters are ignored;
* duplicate AIs are errors; values are checked for length, character set, check digit
  and date; the AI pairings of the syntax dictionary ("req", "ex") are enforced.

Only the AIs in ai_table.AI_TABLE are known. Compressed Digital Link URIs are not
supported. Error messages begin with the engine's own wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from farmtrace.trace.errors import DigitalLinkError, InvalidInput
from farmtrace.trace.gs1.ai_table import DL_PATH_SEQUENCES, AiSpec, ai_matches, lookup_ai
from farmtrace.trace.gs1.charset import CSET82, percent_decode, percent_encode, uppercase_safe, validate_x20
from farmtrace.trace.gs1.gtin import gs1_check_digit, validate_gtin

# dl.c uriCharacters: RFC 3986 unreserved, reserved and "%".
_URI_CHARACTERS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
# dl.c badDomainCharacters.
_BAD_DOMAIN_CHARACTERS: Final = frozenset("_~?#@!$&'()*+,;=%")
_SCHEMES: Final = ("https://", "HTTPS://", "http://", "HTTP://")
_HOST_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")

AiValue = tuple[str, str]


@dataclass(frozen=True)
class DigitalLink:
    """A parsed GS1 Digital Link URI: stem, primary key, path qualifiers, query attributes."""

    stem: str  # scheme, domain and any path prefix, as written, e.g. "https://a/stem"
    key: AiValue  # primary key, e.g. ("01", "09506000134352")
    qualifiers: tuple[AiValue, ...] = ()  # path key qualifiers, in path order
    attributes: tuple[AiValue, ...] = ()  # AI data attributes from the query, in order

    @property
    def elements(self) -> tuple[AiValue, ...]:
        """Every AI and value, path first, in the order of the URI."""
        return (self.key, *self.qualifiers, *self.attributes)

    def value(self, ai: str) -> str | None:
        """The value of `ai`, or None when the URI does not carry it."""
        return next((v for a, v in self.elements if a == ai), None)

    @property
    def gtin(self) -> str | None:
        return self.key[1] if self.key[0] == "01" else None

    @property
    def lot(self) -> str | None:
        return self.value("10")

    @property
    def serial(self) -> str | None:
        return self.value("21")

    @property
    def extra(self) -> tuple[AiValue, ...]:
        """The AIs other than GTIN (01), lot (10) and serial (21)."""
        return tuple((a, v) for a, v in self.elements if a not in ("01", "10", "21"))

    @property
    def host(self) -> str:
        """The domain (and port), lower-cased: host names are case-insensitive."""
        return self.stem.split("://", 1)[1].split("/", 1)[0].lower()

    def element_string(self) -> str:
        """GS1 bracketed element string, e.g. "(01)09520123456788(10)ABC1(21)12345(17)180426"."""
        return "".join(f"({ai}){value}" for ai, value in self.elements)

    def to_uri(self) -> str:
        """Format as a URI: the parser's inverse (values percent-encoded, see charset)."""
        path = "".join(f"/{ai}/{percent_encode(value)}" for ai, value in (self.key, *self.qualifiers))
        query = "&".join(f"{ai}={percent_encode(value, query=True)}" for ai, value in self.attributes)
        return self.stem + path + ("?" + query if query else "")


def format_digital_link(
    domain: str,
    gtin: str,
    lot: str | None = None,
    serial: str | None = None,
    *,
    uppercase: bool = False,
) -> str:
    """`https://{domain}/01/{gtin14}[/10/{lot}][/21/{serial}]`, values percent-encoded.

    `gtin` may be GTIN-8/12/13/14 and is written with 14 digits. With `uppercase` the
    whole URI is upper-case (for a QR code in alphanumeric mode); that is refused when
    it would change the lot or serial (see charset.uppercase_safe).
    """
    host = validate_domain(domain)
    qualifiers: list[AiValue] = []
    for ai, value in (("10", lot), ("21", serial)):
        if value is not None:
            _translate(ai, value)
            qualifiers.append((ai, value))
    try:
        gtin14 = validate_gtin(gtin)
    except InvalidInput as exc:
        raise DigitalLinkError("gtin", exc.message) from exc
    uri = DigitalLink(f"https://{host}", ("01", gtin14), tuple(qualifiers)).to_uri()
    if not uppercase:
        return uri
    for ai, value in qualifiers:
        if not uppercase_safe(value):
            raise DigitalLinkError(
                "uppercase",
                f"Cannot write AI ({ai}) value {value!r} in an upper-case URI: Expected no lower-case "
                f"letters, '_' or '~', got {value!r}.",
            )
    return uri.upper()


def validate_domain(domain: str) -> str:
    """Return `domain` ("host" or "host:port") if it is a plain DNS name, else raise."""
    if not _HOST_RE.fullmatch(domain):
        raise DigitalLinkError(
            "domain",
            f"Invalid domain {domain!r}: Expected a host name of letters, digits, '.' and '-' "
            f"with an optional ':port'.",
        )
    return domain


def _translate(ai: str, value: str) -> None:
    try:
        validate_x20(ai, value)
    except InvalidInput as exc:
        raise DigitalLinkError(exc.field, exc.message) from exc


class _Refusal(Exception):
    """Internal: a reason to refuse the URI; parse_digital_link adds the URI."""


def parse_digital_link(uri: str) -> DigitalLink:
    """Parse a GS1 Digital Link URI (dl.c gs1_parseDLuri), or raise DigitalLinkError."""
    try:
        return _parse(uri)
    except _Refusal as refusal:
        raise DigitalLinkError("uri", f"Invalid GS1 Digital Link URI {uri!r}: {refusal}") from None


def _parse(uri: str) -> DigitalLink:
    bad = next((c for c in uri if c not in _URI_CHARACTERS), None)
    if bad is not None:
        raise _Refusal(f"URI contains illegal characters: Expected RFC 3986 characters, got {bad!r}.")
    scheme = next((s for s in _SCHEMES if uri.startswith(s)), None)
    if scheme is None:
        raise _Refusal(
            "not a GS1 Digital Link URI: Expected the scheme 'https://' or 'http://' in all lower "
            f"or all upper case, got {uri.partition('//')[0] + '//'!r}."
        )
    rest = uri[len(scheme) :]
    slash = rest.find("/")
    if slash < 1:
        raise _Refusal("URI must contain a domain and path info.")
    domain = rest[:slash]
    if any(c in _BAD_DOMAIN_CHARACTERS for c in domain):
        raise _Refusal(f"Domain contains illegal characters: got {domain!r}.")
    path_and_query = rest[slash:].split("#", 1)[0]  # the fragment is not data
    path, _, query = path_and_query.partition("?")
    segments = path.split("/")[1:]

    start = _find_primary_key(segments)
    stem = scheme + domain + "".join("/" + s for s in segments[:start])
    path_pairs = [_path_element(segments[i], segments[i + 1]) for i in range(start, len(segments), 2)]
    query_pairs = [pair for pair in map(_query_element, filter(None, query.split("&"))) if pair]
    path_ais = tuple(ai for ai, _ in path_pairs)
    if path_ais not in DL_PATH_SEQUENCES:
        raise _Refusal(
            "The AIs in the path are not a valid key-qualifier sequence for the key: got "
            f"{'/'.join(path_ais)}, expected one of {_allowed_paths(path_ais[0])}."
        )
    _check_attributes(path_ais, [ai for ai, _ in query_pairs])
    elements = path_pairs + query_pairs
    for ai, value in elements:
        _lint(ai, value)
    _check_pairings([ai for ai, _ in elements])
    return DigitalLink(stem, path_pairs[0], tuple(path_pairs[1:]), tuple(query_pairs))


def _find_primary_key(segments: list[str]) -> int:
    """Index of the primary key AI segment, walking "/AI/value" pairs back from the end."""
    index = len(segments) - 2
    while index >= 0:
        spec = lookup_ai(segments[index])
        if spec is None:
            break
        if spec.is_dl_primary_key:
            return index
        index -= 2
    raise _Refusal("No GS1 DL keys found in path info.")


def _path_element(ai: str, raw: str) -> AiValue:
    if not raw:
        raise _Refusal(f"AI ({ai}) value path element is empty.")
    return ai, _decode_value(ai, raw, query=False)


def _query_element(parameter: str) -> AiValue | None:
    name, equals, raw = parameter.partition("=")
    if not equals:
        return None  # a parameter without a value is not an AI
    if name and not (name.isascii() and name.isdigit()):
        return None  # non-numeric parameters are not GS1 data; they are ignored
    if lookup_ai(name) is None:
        raise _Refusal(f"Unknown AI ({name}) in query parameters.")
    if not raw:
        raise _Refusal(f"AI ({name}) value query element is empty.")
    return name, _decode_value(name, raw, query=True)


def _decode_value(ai: str, raw: str, *, query: bool) -> str:
    spec = _spec(ai)
    value = percent_decode(raw, query=query)
    where = "query params" if query else "DL path info"
    if b"\0" in value:
        raise _Refusal(f"Decoded AI ({ai}) from {where} contains illegal null character.")
    if len(value) < spec.min_length:
        raise _Refusal(
            f"AI ({ai}) value is too short: Expected at least {spec.min_length} characters, got {len(value)}."
        )
    if len(value) > spec.max_length:
        raise _Refusal(
            f"AI ({ai}) value is too long: Expected at most {spec.max_length} characters, got {len(value)}."
        )
    # Bytes outside ASCII become U+FFFD here and fail the CSET 82 check in _lint.
    return value.decode("ascii", errors="replace")


def _spec(ai: str) -> AiSpec:
    spec = lookup_ai(ai)
    assert spec is not None  # callers looked it up already
    return spec


def _allowed_paths(key: str) -> str:
    return ", ".join("/".join(p) for p in _spec(key).dl_paths)


def _check_attributes(path_ais: tuple[str, ...], query_ais: list[str]) -> None:
    """dl.c: no duplicates, only data attributes, nothing that belongs in the path."""
    seen = list(path_ais)
    for ai in query_ais:
        if ai in seen:
            raise _Refusal(f"AI ({ai}) is duplicated.")
        seen.append(ai)
        if _spec(ai).is_dl_primary_key:
            raise _Refusal(f"AI ({ai}) is not a valid DL URI data attribute.")
        for position in range(1, len(path_ais) + 1):
            trial = (*path_ais[:position], ai, *path_ais[position:])
            if trial in DL_PATH_SEQUENCES:
                raise _Refusal(f"AI ({ai}) from query params should be in the path info.")


def _lint(ai: str, value: str) -> None:
    """Check each component's character set and linters (gs1-syntax-engine syntax/lint_*.c)."""
    rest = value
    for component in _spec(ai).components:
        part, rest = rest[: component.max_length], rest[component.max_length :]
        if not part and component.optional:
            continue
        if len(part) < component.min_length:
            raise _Refusal(f"AI ({ai}) data is too short.")
        if component.cset == "N" and not (part.isascii() and part.isdigit()):
            raise _Refusal(f"AI ({ai}): A non-digit character was found where a digit is expected.")
        if component.cset == "X" and any(c not in CSET82 for c in part):
            raise _Refusal(
                f"AI ({ai}): A non-CSET 82 character was found where a CSET 82 character is expected."
            )
        for linter in component.linters:
            _LINTERS.get(linter, _no_lint)(ai, part)


def _lint_csum(ai: str, digits: str) -> None:
    expected = gs1_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise _Refusal(
            f"AI ({ai}): The numeric check digit is incorrect. Expected {expected}, got {digits[-1]} "
            f"in {digits!r}."
        )


def _lint_date(ai: str, digits: str, *, day_zero: bool) -> None:
    """YYMMDD (lint_yymmdd.c) or YYMMD0 (lint_yymmd0.c: day 00 means "end of month")."""
    year, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    if not 1 <= month <= 12:
        raise _Refusal(f"AI ({ai}): The date contains an illegal month: got {digits[2:4]!r} in {digits!r}.")
    # YY maps to a year within -49/+50 of today (General Specifications §7.12); only
    # YY=00 can fall on a century that is not a leap year, and not before 2050.
    days = [31, 29 if year % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    if day > days or (day == 0 and not day_zero):
        raise _Refusal(f"AI ({ai}): The date contains an illegal day of the month: got {digits!r}.")


def _no_lint(ai: str, part: str) -> None:
    """Linters we do not implement ("key": GS1 Company Prefix checks need a GCP table)."""


_LINTERS: Final = {
    "csum": _lint_csum,
    "yymmd0": lambda ai, part: _lint_date(ai, part, day_zero=True),
    "yymmdd": lambda ai, part: _lint_date(ai, part, day_zero=False),
}


def _check_pairings(ais: list[str]) -> None:
    """The syntax dictionary's "req" and "ex" keys (gs1-syntax-engine gs1_validateAIs)."""
    for ai in ais:
        spec = _spec(ai)
        for group in spec.requires:
            if not any(ai_matches(p, other) for p in group for other in ais):
                raise _Refusal(
                    f"Required AIs for AI ({ai}) are not satisfied: expected one of {','.join(group)}."
                )
        for pattern in spec.excludes:
            clash = next((o for o in ais if o != ai and ai_matches(pattern, o)), None)
            if clash is not None:
                raise _Refusal(f"It is invalid to pair AI ({ai}) with AI ({clash}).")
