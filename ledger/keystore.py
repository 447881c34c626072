"""Custodial keys: the root key, the log key and organisation keys, sealed in the database.

Every key's public half is registered in the `keys` chain by an entry the root key signs;
the sealed private half lives in ledger_sealed_key. Like every service here, KeyStore takes
a Session and does not commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft, Ledger, StoredEntry
from farmtrace.ledger.entry import KEYS_CHAIN
from farmtrace.ledger.errors import KeyNotUsable
from farmtrace.ledger.keyhistory import (
    KEY_REGISTERED,
    KEY_REVOKED,
    KeyRecord,
    registration_payload,
    revocation_payload,
)
from farmtrace.ledger.keys import MasterKey, SigningKey, key_id_for
from farmtrace.ledger.models import PublicKey, SealedKey


@dataclass(frozen=True)
class LogKeys:
    root: SigningKey
    log: SigningKey


class KeyStore:
    def __init__(self, session: Session, master: MasterKey, ledger: Ledger | None = None) -> None:
        self.session = session
        self.master = master
        self.ledger = ledger or Ledger(session)

    def bootstrap(self, operator: str) -> LogKeys:
        """Create the root and log keys and open the key chain, once. Later calls return them."""
        existing = self._active(role="root")
        if existing:
            return LogKeys(root=self._unseal(existing[0]), log=self.log_key())
        root = SigningKey.generate()
        self._seal(root, operator)
        when = self.ledger.clock()
        self.ledger.open_chain(
            Draft(
                batch=KEYS_CHAIN,
                type=KEY_REGISTERED,
                event_time=when,
                author=operator,
                client_id=f"keys.register.{root.key_id}",
                payload=registration_payload(root.key_id, operator, "root", root.public_key),
            ),
            root,
        )
        log = self._register(SigningKey.generate(), operator, "log", root)
        return LogKeys(root=root, log=log)

    def create_org_key(self, org: str) -> SigningKey:
        """A new custodial key for `org`, registered in the key chain."""
        return self._register(SigningKey.generate(), org, "org", self.root_key())

    def register_public_key(self, org: str, public_key: bytes) -> KeyRecord:
        """Register a self-custody key: the organisation keeps the private half."""
        key_id = key_id_for(public_key)
        self._append_key_entry(KEY_REGISTERED, key_id, registration_payload(key_id, org, "org", public_key))
        record = self.ledger.key(key_id)
        assert record is not None
        return record

    def rotate(self, org: str) -> SigningKey:
        """Register a new custodial key for `org`, then revoke its previous active keys."""
        old = self._active(role="org", org=org)
        new = self.create_org_key(org)
        for row in old:
            self.revoke(row.key_id, "rotated")
        return new

    def revoke(self, key_id: str, reason: str) -> StoredEntry:
        row = self.session.get(PublicKey, key_id)
        if row is None:
            raise KeyNotUsable(f"key {key_id}: no such key")
        if row.role == "root":
            raise KeyNotUsable(f"key {key_id}: the root key cannot be revoked")
        return self._append_key_entry(KEY_REVOKED, key_id, revocation_payload(key_id, reason))

    def signer_for(self, org: str) -> SigningKey:
        """The newest active custodial key of `org`."""
        for row in self._active(role="org", org=org):
            sealed = self.session.get(SealedKey, row.key_id)
            if sealed is not None:
                return self.master.unseal(row.key_id, sealed.sealed)
        raise KeyNotUsable(
            f"organisation {org}: no active custodial key; create one with `farmtrace keys create`"
        )

    def root_key(self) -> SigningKey:
        rows = self._active(role="root")
        if not rows:
            raise KeyNotUsable("no root key: run `farmtrace keys init` (or `farmtrace demo`) first")
        return self._unseal(rows[0])

    def log_key(self) -> SigningKey:
        rows = self._active(role="log")
        if not rows:
            raise KeyNotUsable("no log key: run `farmtrace keys init` first")
        return self._unseal(rows[0])

    def public_keys(self, org: str | None = None) -> list[KeyRecord]:
        query = select(PublicKey).order_by(PublicKey.valid_from)
        if org is not None:
            query = query.where(PublicKey.org == org)
        records = []
        for row in self.session.scalars(query):
            record = self.ledger.key(row.key_id)
            assert record is not None
            records.append(record)
        return records

    def _register(self, key: SigningKey, org: str, role: str, root: SigningKey) -> SigningKey:
        self._seal(key, org)
        self._append_key_entry(
            KEY_REGISTERED, key.key_id, registration_payload(key.key_id, org, role, key.public_key), root
        )
        return key

    def _append_key_entry(
        self, entry_type: str, key_id: str, payload: dict, root: SigningKey | None = None
    ) -> StoredEntry:
        root = root or self.root_key()
        operator = self.session.get(PublicKey, root.key_id)
        assert operator is not None
        verb = "register" if entry_type == KEY_REGISTERED else "revoke"
        return self.ledger.append(
            Draft(
                batch=KEYS_CHAIN,
                type=entry_type,
                event_time=self.ledger.clock(),
                author=operator.org,
                client_id=f"keys.{verb}.{key_id}",
                payload=payload,
            ),
            root,
        )

    def _seal(self, key: SigningKey, org: str) -> None:
        self.session.add(
            SealedKey(key_id=key.key_id, org=org, sealed=self.master.seal(key), created_at=datetime.now(UTC))
        )
        self.session.flush()

    def _unseal(self, row: PublicKey) -> SigningKey:
        sealed = self.session.get(SealedKey, row.key_id)
        if sealed is None:
            raise KeyNotUsable(f"key {row.key_id}: its private half is not held here")
        return self.master.unseal(row.key_id, sealed.sealed)

    def _active(self, role: str, org: str | None = None) -> list[PublicKey]:
        query = (
            select(PublicKey)
            .where(PublicKey.role == role, PublicKey.revoked_at.is_(None))
            .order_by(PublicKey.valid_from.desc(), PublicKey.key_id)
        )
        if org is not None:
            query = query.where(PublicKey.org == org)
        return list(self.session.scalars(query))
