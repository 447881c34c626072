"""The key history: which public key may sign for which organisation, and when.

Keys are registered and revoked by entries on the reserved chain `keys`, each signed by the
root key. Entry 0 of that chain registers the root key itself and is signed by it, so a
verifier that pins the root public key can rebuild the whole history from the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import KEYS_CHAIN, Entry
from farmtrace.ledger.errors import FormatError, KeyNotUsable, SignatureError
from farmtrace.ledger.keys import key_id_for, verify_signature

KEY_REGISTERED = "key.registered"
KEY_REVOKED = "key.revoked"
ROLES = ("root", "log", "org")


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    org: str
    role: str
    public_key: bytes
    valid_from: datetime
    revoked_at: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.revoked_at is None or moment < self.revoked_at)


def registration_payload(key_id: str, org: str, role: str, public_key: bytes) -> dict:
    return {"key_id": key_id, "org": org, "role": role, "public_key": b64encode(public_key)}


def revocation_payload(key_id: str, reason: str) -> dict:
    return {"key_id": key_id, "reason": reason}


class KeyHistory:
    """Replays key entries in chain order; `check` says whether a key may sign an entry."""

    def __init__(self, root_public_key: bytes) -> None:
        self.root_key_id = key_id_for(root_public_key)
        self.root_public_key = root_public_key
        self.keys: dict[str, KeyRecord] = {}

    def apply(self, entry: Entry, signature: bytes) -> KeyRecord:
        """Take one entry of the `keys` chain, after checking the root signed it."""
        verify_signature(self.signer_of(entry), entry.signing_input(), signature)
        return self.record(entry)

    def signer_of(self, entry: Entry) -> bytes:
        """The public key that must have signed `entry`: for keys/0 the root key it
        registers, which must be the pinned one; later, the registered root key."""
        if entry.batch != KEYS_CHAIN:
            raise FormatError(f"entry {entry.batch}/{entry.seq}: not on the {KEYS_CHAIN!r} chain")
        if entry.seq == 0:
            record = parse_registration(entry)
            if record.key_id != self.root_key_id or record.role != "root":
                raise SignatureError(
                    f"keys/0 registers {record.key_id} as {record.role}; expected the pinned root key "
                    f"{self.root_key_id}"
                )
            return record.public_key
        root = self.keys.get(self.root_key_id)
        if root is None:
            raise FormatError(f"keys/{entry.seq}: the chain does not start with the root key")
        if entry.key_id != root.key_id:
            raise SignatureError(
                f"keys/{entry.seq}: signed by {entry.key_id}, expected the root key {root.key_id}"
            )
        return root.public_key

    def record(self, entry: Entry) -> KeyRecord:
        """Replay one entry whose signature the caller has checked with `signer_of(entry)`
        (or, in a browser without Ed25519, could not check): the rules of the key history."""
        self.signer_of(entry)  # the rules that do not need the signature
        if entry.seq == 0:
            record = parse_registration(entry)
            self.keys[record.key_id] = record
            return record
        if entry.type == KEY_REGISTERED:
            record = parse_registration(entry)
            if record.key_id in self.keys:
                raise FormatError(f"keys/{entry.seq}: key {record.key_id} is registered twice")
            if record.role == "root":
                raise FormatError(f"keys/{entry.seq}: a second root key cannot be registered")
            self.keys[record.key_id] = record
            return record
        if entry.type == KEY_REVOKED:
            key_id = _text(entry, "key_id")
            record = self.keys.get(key_id)
            if record is None:
                raise FormatError(f"keys/{entry.seq}: revokes unknown key {key_id}")
            if record.revoked_at is not None:
                raise FormatError(f"keys/{entry.seq}: key {key_id} is already revoked")
            if record.role == "root":
                raise FormatError(f"keys/{entry.seq}: the root key cannot be revoked by an entry")
            _text(entry, "reason")
            record = replace(record, revoked_at=entry.recorded_at)
            self.keys[key_id] = record
            return record
        raise FormatError(f"keys/{entry.seq}: unknown key entry type {entry.type!r}")

    def check(self, entry: Entry) -> KeyRecord:
        """The key record that may sign `entry`, or KeyNotUsable saying why none may."""
        record = self.keys.get(entry.key_id)
        if record is None:
            raise KeyNotUsable(f"entry.key: unknown key {entry.key_id}")
        if record.org != entry.author:
            raise KeyNotUsable(
                f"entry.key: key {entry.key_id} belongs to {record.org}, not to author {entry.author}"
            )
        moment = entry.recorded_at
        if moment < record.valid_from:
            raise KeyNotUsable(
                f"entry.key: key {entry.key_id} is valid from {record.valid_from.isoformat()}, "
                f"after the entry's recorded time {entry.fields['recorded_at']}"
            )
        if record.revoked_at is not None and moment >= record.revoked_at:
            raise KeyNotUsable(
                f"entry.key: key {entry.key_id} was revoked at {record.revoked_at.isoformat()}, "
                f"before the entry's recorded time {entry.fields['recorded_at']}"
            )
        return record


def parse_registration(entry: Entry) -> KeyRecord:
    """The key record that a key.registered entry declares (signature not checked here)."""
    if entry.type != KEY_REGISTERED:
        raise FormatError(f"keys/{entry.seq}: expected {KEY_REGISTERED}, found {entry.type!r}")
    role = _text(entry, "role")
    if role not in ROLES:
        raise FormatError(f"keys/{entry.seq}: payload.role must be one of {', '.join(ROLES)}, found {role!r}")
    public_key = b64decode(_text(entry, "public_key"), f"keys/{entry.seq} payload.public_key")
    key_id = _text(entry, "key_id")
    if len(public_key) != 32 or key_id_for(public_key) != key_id:
        raise FormatError(f"keys/{entry.seq}: payload.key_id {key_id} does not match payload.public_key")
    return KeyRecord(key_id, _text(entry, "org"), role, public_key, entry.recorded_at)


def _text(entry: Entry, name: str) -> str:
    value = entry.payload.get(name)
    if not isinstance(value, str) or not value:
        raise FormatError(f"{entry.batch}/{entry.seq}: payload.{name} must be a non-empty string")
    return value
