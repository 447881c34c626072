"""Item serials: one item, one code, unguessable, short, and checked before any lookup.

The format is specified byte by byte in docs/codes.md; in short, a serial is 20
characters of Crockford base32 (0-9 A-Z without I L O U):

    K  PPPPPPPPPPPPPPPPPP  C
    |  |                   +- check character: weighted sum over GF(32), catches every
    |  |                      single substitution and adjacent transposition
    |  +- 18 characters = 90 bits: masked counter (26 bits) || tag (64 bits)
    +- key id (0-31): which server key made it

A code number n = key_id * 2**26 + counter is issued once, from a global monotonic
sequence; the storage layer records ranges (start, count), never one row per code.
tag = HMAC-SHA256(tag_key, n)[:8] makes the serial unguessable (64 bits to guess) and
lets a forged serial be refused without touching the database; the counter is hidden
by XOR with HMAC-SHA256(mask_key, tag), so serials neither reveal how many codes were
issued nor look alike when their numbers are adjacent. Both keys are derived from one
32-byte secret per key id; adding a key (a new id, a new block of n) leaves every old
serial valid as long as its key stays in the keyring.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

from farmtrace.trace.errors import InvalidInput, SerialForged, SerialTypo

# Crockford base32 (https://www.crockford.com/base32.html): value i is ALPHABET[i].
ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE: Final = {char: value for value, char in enumerate(ALPHABET)}
# Crockford decoding: case-insensitive, O is 0, I and L are 1; hyphens (and spaces,
# which people type when copying grouped codes) are ignored.
_NORMALISE: Final = str.maketrans("OIL", "011", "- ")

SERIAL_LENGTH: Final = 20
KEY_ID_BITS: Final = 5
COUNTER_BITS: Final = 26
TAG_BITS: Final = 64
CODES_PER_KEY: Final = 1 << COUNTER_BITS
MAX_KEY_ID: Final = (1 << KEY_ID_BITS) - 1
MAX_N: Final = (1 << (KEY_ID_BITS + COUNTER_BITS)) - 1
SECRET_LENGTH: Final = 32

_COUNTER_MASK: Final = CODES_PER_KEY - 1
_TAG_MASK: Final = (1 << TAG_BITS) - 1
_TAG_KEY_LABEL: Final = b"farmtrace serial v1 tag"
_MASK_KEY_LABEL: Final = b"farmtrace serial v1 mask"

# Check character arithmetic in GF(2^5) = GF(2)[x] / (x^5 + x^2 + 1); ALPHA = x is a
# primitive element, so it is neither 0 nor 1 (see check_character).
_GF32_POLY: Final = 0b100101
_ALPHA_TIMES: Final = tuple(((v << 1) ^ _GF32_POLY) if v & 0b10000 else v << 1 for v in range(32))

# Every pair of characters, for encoding 10 bits at a time.
_PAIRS: Final = tuple(a + b for a in ALPHABET for b in ALPHABET)


def check_character(payload: str) -> str:
    """The check character for `payload` (Crockford characters), per docs/codes.md §3.

    Damm's scheme over the quasigroup x*y = ALPHA*x + y in GF(32): r = 0, then
    r = ALPHA*r + v for each character value v, and the check is c = ALPHA*r, so that
    running the same recurrence over payload + c ends in 0. A substitution changes r
    (adding is a bijection); swapping neighbours x, y changes it by ALPHA^k (ALPHA+1)
    (x+y) != 0, since ALPHA is neither 0 nor 1.
    """
    r = 0
    for position, char in enumerate(payload, start=1):
        value = _VALUE.get(char)
        if value is None:
            raise InvalidInput(
                "payload",
                f"Invalid payload {payload!r}: Expected Crockford base32, got {char!r} at {position}.",
            )
        r = _ALPHA_TIMES[r] ^ value
    return ALPHABET[_ALPHA_TIMES[r]]


def _check_masks() -> tuple[int, ...]:
    """The check character as a GF(2)-linear function of the payload's 95 bits.

    Bit j of the check is the parity of (payload & mask[j]); this computes the same
    value as check_character, five popcounts instead of 19 table steps.
    """
    masks = [0] * KEY_ID_BITS
    for bit in range(95):
        payload = _encode_payload(1 << bit)
        contribution = _VALUE[check_character(payload)]
        for j in range(KEY_ID_BITS):
            if contribution >> j & 1:
                masks[j] |= 1 << bit
    return tuple(masks)


def _encode_payload(payload: int) -> str:
    """95-bit integer -> 19 Crockford characters, most significant first."""
    pairs = _PAIRS
    return (
        ALPHABET[payload >> 90]
        + pairs[payload >> 80 & 1023]
        + pairs[payload >> 70 & 1023]
        + pairs[payload >> 60 & 1023]
        + pairs[payload >> 50 & 1023]
        + pairs[payload >> 40 & 1023]
        + pairs[payload >> 30 & 1023]
        + pairs[payload >> 20 & 1023]
        + pairs[payload >> 10 & 1023]
        + pairs[payload & 1023]
    )


def _decode_payload(payload: str) -> int:
    value = 0
    for char in payload:
        value = value << 5 | _VALUE[char]
    return value


_CHECK_MASKS: Final = _check_masks()


def _fast_check(payload: int) -> str:
    value = 0
    for j, mask in enumerate(_CHECK_MASKS):
        value |= ((payload & mask).bit_count() & 1) << j
    return ALPHABET[value]


@dataclass(frozen=True)
class SerialKey:
    """A server key for serials: its id (0-31, the serial's first character) and 32 secret bytes.

    Key `key_id` issues the code numbers first_n..last_n (2**26 of them).
    """

    key_id: int
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.key_id <= MAX_KEY_ID:
            raise InvalidInput("key_id", f"Invalid serial key id {self.key_id}: Expected 0 to {MAX_KEY_ID}.")
        if len(self.secret) != SECRET_LENGTH:
            raise InvalidInput(
                "secret",
                f"Invalid serial key secret: Expected {SECRET_LENGTH} bytes, got {len(self.secret)}.",
            )

    @classmethod
    def generate(cls, key_id: int) -> SerialKey:
        return cls(key_id, secrets.token_bytes(SECRET_LENGTH))

    @classmethod
    def from_bytes(cls, key_id: int, secret: bytes) -> SerialKey:
        return cls(key_id, bytes(secret))

    @classmethod
    def from_text(cls, text: str) -> SerialKey:
        """Parse "K:hex" (the key character and 64 hex digits), as written by to_text."""
        char, _, hex_secret = text.strip().partition(":")
        if len(char) != 1 or char.upper() not in _VALUE:
            raise InvalidInput(
                "serial_key", "Invalid serial key text: Expected 'K:<64 hex digits>', K in 0-9A-Z."
            )
        try:
            secret = bytes.fromhex(hex_secret)
        except ValueError:
            raise InvalidInput("serial_key", "Invalid serial key text: the secret is not hex.") from None
        return cls(_VALUE[char.upper()], secret)

    def to_text(self) -> str:
        return f"{self.key_char}:{self.secret.hex()}"

    @property
    def key_char(self) -> str:
        return ALPHABET[self.key_id]

    @property
    def first_n(self) -> int:
        return self.key_id << COUNTER_BITS

    @property
    def last_n(self) -> int:
        return self.first_n + _COUNTER_MASK

    @cached_property
    def _tag_hmac(self) -> _HmacSha256:
        return _HmacSha256(hmac.digest(self.secret, _TAG_KEY_LABEL, "sha256"))

    @cached_property
    def _mask_hmac(self) -> _HmacSha256:
        return _HmacSha256(hmac.digest(self.secret, _MASK_KEY_LABEL, "sha256"))


class _HmacSha256:
    """RFC 2104 HMAC-SHA256 with the padded-key states hashed once, not per message.

    hmac.digest() re-derives them on every call, which made it the slowest step of
    serial_range; tests check this against hmac.digest.
    """

    def __init__(self, key: bytes) -> None:
        padded = key.ljust(64, b"\0")  # RFC 2104 §2: keys of up to B = 64 bytes are zero-padded
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@dataclass(frozen=True)
class SerialKeyring:
    """The keys a server accepts serials from, at most one per key id."""

    keys: tuple[SerialKey, ...]

    def __post_init__(self) -> None:
        ids = [key.key_id for key in self.keys]
        if len(set(ids)) != len(ids):
            raise InvalidInput(
                "keys", f"Invalid serial keyring: Expected distinct key ids, got {sorted(ids)}."
            )

    def get(self, key_id: int) -> SerialKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)


# Stands in for a missing key so that an unknown key id costs the same work as a bad tag.
_DECOY_KEY: Final = SerialKey.generate(0)


def _tag(key: SerialKey, n: int) -> bytes:
    return key._tag_hmac.digest(n.to_bytes(8, "big"))[: TAG_BITS // 8]


def _mask(key: SerialKey, tag: bytes) -> int:
    return int.from_bytes(key._mask_hmac.digest(tag)[:4], "big") & _COUNTER_MASK


def key_id_of(n: int) -> int:
    """The id of the key that issues code number `n`."""
    return n >> COUNTER_BITS


def _check_n(key: SerialKey, n: int) -> None:
    if not key.first_n <= n <= key.last_n:
        raise InvalidInput(
            "n",
            f"Code number {n} is not issued by serial key {key.key_char}: "
            f"Expected {key.first_n} to {key.last_n}.",
        )


def _make(key: SerialKey, n: int) -> str:
    tag = _tag(key, n)
    masked = (n & _COUNTER_MASK) ^ _mask(key, tag)
    payload = (key.key_id << (COUNTER_BITS + TAG_BITS)) | (masked << TAG_BITS) | int.from_bytes(tag, "big")
    return _encode_payload(payload) + _fast_check(payload)


def make_serial(key: SerialKey, n: int) -> str:
    """The serial for code number `n` (which must lie in key.first_n..key.last_n)."""
    _check_n(key, n)
    return _make(key, n)


def serial_range(key: SerialKey, start: int, count: int) -> Iterator[str]:
    """Serials for code numbers start..start+count-1, in order, all from `key`."""
    if count < 0:
        raise InvalidInput("count", f"Invalid count {count}: Expected 0 or more.")
    if count:
        _check_n(key, start)
        _check_n(key, start + count - 1)
    return (_make(key, n) for n in range(start, start + count))


def normalise_serial(text: str) -> str:
    """Crockford normalisation: upper-case, O->0, I/L->1, hyphens and spaces removed."""
    return text.upper().translate(_NORMALISE)


def verify_serial_check(text: str) -> str:
    """Return the normalised serial, or raise SerialTypo (no key needed, docs/codes.md §3)."""
    serial = normalise_serial(text)
    if len(serial) != SERIAL_LENGTH:
        raise SerialTypo(
            "serial",
            f"Invalid code {text!r}: Expected {SERIAL_LENGTH} characters (hyphens and spaces ignored), "
            f"got {len(serial)}. Please check the code on the label.",
        )
    bad = next((i for i, c in enumerate(serial) if c not in _VALUE), None)
    if bad is not None:
        raise SerialTypo(
            "serial",
            f"Invalid code {text!r}: Expected only 0-9 and A-Z without U, got {serial[bad]!r} "
            f"at position {bad + 1}. Please check the code on the label.",
        )
    if check_character(serial[:-1]) != serial[-1]:
        raise SerialTypo(
            "serial",
            f"Invalid code {text!r}: its check character does not match, so a character was probably "
            f"mistyped or two were swapped. Please check the code on the label (0 and O, 1 and I or L "
            f"count as the same).",
        )
    return serial


def parse_serial(key: SerialKey | SerialKeyring, text: str) -> int:
    """The code number n of a serial, or raise SerialTypo (mistyped) or SerialForged (not ours).

    Typos are caught first, by the check character. Then the tag is recomputed and
    compared in constant time; an unknown key id does the same work with a decoy key,
    and both failures carry the same message.
    """
    serial = verify_serial_check(text)
    payload = _decode_payload(serial[:-1])
    key_id = payload >> (COUNTER_BITS + TAG_BITS)
    keyring = key if isinstance(key, SerialKeyring) else SerialKeyring((key,))
    found = keyring.get(key_id)
    tag = (payload & _TAG_MASK).to_bytes(TAG_BITS // 8, "big")
    masked = (payload >> TAG_BITS) & _COUNTER_MASK
    signer = found or _DECOY_KEY
    n = (key_id << COUNTER_BITS) | (masked ^ _mask(signer, tag))
    if not hmac.compare_digest(_tag(signer, n), tag) or found is None:
        raise SerialForged("serial", f"Unknown code {serial!r}: it is not a code we issued.")
    return n


def format_serial_groups(serial: str) -> str:
    """Four groups of five for people to read, e.g. "K1234-56789-ABCDE-FGHJK" (hyphens parse)."""
    return "-".join(serial[i : i + 5] for i in range(0, len(serial), 5))
