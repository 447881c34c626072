"""C2SP tlog-cosignature, Ed25519 (c2sp.org/tlog-cosignature): witness signatures.

A cosignature is a note signature line on a checkpoint, by a key of signature type 0x04:

    key ID    = SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4]
    signature = u64 timestamp (big-endian, POSIX seconds, < 2**63) || Ed25519 signature
    message   = "cosignature/v1\n" "time <timestamp>\n" || checkpoint body

The message covers the whole note text (origin, size, root and any extension lines) but
not the name of the cosigner; a cosigner therefore uses one key per name.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.ledger.errors import FormatError, SignatureError
from farmtrace.ledger.note import SIG_TYPE_COSIGNATURE_V1, NoteSignature, SignerKey, VerifierKey

COSIGNATURE_V1_HEADER = "cosignature/v1"
MAX_TIMESTAMP = 2**63 - 1
_SIGNATURE_SIZE = 8 + 64


def cosignature_v1_message(checkpoint_text: str, timestamp: int) -> bytes:
    """tlog-cosignature §Ed25519 signed message."""
    _check_timestamp(timestamp)
    if not checkpoint_text.endswith("\n"):
        raise FormatError("cosigned checkpoint: expected text ending in a newline")
    return f"{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


def cosign(checkpoint_text: str, signer: SignerKey, timestamp: int) -> NoteSignature:
    """The cosignature line of a witness key (type 0x04) on a checkpoint body."""
    if signer.key_type != SIG_TYPE_COSIGNATURE_V1:
        raise SignatureError(
            f"cosigner {signer.name}: expected a signature type 0x04 key, found 0x{signer.key_type:02x}"
        )
    signature = signer.sign(cosignature_v1_message(checkpoint_text, timestamp))
    return NoteSignature(signer.name, signer.key_id, timestamp.to_bytes(8, "big") + signature)


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The timestamp a cosignature claims (not verified by this function)."""
    if len(signature.signature) != _SIGNATURE_SIZE:
        raise FormatError(
            f"cosignature by {signature.name}: expected {_SIGNATURE_SIZE} bytes after the key ID, "
            f"found {len(signature.signature)}"
        )
    timestamp = int.from_bytes(signature.signature[:8], "big")
    _check_timestamp(timestamp)
    return timestamp


def verify_cosignature(checkpoint_text: str, signature: NoteSignature, cosigner: VerifierKey) -> None:
    """Check one cosignature line on a checkpoint body against a cosigner's key."""
    if cosigner.key_type != SIG_TYPE_COSIGNATURE_V1:
        raise SignatureError(
            f"cosigner {cosigner.name}: expected a signature type 0x04 key, found 0x{cosigner.key_type:02x}"
        )
    if (signature.name, signature.key_id) != (cosigner.name, cosigner.key_id):
        raise SignatureError(
            f"cosignature: signed by {signature.name}+{signature.key_id:08x}, "
            f"expected {cosigner.name}+{cosigner.key_id:08x}"
        )
    timestamp = cosignature_timestamp(signature)
    message = cosignature_v1_message(checkpoint_text, timestamp)
    try:
        Ed25519PublicKey.from_public_bytes(cosigner.public_key).verify(signature.signature[8:], message)
    except InvalidSignature:
        raise SignatureError(
            f"cosignature: invalid signature by {cosigner.name}+{cosigner.key_id:08x} at time {timestamp}"
        ) from None


@dataclass(frozen=True)
class CosignatureVerifier:
    """A cosigner's key as a note.NoteVerifier, for open_note and open_checkpoint."""

    key: VerifierKey

    def __post_init__(self) -> None:
        if self.key.key_type != SIG_TYPE_COSIGNATURE_V1:
            raise FormatError(
                f"cosigner {self.key.name}: expected a signature type 0x04 key, found 0x{self.key.key_type:02x}"
            )

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def key_id(self) -> int:
        return self.key.key_id

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            verify_cosignature(
                text.decode("utf-8"), NoteSignature(self.name, self.key_id, signature), self.key
            )
        except (SignatureError, FormatError, UnicodeDecodeError):
            return False
        return True


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError(f"cosignature timestamp: expected an integer 0 to 2**63-1, found {timestamp!r}")
