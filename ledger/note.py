"""C2SP signed-note (c2sp.org/signed-note): text signed by one or more named keys.

    <text, ending in "\n">
    "\n"
    "— " <key name> " " base64(key ID (4 bytes, big-endian) || signature) "\n"   (1+ times)

The em dash is U+2014. Key IDs are SHA-256(name || 0x0A || type || public key)[:4]
(signed-note §Signatures); type 0x01 is a plain Ed25519 note signature, type 0x04 an
Ed25519 tlog-cosignature (see cosignature.py). Key encodings (Go golang.org/x/mod/sumdb/note):

    verifier key  <name>+<hex8 key ID>+base64(type || 32-byte Ed25519 public key)
    signer key    PRIVATE+KEY+<name>+<hex8 key ID>+base64(type || 32-byte Ed25519 seed)

open_note verifies: signatures by unknown keys are kept aside and ignored, a known key's
invalid signature rejects the whole note, and at least one known key must have signed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.errors import FormatError, LedgerError, SignatureError

# signed-note §Signature types
SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04  # c2sp.org/tlog-cosignature, Ed25519
_SUPPORTED_TYPES = (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1)

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
MAX_SIGNATURES = 100  # signed-note §Format: verifiers must accept at least 16
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_PUBLIC_KEY_SIZE = 32


class NoteVerifier(Protocol):
    """A known key that open_note can check signatures with."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether `signature` (without the 4-byte key ID) is valid over note `text`."""
        ...


def key_id(name: str, key_type: int, public_key: bytes) -> int:
    """signed-note §Signatures: SHA-256(name || 0x0A || type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def check_key_name(name: str, what: str = "key name") -> None:
    """signed-note §Format: key names are non-empty, with no Unicode spaces and no '+'."""
    if not isinstance(name, str) or not name:
        raise FormatError(f"{what}: expected a non-empty string, found {name!r}")
    if "+" in name or any(c.isspace() for c in name):
        raise FormatError(f"{what} {name!r}: must not contain spaces or '+'")
    _check_note_chars(name, what)


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 public key with its name and key ID, as in a vkey."""

    name: str
    public_key: bytes
    key_type: int = SIG_TYPE_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_key_type(self.key_type, self.name)
        if len(self.public_key) != _PUBLIC_KEY_SIZE:
            raise FormatError(
                f"key {self.name!r}: expected a {_PUBLIC_KEY_SIZE}-byte Ed25519 public key, "
                f"found {len(self.public_key)} bytes"
            )

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.key_type, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Plain Ed25519 over the note text (type 0x01 keys only)."""
        if self.key_type != SIG_TYPE_ED25519:
            raise SignatureError(
                f"key {self.name}+{self.key_id:08x} has signature type 0x{self.key_type:02x}; "
                f"plain note signatures need type 0x01 (use cosignature.CosignatureVerifier)"
            )
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """An Ed25519 private key (32-byte seed) with its name; repr hides the seed."""

    name: str
    seed: bytes = field(repr=False)
    key_type: int = SIG_TYPE_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_key_type(self.key_type, self.name)
        if len(self.seed) != 32:
            raise FormatError(
                f"signer key {self.name!r}: expected a 32-byte Ed25519 seed, found {len(self.seed)} bytes"
            )

    @property
    def public_key(self) -> bytes:
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.key_type, self.public_key)

    def verifier_key(self) -> VerifierKey:
        return VerifierKey(self.name, self.public_key, self.key_type)

    def sign(self, message: bytes) -> bytes:
        """Raw Ed25519 signature (RFC 8032; deterministic) over `message`."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def generate_signer_key(name: str, key_type: int = SIG_TYPE_ED25519) -> SignerKey:
    """A new random Ed25519 signer key."""
    private = Ed25519PrivateKey.generate()
    return SignerKey(name, private.private_bytes_raw(), key_type)


def format_verifier_key(key: VerifierKey) -> str:
    return f"{key.name}+{key.key_id:08x}+{b64encode(bytes([key.key_type]) + key.public_key)}"


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse `<name>+<hex8>+<base64(type || key)>`; the key ID must match the key."""
    parts = vkey.split("+", 2) if isinstance(vkey, str) else []
    if len(parts) != 3:
        raise FormatError(f"verifier key {vkey!r}: expected <name>+<hex8 key ID>+<base64 key>")
    name, id_text, key_text = parts
    label = f"verifier key {vkey!r}"
    stated, key_type, public_key = _split_key(label, id_text, key_text, secret=False)
    key = VerifierKey(name, public_key, key_type)
    _check_key_id(label, stated, key.key_id)
    return key


def format_signer_key(key: SignerKey) -> str:
    return f"PRIVATE+KEY+{key.name}+{key.key_id:08x}+{b64encode(bytes([key.key_type]) + key.seed)}"


def parse_signer_key(skey: str) -> SignerKey:
    """Parse `PRIVATE+KEY+<name>+<hex8>+<base64(type || seed)>`; the key ID must match."""
    parts = skey.split("+", 4) if isinstance(skey, str) else []
    # Never echo a private key into an error message.
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise FormatError("signer key: expected PRIVATE+KEY+<name>+<hex8 key ID>+<base64 seed>")
    _, _, name, id_text, key_text = parts
    label = f"signer key for {name!r}"
    stated, key_type, seed = _split_key(label, id_text, key_text, secret=True)
    key = SignerKey(name, seed, key_type)
    _check_key_id(label, stated, key.key_id)
    return key


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        check_key_name(self.name)
        payload = self.key_id.to_bytes(4, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(payload)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text and signatures, split into verified and unverified."""

    text: str
    signatures: tuple[NoteSignature, ...] = ()
    unverified_signatures: tuple[NoteSignature, ...] = ()


