"""Serials: round trips, a reference implementation written from docs/codes.md, typo detection
(exhaustive over positions and characters), forgery, uniqueness, key rotation, speed."""

from __future__ import annotations

import hmac
import itertools
import json
import random
from collections.abc import Callable

import pytest
from _paths import VECTORS_DIR
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace.trace import serials
from farmtrace.trace.errors import InvalidInput, SerialError, SerialForged, SerialTypo
from farmtrace.trace.gs1.charset import CSET82
from farmtrace.trace.gs1.qr_uri import QR_ALPHANUMERIC
from farmtrace.trace.serials import (
    ALPHABET,
    CODES_PER_KEY,
    SERIAL_LENGTH,
    SerialKey,
    SerialKeyring,
    check_character,
    format_serial_groups,
    key_id_of,
    make_serial,
    normalise_serial,
    parse_serial,
    serial_range,
    verify_serial_check,
)

VECTORS = json.loads((VECTORS_DIR / "trace" / "serial-vectors.json").read_text(encoding="utf-8"))
KEY = SerialKey(1, bytes(range(32)))
RNG = random.Random(20250701)


def reference_serial(secret: bytes, key_id: int, n: int) -> str:
    """docs/codes.md §2-§3, step by step, with nothing from farmtrace but the document."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    tag_key = hmac.digest(secret, b"farmtrace serial v1 tag", "sha256")
    mask_key = hmac.digest(secret, b"farmtrace serial v1 mask", "sha256")
    tag = hmac.digest(tag_key, n.to_bytes(8, "big"), "sha256")[:8]
    mask = int.from_bytes(hmac.digest(mask_key, tag, "sha256")[:4], "big") % 2**26
    payload = (key_id << 90) | (((n % 2**26) ^ mask) << 64) | int.from_bytes(tag, "big")
    values = [(payload >> (5 * (18 - i))) & 31 for i in range(19)]

    def times_x(v: int) -> int:  # multiply by x in GF(2)[x] / (x^5 + x^2 + 1)
        v <<= 1
        return v ^ 0b100101 if v & 0b100000 else v

    r = 0
    for v in values:
        r = times_x(r) ^ v
    return "".join(alphabet[v] for v in values) + alphabet[times_x(r)]


def sample_serials(count: int) -> list[tuple[int, str]]:
    numbers = [KEY.first_n, KEY.last_n, *RNG.sample(range(KEY.first_n, KEY.last_n + 1), count - 2)]
    return [(n, make_serial(KEY, n)) for n in numbers]


def test_alphabet_is_crockford_and_fits_qr_alphanumeric_and_cset82() -> None:
    assert ALPHABET == "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert set(ALPHABET) <= QR_ALPHANUMERIC
    assert set(ALPHABET) <= CSET82
    assert not set("ILOU") & set(ALPHABET)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"{c['key_id']}-{c['n']}")
def test_vector(case: dict[str, int | str]) -> None:
    secret = bytes.fromhex(next(k["secret_hex"] for k in VECTORS["keys"] if k["key_id"] == case["key_id"]))
    key = SerialKey(int(case["key_id"]), secret)
    assert make_serial(key, int(case["n"])) == case["serial"]
    assert reference_serial(secret, key.key_id, int(case["n"])) == case["serial"]
    assert parse_serial(key, str(case["serial"])) == case["n"]


def _vector_keyring() -> SerialKeyring:
    return SerialKeyring(
        tuple(SerialKey(k["key_id"], bytes.fromhex(k["secret_hex"])) for k in VECTORS["keys"])
    )


@pytest.mark.parametrize("case", VECTORS["mutations"], ids=lambda c: c["id"])
def test_vector_mutation(case: dict[str, str | int]) -> None:
    keyring = _vector_keyring()
    if "want_n" in case:
        assert parse_serial(keyring, str(case["text"])) == case["want_n"]
    else:
        error = {"typo": SerialTypo, "forged": SerialForged}[str(case["want_err"])]
        with pytest.raises(error):
            parse_serial(keyring, str(case["text"]))


def test_matches_reference_implementation() -> None:
    for n, serial in sample_serials(500):
        assert serial == reference_serial(KEY.secret, KEY.key_id, n)


def test_round_trip_and_shape() -> None:
    for n, serial in sample_serials(300):
        assert len(serial) == SERIAL_LENGTH
        assert set(serial) <= set(ALPHABET)
        assert serial[0] == KEY.key_char == "1"
        assert parse_serial(KEY, serial) == n
        assert parse_serial(KEY, serial.lower()) == n
        assert parse_serial(KEY, format_serial_groups(serial)) == n
        assert parse_serial(KEY, " ".join(format_serial_groups(serial).split("-"))) == n


def test_crockford_aliases() -> None:
    assert normalise_serial("o0-iI lL") == "001111"
    serial = next(s for _, s in sample_serials(400) if "0" in s[1:] and "1" in s[1:])
    typed = serial.replace("0", "o").replace("1", "l", 1)
    assert parse_serial(KEY, typed) == parse_serial(KEY, serial)


def test_fast_check_equals_damm_check() -> None:
    for _ in range(2000):
        payload = RNG.getrandbits(95)
        assert serials._fast_check(payload) == check_character(serials._encode_payload(payload))
        assert serials._decode_payload(serials._encode_payload(payload)) == payload


@settings(max_examples=100)
@given(key=st.binary(min_size=1, max_size=64), message=st.binary(max_size=64))
def test_hmac_states_equal_hmac_digest(key: bytes, message: bytes) -> None:
    assert serials._HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")


def _syndrome(values: list[int]) -> int:
    r = 0
    for v in values:
        r = serials._ALPHA_TIMES[r] ^ v
    return r


def test_check_catches_every_substitution_and_transposition_for_every_serial() -> None:
    """The check is linear over GF(32): an error is missed iff the error pattern's own syndrome
    is 0. So checking every pattern (every position, every pair of characters) covers every serial."""
    for position in range(SERIAL_LENGTH):
        for difference in range(1, 32):  # x + y over GF(2^5) for x != y
            pattern = [0] * SERIAL_LENGTH
            pattern[position] = difference
            assert _syndrome(pattern) != 0, ("substitution", position, difference)
    for position in range(SERIAL_LENGTH - 1):
        for x in range(32):
            for y in range(32):
                if x != y:
                    pattern = [0] * SERIAL_LENGTH
                    pattern[position] = pattern[position + 1] = x ^ y  # xy -> yx
                    assert _syndrome(pattern) != 0, ("transposition", position, x, y)
    for position in range(SERIAL_LENGTH - 1):  # twin errors xx -> yy, same pattern as a swap
        for difference in range(1, 32):
            pattern = [0] * SERIAL_LENGTH
            pattern[position] = pattern[position + 1] = difference
            assert _syndrome(pattern) != 0, ("twin", position, difference)
    for position in range(SERIAL_LENGTH - 2):  # jump transpositions xzy -> yzx
        for difference in range(1, 32):
            pattern = [0] * SERIAL_LENGTH
            pattern[position] = pattern[position + 2] = difference
            assert _syndrome(pattern) != 0, ("jump transposition", position, difference)


def test_typos_are_caught_before_lookup_exhaustively_over_200_serials() -> None:
    substitutions = transpositions = 0
    for _, serial in sample_serials(200):
        for position in range(SERIAL_LENGTH):
            for char in ALPHABET:
                if char == serial[position]:
                    continue
                typed = serial[:position] + char + serial[position + 1 :]
                with pytest.raises(SerialTypo):
                    verify_serial_check(typed)
                substitutions += 1
        for position in range(SERIAL_LENGTH - 1):
            a, b = serial[position], serial[position + 1]
            if a == b:
                continue
            typed = serial[:position] + b + a + serial[position + 2 :]
            with pytest.raises(SerialTypo):
                parse_serial(KEY, typed)
            transpositions += 1
    assert substitutions == 200 * SERIAL_LENGTH * 31
    assert transpositions > 200 * 18


def test_typo_messages() -> None:
    serial = make_serial(KEY, KEY.first_n + 7)
    wrong = serial[:4] + ("X" if serial[4] != "X" else "Y") + serial[5:]
    with pytest.raises(SerialTypo) as caught:
        parse_serial(KEY, wrong)
    assert str(caught.value) == (
        f"Invalid code {wrong!r}: its check character does not match, so a character was probably "
        "mistyped or two were swapped. Please check the code on the label (0 and O, 1 and I or L "
        "count as the same)."
    )
    assert caught.value.field == "serial"
    with pytest.raises(SerialTypo) as caught:
        parse_serial(KEY, serial[:-2])
    assert str(caught.value) == (
        f"Invalid code {serial[:-2]!r}: Expected 20 characters (hyphens and spaces ignored), got 18. "
        "Please check the code on the label."
    )
    with pytest.raises(SerialTypo) as caught:
        parse_serial(KEY, "U" + serial[1:])
    assert str(caught.value) == (
        f"Invalid code {'U' + serial[1:]!r}: Expected only 0-9 and A-Z without U, got 'U' at position 1. "
        "Please check the code on the label."
    )
    with pytest.raises(SerialTypo):
        parse_serial(KEY, "")


def _with_check(payload: str) -> str:
    return payload + check_character(payload)


def test_forged_serials_are_refused_with_one_message() -> None:
    other = SerialKey(1, bytes(32))
    candidates = [
        make_serial(other, KEY.first_n),  # right key id, wrong secret
        _with_check("1" + "".join(RNG.choice(ALPHABET) for _ in range(18))),  # random payload
        _with_check("7" + make_serial(KEY, KEY.first_n)[1:-1]),  # unknown key id
    ]
    genuine = make_serial(KEY, KEY.first_n + 99)
    for position in range(1, SERIAL_LENGTH - 1):  # change one payload character, fix the check
        char = "Z" if genuine[position] != "Z" else "Y"
        candidates.append(_with_check(genuine[:position] + char + genuine[position + 1 : -1]))
    for candidate in candidates:
        verify_serial_check(candidate)  # well formed: only the key can tell
        with pytest.raises(SerialForged) as caught:
            parse_serial(KEY, candidate)
        assert str(caught.value) == f"Unknown code {candidate!r}: it is not a code we issued."
        assert isinstance(caught.value, SerialError)
        assert isinstance(caught.value, InvalidInput)


def test_random_well_formed_serials_are_forged() -> None:
    for _ in range(2000):
        candidate = _with_check(KEY.key_char + "".join(RNG.choice(ALPHABET) for _ in range(18)))
        with pytest.raises(SerialForged):
            parse_serial(KEY, candidate)


def test_unique_over_100000_and_hide_n() -> None:
    issued = list(serial_range(KEY, KEY.first_n, 100_000))
    assert len(set(issued)) == 100_000
    # Adjacent numbers give unrelated serials: the second character (top of the masked
    # counter) repeats between neighbours about 1 time in 32, not always.
    same = sum(a[1] == b[1] for a, b in itertools.pairwise(issued))
    assert same < 100_000 / 32 * 1.3


def test_serial_range_matches_make_serial() -> None:
    start = KEY.first_n + 1000
    assert list(serial_range(KEY, start, 50)) == [make_serial(KEY, n) for n in range(start, start + 50)]
    assert list(serial_range(KEY, start, 0)) == []
    assert list(serial_range(KEY, KEY.last_n, 1)) == [make_serial(KEY, KEY.last_n)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: make_serial(KEY, 5),
            "Code number 5 is not issued by serial key 1: Expected 67108864 to 134217727.",
        ),
        (
            lambda: list(serial_range(KEY, KEY.last_n, 2)),
            "Code number 134217728 is not issued by serial key 1: Expected 67108864 to 134217727.",
        ),
        (lambda: list(serial_range(KEY, KEY.first_n, -1)), "Invalid count -1: Expected 0 or more."),
        (lambda: SerialKey(32, bytes(32)), "Invalid serial key id 32: Expected 0 to 31."),
        (lambda: SerialKey(0, bytes(16)), "Invalid serial key secret: Expected 32 bytes, got 16."),
        (lambda: SerialKeyring((KEY, KEY)), "Invalid serial keyring: Expected distinct key ids, got [1, 1]."),
        (lambda: check_character("0U"), "Invalid payload '0U': Expected Crockford base32, got 'U' at 2."),
        (lambda: SerialKey.from_text("1:zz"), "Invalid serial key text: the secret is not hex."),
        (
            lambda: SerialKey.from_text("U:00"),
            "Invalid serial key text: Expected 'K:<64 hex digits>', K in 0-9A-Z.",
        ),
    ],
)
def test_programming_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert str(caught.value) == message


def test_key_text_round_trip_and_secret_not_in_repr() -> None:
    key = SerialKey.generate(9)
    assert SerialKey.from_text(key.to_text()) == key
    assert key.to_text().startswith("9:")
    assert key.secret.hex() not in repr(key)
    assert SerialKey.from_bytes(9, key.secret) == key


def test_key_rotation_keeps_old_serials_valid() -> None:
    old = SerialKey.generate(0)
    old_serials = [(n, make_serial(old, n)) for n in (0, 1, 5000)]
    new = SerialKey.generate(1)  # the allocator moves on to new.first_n
    new_serials = [(n, make_serial(new, n)) for n in (new.first_n, new.first_n + 1)]
    keyring = SerialKeyring((old, new))
    for n, serial in old_serials + new_serials:
        assert parse_serial(keyring, serial) == n
        assert key_id_of(n) == int(ALPHABET.index(serial[0]))
    with pytest.raises(SerialForged):
        parse_serial(new, old_serials[0][1])  # an old code without its key: unknown
    assert new.first_n == CODES_PER_KEY


@settings(max_examples=200, deadline=None)
@given(
    key_id=st.integers(0, 31),
    counter=st.integers(0, CODES_PER_KEY - 1),
    secret=st.binary(min_size=32, max_size=32),
)
def test_round_trip_property(key_id: int, counter: int, secret: bytes) -> None:
    key = SerialKey(key_id, secret)
    n = key.first_n + counter
    serial = make_serial(key, n)
    assert parse_serial(key, serial) == n
    assert parse_serial(SerialKeyring((key,)), format_serial_groups(serial).lower()) == n
    assert serial == reference_serial(secret, key_id, n)
