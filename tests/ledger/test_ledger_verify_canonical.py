"""The verifier's fast canonical check never accepts what RFC 8785 (the rfc8785 package) would not.

verify_rows.fast_canonical_value compares stored bytes with the C json module's output
instead of running the pure-Python rfc8785 encoder. It may decline (the slow path then
decides), but whatever it accepts must be byte-identical to rfc8785.dumps of its value.
Checked on a generated corpus of 20,000 values built to hit the differences that matter:
control characters, escapes, U+007F, U+2028, CJK, private-use U+E000..U+FFFF and
characters beyond U+FFFF in keys (where code-point and UTF-16 key order differ), integer
edges, and non-canonical spellings of the same values.
"""

from __future__ import annotations

import json
import random

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace.ledger.canonical import MAX_SAFE_INTEGER, canonical_bytes
from farmtrace.ledger.entry import parse_stored_entry
from farmtrace.ledger.errors import FormatError
from farmtrace.ledger.verify_rows import _ENCODE, fast_canonical_value, stored_entry

PIECES = [
    "a",
    "Z",
    "key",
    "_",
    " ",
    '"',
    "\\",
    "/",
    "\b",
    "\f",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x1f",
    "\x7f",
    "\u2028",
    "é",
    "ö",
    "€",
    "赣南脐橙",
    "有机肥",
    "\ue000",
    "\uffee",
    "\uffff",
    "\U00010000",
    "\U0001f34a",
    "\U0010ffff",
]
INTEGERS = [0, 1, -1, 9, 10, 255, 2**31, -(2**31), MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind in (1, 2):
        return rng.choice(INTEGERS) if rng.random() < 0.5 else rng.randint(-(10**6), 10**6)
    if kind in (3, 4):
        return random_text(rng)
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_text(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def spellings(value: object) -> list[bytes]:
    """The canonical bytes of `value` and other JSON texts of the same value."""
    canonical = rfc8785.dumps(value)
    return [
        canonical,
        json.dumps(value).encode("utf-8"),
        json.dumps(value, ensure_ascii=False).encode("utf-8"),
        json.dumps(value, separators=(",", ":")).encode("utf-8"),
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        # What the fast path itself writes: equal to the canonical bytes except in key order.
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8"),
        canonical + b" ",
    ]


def check(data: bytes) -> bool:
    """Whether the fast path accepted `data`; fails the test if it accepted wrongly."""
    accepted, value = fast_canonical_value(data)
    if not accepted:
        return False
    assert rfc8785.dumps(value) == data, data
    return True


def test_the_fast_path_agrees_with_rfc8785_on_a_generated_corpus() -> None:
    rng = random.Random(8785)
    accepted = declined_canonical = 0
    for _ in range(20_000):
        value = random_value(rng)
        # The encoder built once is json.dumps with the same options.
        assert _ENCODE(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        for data in spellings(value):
            accepted += check(data)
        canonical = rfc8785.dumps(value)
        if not fast_canonical_value(canonical)[0]:
            # Declining is allowed only where the orders can differ: non-BMP characters.
            assert any(ord(c) > 0xFFFF for c in canonical.decode("utf-8")), canonical
            declined_canonical += 1
    assert accepted > 15_000 and declined_canonical > 1_000


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_the_fast_path_accepts_no_arbitrary_bytes_wrongly(data: bytes) -> None:
    check(data)


@settings(max_examples=300, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=12,
    ),
    position=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
)
def test_single_byte_changes_to_canonical_bytes_are_never_accepted_wrongly(
    value, position: int, mask: int
) -> None:
    canonical = bytearray(rfc8785.dumps(value))
    check(bytes(canonical))
    if canonical:
        canonical[position % len(canonical)] ^= mask
        check(bytes(canonical))


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1.0}',
        b'{"a":1e3}',
        b'{"a":NaN}',
        b'{"a":-0}',
        b'{"a":9007199254740992}',
        b'{"a":"\\ud800"}',
        b'{"a":1,"a":1}',
        b'{"b":1,"a":2}',
        b'{"a":"\\u0041"}',
        b'{"a":"\\/"}',
        b'\xef\xbb\xbf{"a":1}',
        b'{"\xf0\x9f\x8d\x8a":1,"\xee\x80\x80":2}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=lambda text: repr(text[:24]),
)
def test_the_fast_path_declines_what_it_must(text: bytes) -> None:
    assert fast_canonical_value(text) == (False, None)
    with pytest.raises(FormatError):
        parse_stored_entry(text)


ENTRY = {
    "v": 1,
    "batch": "B1",
    "seq": 1,
    "prev": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "type": "farming.input",
    "event_time": "2026-09-01T08:30:00+08:00",
    "recorded_at": "2026-09-01T00:00:00.123Z",
    "author": "coop-1",
    "key": "k0123456789abcdef",
    "id": "in-1",
    "payload": {"input": "有机肥", "dose_kg_per_mu": "12.5", "\U0001f34a": "x", "\ue000": "y"},
}


@pytest.mark.parametrize(
    "data",
    [
        canonical_bytes(ENTRY),
        canonical_bytes({**ENTRY, "payload": {"n": "1"}}),
        canonical_bytes({**ENTRY, "seq": 0, "prev": None}),
        json.dumps(ENTRY).encode("utf-8"),
        canonical_bytes({**ENTRY, "v": 2}),
        canonical_bytes({**ENTRY, "recorded_at": "2026-09-01T00:00:00Z"}),
        canonical_bytes(ENTRY).replace(b'"seq":1', b'"seq":1.0'),
    ],
)
def test_stored_entry_is_parse_stored_entry(data: bytes) -> None:
    try:
        expected = parse_stored_entry(data)
    except FormatError as exc:
        with pytest.raises(FormatError) as caught:
            stored_entry(data)
        assert str(caught.value) == str(exc)
        return
    assert stored_entry(data) == expected
