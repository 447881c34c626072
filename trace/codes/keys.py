"""Serial keys at rest: random 32-byte secrets sealed with AES-256-GCM under the master key.

Like the ledger's custodial keys (ledger.keys.MasterKey), a database dump alone reveals no
serial key; the master key file stays outside the database. The associated data binds each
sealed secret to its key id, so a sealed value copied to another id does not open.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.keys import MasterKey
from farmtrace.trace.codes.models import SerialKeyRow
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.serials import MAX_KEY_ID, SECRET_LENGTH, SerialKey, SerialKeyring

NONCE_SIZE: Final = 12
_AAD_PREFIX: Final = b"farmtrace/serial-key/v1/"


class SerialKeyUnusable(InvalidInput):
    """A serial key cannot be opened (wrong master key) or no key id is left."""


def seal_serial_key(master: MasterKey, key: SerialKey) -> bytes:
    nonce = secrets.token_bytes(NONCE_SIZE)
    return nonce + AESGCM(master.secret).encrypt(nonce, key.secret, _aad(key.key_id))


def unseal_serial_key(master: MasterKey, key_id: int, sealed: bytes) -> SerialKey:
    try:
        secret = AESGCM(master.secret).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], _aad(key_id))
    except InvalidTag:
        raise SerialKeyUnusable(
            "key_id", f"Serial key {key_id} cannot be opened with this master key (wrong key file?)."
        ) from None
    if len(secret) != SECRET_LENGTH:
        raise SerialKeyUnusable("key_id", f"Serial key {key_id}: sealed secret has {len(secret)} bytes.")
    return SerialKey(key_id, secret)


def _aad(key_id: int) -> bytes:
    return _AAD_PREFIX + str(key_id).encode()


class SerialKeyStore:
    """Serial keys in codes_serial_key. Takes a Session; never commits."""

    def __init__(self, session: Session, master: MasterKey) -> None:
        self.session = session
        self.master = master

    def keyring(self) -> SerialKeyring:
        """Every key whose codes are accepted (all but the retired ones)."""
        rows = self.session.scalars(
            select(SerialKeyRow).where(SerialKeyRow.retired_at.is_(None)).order_by(SerialKeyRow.key_id)
        )
        return SerialKeyring(tuple(unseal_serial_key(self.master, row.key_id, row.sealed) for row in rows))

    def get(self, key_id: int) -> SerialKey | None:
        """The key with this id, or None if it does not exist or is retired."""
        row = self.session.get(SerialKeyRow, key_id)
        if row is None or row.retired_at is not None:
            return None
        return unseal_serial_key(self.master, row.key_id, row.sealed)

    def exists(self, key_id: int) -> bool:
        return self.session.get(SerialKeyRow, key_id) is not None

    def create(self, key_id: int) -> SerialKey:
        """Generate and store key `key_id` (the caller holds the allocator lock)."""
        if not 0 <= key_id <= MAX_KEY_ID:
            raise SerialKeyUnusable(
                "key_id", f"No serial key id left: Expected 0 to {MAX_KEY_ID}, got {key_id}."
            )
        key = SerialKey.generate(key_id)
        self.session.add(
            SerialKeyRow(
                key_id=key_id, sealed=seal_serial_key(self.master, key), created_at=datetime.now(UTC)
            )
        )
        self.session.flush()
        return key

    def retire(self, key_id: int) -> None:
        """Stop accepting key `key_id`'s codes (a leaked key); new codes come from the next id."""
        row = self.session.get(SerialKeyRow, key_id)
        if row is None:
            raise SerialKeyUnusable("key_id", f"No serial key {key_id}.")
        if row.retired_at is None:
            row.retired_at = datetime.now(UTC)
            self.session.flush()
