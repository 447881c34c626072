"""Ed25519 keys: ids, signing and verification, and sealing private keys under a master key.

Custodial private keys never exist unencrypted outside memory: they are stored sealed with
AES-256-GCM under a 32-byte master key that lives in a file of mode 0600 (not in the
database, so a database dump alone reveals no private key). Nothing here logs key material,
and the key classes hide it from repr().
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from farmtrace.ledger.errors import LedgerError, SignatureError

KEY_ID_CONTEXT = b"farmtrace/key/v1\n"
MASTER_KEY_SIZE = 32
NONCE_SIZE = 12


class KeyFileError(LedgerError):
    """A key file or sealed key cannot be used (missing, wrong permissions, wrong master key)."""


def key_id_for(public_key: bytes) -> str:
    """'k' + the first 8 bytes of SHA-256("farmtrace/key/v1\\n" || public key), in hex."""
    if len(public_key) != 32:
        raise LedgerError(f"public key: expected 32 bytes of Ed25519 key, found {len(public_key)}")
    return "k" + hashlib.sha256(KEY_ID_CONTEXT + public_key).digest()[:8].hex()


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its public half and id. repr() shows no secret."""

    seed: bytes = field(repr=False)
    public_key: bytes
    key_id: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_seed(secrets.token_bytes(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise LedgerError(f"private key: expected a 32-byte Ed25519 seed, found {len(seed)} bytes")
        public = (
            Ed25519PrivateKey.from_private_bytes(seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return cls(seed=seed, public_key=public, key_id=key_id_for(public))

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Return None if `signature` is a valid Ed25519 signature of `message`; else raise."""
    if len(signature) != 64:
        raise SignatureError(f"signature: expected 64 bytes, found {len(signature)}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        raise SignatureError("signature does not verify with the key") from None
    except ValueError as exc:
        raise SignatureError(f"public key is not a valid Ed25519 key: {exc}") from None


@dataclass(frozen=True)
class MasterKey:
    secret: bytes = field(repr=False)

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Read the master key file, creating it (mode 0600) if it does not exist yet."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(MASTER_KEY_SIZE))
                handle.flush()
                os.fsync(handle.fileno())
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"master key file {str(path)!r} cannot be read: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"master key file {str(path)!r} is readable by others (mode {stat.S_IMODE(mode):o}); "
                "run chmod 600 on it"
            )
        if len(data) != MASTER_KEY_SIZE:
            raise KeyFileError(
                f"master key file {str(path)!r}: expected {MASTER_KEY_SIZE} bytes, found {len(data)}"
            )
        return cls(secret=data)

    def seal(self, key: SigningKey) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + AESGCM(self.secret).encrypt(nonce, key.seed, key.key_id.encode())

    def unseal(self, key_id: str, sealed: bytes) -> SigningKey:
        try:
            seed = AESGCM(self.secret).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], key_id.encode())
        except InvalidTag:
            raise KeyFileError(f"sealed key {key_id}: cannot be opened with this master key") from None
        key = SigningKey.from_seed(seed)
        if key.key_id != key_id:
            raise KeyFileError(f"sealed key {key_id}: holds key {key.key_id}")
        return key
