"""The append path: the only code that writes entries. It never updates or deletes.

`Ledger` takes a Session and does not commit: the caller (a request or a CLI command) owns
the transaction. On SQLite the caller's session should be bound with write intent
(farmtrace.ledger.db.write_engine) so the write lock is taken at BEGIN; on PostgreSQL the
chain's row lock serialises appenders to one batch while other batches proceed in parallel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import (
    CLOCK_SKEW,
    KEYS_CHAIN,
    VERSION,
    Entry,
    format_event_time,
    make_entry,
    parse_stored_entry,
    recorded_now,
)
from farmtrace.ledger.errors import (
    ChainConflict,
    ChainExists,
    IdempotencyConflict,
    KeyNotUsable,
    NoSuchChain,
)
from farmtrace.ledger.keyhistory import KEY_REGISTERED, KEY_REVOKED, KeyRecord, parse_registration
from farmtrace.ledger.keys import SigningKey, verify_signature
from farmtrace.ledger.models import Chain, EntryRow, PublicKey, Unsequenced

# What makes two submissions "the same" for idempotency: everything the client chose.
CONTENT_FIELDS = ("batch", "type", "event_time", "author", "payload", "amends")


@dataclass(frozen=True)
class Draft:
    """What a caller asks to record; the ledger adds seq, prev, recorded_at and key."""

    batch: str
    type: str
    event_time: datetime
    author: str
    client_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    amends: bytes | None = None


@dataclass(frozen=True)
class StoredEntry:
    id: int
    entry: Entry
    signature: bytes
    created: bool = True  # False when an idempotent retry returned the stored entry

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry.fields,
            "signature": b64encode(self.signature),
            "hash": b64encode(self.entry.hash),
        }


def utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(self, session: Session, clock: Callable[[], datetime] = utc_now) -> None:
        self.session = session
        self.clock = clock

    # -- writing -------------------------------------------------------------------------

    def open_chain(self, draft: Draft, signer: SigningKey) -> StoredEntry:
        """Record entry 0 of a new chain (a batch's registration)."""
        existing = self._by_client_id(draft.client_id)
        if existing is not None:
            return self._same_or_conflict(existing, draft)
        if self.session.get(Chain, draft.batch) is not None:
            raise ChainExists(f"entry.batch: chain {draft.batch} already exists")
        now = self.clock()
        self.session.add(Chain(batch=draft.batch, created_at=now))
        entry = make_entry(self._fields(draft, 0, None, recorded_now(now), signer.key_id))
        return self._store(entry, signer.sign(entry.signing_input()))

    def append(self, draft: Draft, signer: SigningKey) -> StoredEntry:
        """Record `draft` as the next entry of its chain, signed with a custodial key."""
        existing = self._by_client_id(draft.client_id)
        if existing is not None:
            return self._same_or_conflict(existing, draft)
        head = self._locked_head(draft.batch)
        recorded = recorded_now(self.clock(), head.entry.recorded_at)
        entry = make_entry(self._fields(draft, head.entry.seq + 1, head.entry.hash, recorded, signer.key_id))
        return self._store(entry, signer.sign(entry.signing_input()))

    def append_signed(self, entry: Entry, signature: bytes) -> StoredEntry:
        """Record an entry its author signed itself (self-custody); the server checks it all."""
        existing = self._by_client_id(entry.client_id)
        if existing is not None:
            if existing.entry.canonical == entry.canonical and existing.signature == signature:
                return StoredEntry(existing.id, existing.entry, existing.signature, created=False)
            raise IdempotencyConflict(f"entry.id: {entry.client_id!r} was already used for a different entry")
        if entry.seq == 0:
            raise ChainConflict(
                "entry.seq: a chain is opened by the operator's registration, not by a signed upload"
            )
        head = self._locked_head(entry.batch)
        if entry.seq != head.entry.seq + 1 or entry.prev != head.entry.hash:
            raise ChainConflict(
                f"entry.seq/prev: chain {entry.batch} is at seq {head.entry.seq} with hash "
                f"{b64encode(head.entry.hash)}; expected seq {head.entry.seq + 1} with that prev, found seq "
                f"{entry.seq}; fetch the head, rebuild and sign again"
            )
        now = self.clock()
        if abs(entry.recorded_at - now) > CLOCK_SKEW:
            raise ChainConflict(
                f"entry.recorded_at: {entry.fields['recorded_at']} is more than "
                f"{int(CLOCK_SKEW.total_seconds())} s from the server's time {now.isoformat()}"
            )
        if entry.recorded_at < head.entry.recorded_at:
            raise ChainConflict("entry.recorded_at: earlier than the previous entry of the chain")
        return self._store(entry, signature)

    # -- reading -------------------------------------------------------------------------

    def head(self, batch: str) -> StoredEntry | None:
        row = self.session.scalars(
            select(EntryRow).where(EntryRow.batch == batch).order_by(EntryRow.seq.desc()).limit(1)
        ).first()
        return None if row is None else _stored(row)

    def entries(self, batch: str) -> list[StoredEntry]:
        rows = self.session.scalars(select(EntryRow).where(EntryRow.batch == batch).order_by(EntryRow.seq))
        return [_stored(row) for row in rows]

    def by_hash(self, entry_hash: bytes) -> StoredEntry | None:
        row = self.session.scalars(select(EntryRow).where(EntryRow.entry_hash == entry_hash)).first()
        return None if row is None else _stored(row)

    def key(self, key_id: str) -> KeyRecord | None:
        row = self.session.get(PublicKey, key_id)
        if row is None:
            return None
        return KeyRecord(
            row.key_id, row.org, row.role, row.public_key, _aware(row.valid_from), _aware(row.revoked_at)
        )

    # -- internals -----------------------------------------------------------------------

    def _fields(
        self, draft: Draft, seq: int, prev: bytes | None, recorded: str, key_id: str
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "v": VERSION,
            "batch": draft.batch,
            "seq": seq,
            "prev": None if prev is None else b64encode(prev),
            "type": draft.type,
            "event_time": format_event_time(draft.event_time),
            "recorded_at": recorded,
            "author": draft.author,
            "key": key_id,
            "id": draft.client_id,
            "payload": draft.payload,
        }
        if draft.amends is not None:
            fields["amends"] = b64encode(draft.amends)
        return fields

    def _locked_head(self, batch: str) -> StoredEntry:
        # FOR UPDATE on PostgreSQL serialises appenders of one chain; SQLite ignores it and
        # relies on BEGIN IMMEDIATE. Reading the chain row never updates it.
        chain = self.session.scalars(select(Chain).where(Chain.batch == batch).with_for_update()).first()
        if chain is None:
            raise NoSuchChain(f"entry.batch: no chain {batch!r}; register the batch first")
        head = self.head(batch)
        assert head is not None, f"chain {batch} has a row but no entry 0"
        return head

    def _store(self, entry: Entry, signature: bytes) -> StoredEntry:
        record = self.key(entry.key_id)
        if record is None and entry.batch == KEYS_CHAIN and entry.seq == 0:
            record = parse_registration(entry)
        if record is None:
            raise KeyNotUsable(f"entry.key: unknown key {entry.key_id}")
        if record.org != entry.author:
            raise KeyNotUsable(
                f"entry.key: key {entry.key_id} belongs to {record.org}, not to author {entry.author}"
            )
        if not record.valid_at(entry.recorded_at):
            raise KeyNotUsable(
                f"entry.key: key {entry.key_id} is not valid at {entry.fields['recorded_at']} (revoked or not yet valid)"
            )
        verify_signature(record.public_key, entry.signing_input(), signature)
        row = EntryRow(
            batch=entry.batch,
            seq=entry.seq,
            entry_hash=entry.hash,
            canonical=entry.canonical,
            signature=signature,
            client_id=entry.client_id,
            entry_type=entry.type,
            author=entry.author,
            key_id=entry.key_id,
            recorded_at=entry.recorded_at,
        )
        try:
            with self.session.begin_nested():
                self.session.add(row)
                self.session.flush()
                self.session.add(Unsequenced(entry_id=row.id))
                self.session.flush()
        except IntegrityError:
            raced = self._by_client_id(entry.client_id)
            if raced is not None and raced.entry.canonical == entry.canonical:
                return StoredEntry(raced.id, raced.entry, raced.signature, created=False)
            raise ChainConflict(
                f"entry.seq: another writer recorded {entry.batch}/{entry.seq} first; retry"
            ) from None
        if entry.batch == KEYS_CHAIN:
            self._index_key_entry(entry)
        return StoredEntry(row.id, entry, signature)

    def _index_key_entry(self, entry: Entry) -> None:
        payload = entry.payload
        if entry.type == KEY_REGISTERED:
            self.session.add(
                PublicKey(
                    key_id=payload["key_id"],
                    org=payload["org"],
                    role=payload["role"],
                    public_key=b64decode(payload["public_key"], "payload.public_key"),
                    valid_from=entry.recorded_at,
                    revoked_at=None,
                )
            )
        elif entry.type == KEY_REVOKED:
            row = self.session.get(PublicKey, payload["key_id"])
            if row is not None:
                row.revoked_at = entry.recorded_at
        self.session.flush()

    def _by_client_id(self, client_id: str) -> StoredEntry | None:
        row = self.session.scalars(select(EntryRow).where(EntryRow.client_id == client_id)).first()
        return None if row is None else _stored(row)

    def _same_or_conflict(self, existing: StoredEntry, draft: Draft) -> StoredEntry:
        wanted = self._fields(draft, 0, None, "", "")
        stored = existing.entry.fields
        for name in CONTENT_FIELDS:
            if wanted.get(name) != stored.get(name):
                raise IdempotencyConflict(
                    f"entry.id: {draft.client_id!r} was already used for a different entry "
                    f"({name} differs); use a new id for new content"
                )
        return StoredEntry(existing.id, existing.entry, existing.signature, created=False)


def _stored(row: EntryRow) -> StoredEntry:
    return StoredEntry(row.id, parse_stored_entry(row.canonical), row.signature, created=False)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every time we store is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
