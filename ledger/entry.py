"""Ledger entries, version 1: fields, validation, canonical bytes, hash and signature input.

docs/ledger-format.md ("Entries") is the normative description; this module implements it.
An entry is a JSON object; its canonical bytes are RFC 8785 (JCS); its hash is the RFC 6962
leaf hash of those bytes, so the chain link and the Merkle leaf are one value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from farmtrace.ledger.canonical import canonical_bytes, parse_json_strict
from farmtrace.ledger.encoding import b64encode, decode_hash
from farmtrace.ledger.errors import FormatError
from farmtrace.ledger.hashing import leaf_hash

VERSION = 1
# Ed25519 signs SIGNATURE_CONTEXT || canonical bytes: the context keeps an entry signature
# from ever being valid for another message type signed with the same key.
SIGNATURE_CONTEXT = b"farmtrace/entry/v1\n"
# The largest entry a C2SP tlog-tiles entry bundle can carry (a 16-bit length prefix).
MAX_ENTRY_BYTES = 65535
KEYS_CHAIN = "keys"

REQUIRED_FIELDS = (
    "v",
    "batch",
    "seq",
    "prev",
    "type",
    "event_time",
    "recorded_at",
    "author",
    "key",
    "id",
    "payload",
)
OPTIONAL_FIELDS = ("amends",)

_CHAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
# re.ASCII: \d alone would also match non-ASCII digits such as "２".
_RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z", re.ASCII)
_EVENT_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})\Z", re.ASCII)


@dataclass(frozen=True)
class Entry:
    """A validated entry, with its canonical bytes and hash computed once."""

    fields: dict[str, Any]
    canonical: bytes
    hash: bytes

    @property
    def batch(self) -> str:
        return self.fields["batch"]

    @property
    def seq(self) -> int:
        return self.fields["seq"]

    @property
    def prev(self) -> bytes | None:
        prev = self.fields["prev"]
        return None if prev is None else decode_hash(prev, "prev")

    @property
    def type(self) -> str:
        return self.fields["type"]

    @property
    def author(self) -> str:
        return self.fields["author"]

    @property
    def key_id(self) -> str:
        return self.fields["key"]

    @property
    def client_id(self) -> str:
        return self.fields["id"]

    @property
    def payload(self) -> dict[str, Any]:
        return self.fields["payload"]

    @property
    def recorded_at(self) -> datetime:
        return parse_recorded_at(self.fields["recorded_at"])

    @property
    def event_time(self) -> datetime:
        return parse_event_time(self.fields["event_time"], "event_time")

    def signing_input(self) -> bytes:
        return SIGNATURE_CONTEXT + self.canonical


def make_entry(fields: dict[str, Any]) -> Entry:
    """Validate `fields` as a version-1 entry and compute its canonical bytes and hash."""
    validate_fields(fields)
    canonical = canonical_bytes(fields)
    if len(canonical) > MAX_ENTRY_BYTES:
        raise FormatError(
            f"entry: canonical form is {len(canonical)} bytes, more than the limit of {MAX_ENTRY_BYTES}"
        )
    return Entry(fields=fields, canonical=canonical, hash=leaf_hash(canonical))


def parse_entry(data: bytes) -> Entry:
    """Parse entry JSON text (any whitespace or key order) into a validated Entry."""
    if len(data) > 4 * MAX_ENTRY_BYTES:
        raise FormatError(f"entry: {len(data)} bytes of JSON, more than the limit")
    value = parse_json_strict(data)
    if not isinstance(value, dict):
        raise FormatError(f"entry: expected a JSON object, found {type(value).__name__}")
    return make_entry(value)


def parse_stored_entry(canonical: bytes) -> Entry:
    """Parse bytes that must already be canonical (as stored), refusing any other form."""
    entry = parse_entry(canonical)
    if entry.canonical != canonical:
        raise FormatError("entry: stored bytes are not in RFC 8785 canonical form")
    return entry


def validate_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise FormatError(f"entry: unknown field {unknown[0]!r}")
    for name in REQUIRED_FIELDS:
        if name not in fields:
            raise FormatError(f"entry.{name}: missing")
    if fields["v"] != VERSION or isinstance(fields["v"], bool):
        raise FormatError(f"entry.v: expected {VERSION}, found {fields['v']!r}")
    _match("batch", fields["batch"], _CHAIN_ID, "1-64 letters, digits, '.', '_' or '-'")
    seq = fields["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise FormatError(f"entry.seq: expected an integer >= 0, found {seq!r}")
    prev = fields["prev"]
    if seq == 0 and prev is not None:
        raise FormatError("entry.prev: must be null for seq 0, the start of a chain")
    if seq > 0:
        if prev is None:
            raise FormatError(f"entry.prev: missing for seq {seq}; expected the hash of entry {seq - 1}")
        decode_hash(prev, "entry.prev")
    _match("type", fields["type"], _TYPE, "dotted lowercase words such as 'lab.tested'")
    parse_event_time(fields["event_time"], "entry.event_time")
    parse_recorded_at(fields["recorded_at"])
    _match("author", fields["author"], _NAME, "an organisation id")
    _match("key", fields["key"], _NAME, "a key id")
    _match("id", fields["id"], _CLIENT_ID, "1-128 letters, digits, '.', '_', ':' or '-'")
    if not isinstance(fields["payload"], dict):
        raise FormatError(f"entry.payload: expected a JSON object, found {type(fields['payload']).__name__}")
    if "amends" in fields:
        decode_hash(fields["amends"], "entry.amends")


def format_recorded_at(moment: datetime) -> str:
    """UTC with exactly three fractional digits and 'Z', e.g. 2026-11-29T04:00:00.123Z."""
    if moment.tzinfo is None:
        raise FormatError("recorded_at: a time without a UTC offset is ambiguous")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_recorded_at(text: object) -> datetime:
    if not isinstance(text, str) or not _RECORDED_AT.match(text):
        raise FormatError(
            f"entry.recorded_at: expected UTC time like 2026-11-29T04:00:00.123Z, found {text!r}"
        )
    try:
        # The pattern above fixed the form, so the C parser reads it exactly as strptime
        # would ("%Y-%m-%dT%H:%M:%S.%fZ"), about ten times faster (verify reads every entry).
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise FormatError(f"entry.recorded_at: {text!r} is not a real date and time") from None


def format_event_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise FormatError("event_time: a time without a UTC offset is ambiguous")
    return moment.isoformat()


def parse_event_time(text: object, field: str = "event_time") -> datetime:
    if not isinstance(text, str) or not _EVENT_TIME.match(text):
        raise FormatError(
            f"{field}: expected an RFC 3339 time with offset like 2026-09-01T08:30:00+08:00, found {text!r}"
        )
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise FormatError(f"{field}: {text!r} is not a real date and time") from None


def recorded_now(now: datetime, not_before: datetime | None = None) -> str:
    """The recorded time for a new entry: now, but never before the chain's previous entry
    (a server with a slow clock must not make a chain run backwards)."""
    if not_before is not None and now < not_before:
        now = not_before
    return format_recorded_at(now)


def hash_text(digest: bytes) -> str:
    return b64encode(digest)


CLOCK_SKEW = timedelta(minutes=5)


def _match(field: str, value: object, pattern: re.Pattern[str], expected: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise FormatError(f"entry.{field}: expected {expected}, found {value!r}")