def note_signature(text: str, signer: SignerKey) -> NoteSignature:
    """A plain Ed25519 (type 0x01) signature of note text."""
    if signer.key_type != SIG_TYPE_ED25519:
        raise SignatureError(
            f"signer {signer.name}: type 0x{signer.key_type:02x} keys make cosignatures "
            f"(cosignature.cosign), not plain note signatures"
        )
    return NoteSignature(signer.name, signer.key_id, signer.sign(_text_bytes(text)))


def format_note(text: str, signatures: Iterable[NoteSignature]) -> str:
    """Text, blank line, signature lines. Does not sign or verify anything."""
    _text_bytes(text)
    lines = [s.line() for s in signatures]
    if not lines:
        raise FormatError("note: expected at least one signature")
    return text + "\n" + "".join(lines)


def sign_note(text: str, *signers: SignerKey) -> str:
    """Sign note text (which must end in a newline) with one or more Ed25519 keys."""
    return format_note(text, [note_signature(text, s) for s in signers])


def parse_note(msg: str | bytes) -> Note:
    """Split a signed note into text and signature lines, verifying nothing.

    Every signature lands in `unverified_signatures`. Strict: the note must be UTF-8
    without control characters other than newline, the text must end in a newline,
    the signature block must follow the last blank line and end in a newline, and each
    line must be "— <valid name> <canonical base64 of at least 5 bytes>".
    """
    if isinstance(msg, (bytes, bytearray)):
        try:
            msg = bytes(msg).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"note: not valid UTF-8 at byte {exc.start}") from None
    if not isinstance(msg, str):
        raise FormatError(f"note: expected str or bytes, found {type(msg).__name__}")
    _check_note_chars(msg, "note")
    split = msg.rfind("\n\n")
    if split < 0:
        raise FormatError("note: no blank line separating the text from the signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block:
        raise FormatError("note: no signature lines after the blank line")
    if not block.endswith("\n"):
        raise FormatError("note: signature block does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(f"note: {len(lines)} signature lines, more than the limit of {MAX_SIGNATURES}")
    return Note(text, (), tuple(_parse_signature_line(line, i) for i, line in enumerate(lines)))


def open_note(msg: str | bytes, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse and verify a signed note against known keys (signed-note §Signatures).

    Raises FormatError for a malformed note, SignatureError if a known key's signature
    is invalid or if no known key signed. Repeated signatures by one key are checked once.
    """
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in known:
            raise LedgerError(f"verifier list: key {v.name}+{v.key_id:08x} is listed twice")
        known[(v.name, v.key_id)] = v
    parsed = parse_note(msg)
    text = parsed.text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for sig in parsed.unverified_signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if ident in seen:
            continue
        seen.add(ident)
        if not verifier.verify(text, sig.signature):
            raise SignatureError(f"note: invalid signature by known key {sig.name}+{sig.key_id:08x}")
        verified.append(sig)
    if not verified:
        found = ", ".join(f"{s.name}+{s.key_id:08x}" for s in unverified) or "none"
        expected = ", ".join(f"{n}+{i:08x}" for n, i in known) or "none"
        raise SignatureError(f"note: no signature by a known key (known: {expected}; found: {found})")
    return Note(parsed.text, tuple(verified), tuple(unverified))


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"note: signature line {number + 1}"
    if not line.startswith(SIGNATURE_PREFIX):
        raise FormatError(f"{where}: expected to start with '— ' (U+2014, space), found {line[:12]!r}")
    name, space, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise FormatError(f"{where}: expected '— <name> <base64 signature>', found {line!r}")
    check_key_name(name, f"{where}: key name")
    payload = b64decode(b64, f"{where}: signature")
    if len(payload) < 5:
        raise FormatError(f"{where}: expected a 4-byte key ID and a signature, found {len(payload)} bytes")
    return NoteSignature(name, int.from_bytes(payload[:4], "big"), payload[4:])


def _split_key(label: str, id_text: str, key_text: str, secret: bool) -> tuple[int, int, bytes]:
    """(key ID, type byte, key bytes) of an encoded key; `secret` keeps key text out of errors."""
    if not _KEY_ID.fullmatch(id_text):
        raise FormatError(f"{label}: expected an 8-digit lower-case hex key ID, found {id_text!r}")
    try:
        raw = b64decode(key_text, f"{label}: key")
    except FormatError:
        if secret:
            raise FormatError(f"{label}: key material is not canonical base64") from None
        raise
    if len(raw) != 1 + 32:
        raise FormatError(f"{label}: expected a type byte and 32 key bytes, found {len(raw)} bytes")
    return int(id_text, 16), raw[0], raw[1:]


def _check_key_id(label: str, stated: int, actual: int) -> None:
    if stated != actual:
        raise FormatError(f"{label}: key ID {stated:08x} does not match the key (expected {actual:08x})")


def _check_key_type(key_type: int, name: str) -> None:
    if key_type not in _SUPPORTED_TYPES:
        raise FormatError(
            f"key {name!r}: unsupported signature type 0x{key_type:02x} (expected 0x01 or 0x04)"
        )


def _check_note_chars(text: str, what: str) -> None:
    # signed-note §Format: valid UTF-8, no ASCII control characters other than newline.
    for i, c in enumerate(text):
        if (c < " " and c != "\n") or "\ud800" <= c <= "\udfff":
            raise FormatError(f"{what}: character U+{ord(c):04X} at index {i} is not allowed")


def _text_bytes(text: str) -> bytes:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("note text: must be a string ending in a newline")
    _check_note_chars(text, "note text")
    return text.encode("utf-8")
