"""The append path: the only code that writes entries. It never updates or deletes.

`Ledger` takes a Session and does not commit: the caller (a request or a CLI command) owns
the transaction. On SQLite the caller's session should be bound with write intent
(farmtrace.ledger.db.write_engine) so the write lock is taken at BEGIN; on PostgreSQL the
chain's row lock serialises appenders to one batch while other batches proceed in parallel.

Every append, single or bulk, is one read under locks and one write. On PostgreSQL each is
one round trip: its statements go out as one psycopg pipeline, yet each still runs with its
own READ COMMITTED snapshot, taken after the locks before it were granted, so what is read
under a lock is never stale. The signing key's row is read FOR SHARE and a revocation locks
its key row FOR UPDATE before choosing its time, so an entry and the revocation of its key
are ordered by lock, not by a race of clocks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import (
    CLOCK_SKEW,
    KEYS_CHAIN,
    VERSION,
    Entry,
    format_event_time,
    make_entry,
    parse_recorded_at,
    recorded_now,
)
from farmtrace.ledger.errors import (
    AppendError,
    ChainConflict,
    ChainExists,
    IdempotencyConflict,
    KeyNotUsable,
    NoSuchChain,
    SignatureError,
)
from farmtrace.ledger.keyhistory import KEY_REGISTERED, KEY_REVOKED, KeyRecord, parse_registration
from farmtrace.ledger.keys import SigningKey, verify_signature
from farmtrace.ledger.models import Chain, EntryRow, PublicKey, Unsequenced
from farmtrace.ledger.verify_rows import stored_entry

# What makes two submissions "the same" for idempotency: everything the client chose.
CONTENT_FIELDS = ("batch", "type", "event_time", "author", "payload", "amends")
# Drafts per append_many call: bounds the transaction's size and its time holding chain locks.
MAX_BULK = 1000


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


@dataclass(frozen=True)
class _Head:
    seq: int
    hash: bytes
    recorded_at: datetime


@dataclass(frozen=True)
class _Signed:
    """A new entry ready to insert, with its recorded time parsed once."""

    entry: Entry
    signature: bytes
    recorded_at: datetime


@dataclass(frozen=True)
class _State:
    """What one read under the locks found: chains, their heads, stored ids, key records."""

    chains: set[str]
    heads: dict[str, _Head]
    stored: dict[str, StoredEntry]
    keys: dict[str, KeyRecord]


class Ledger:
    def __init__(self, session: Session, clock: Callable[[], datetime] = utc_now) -> None:
        self.session = session
        self.clock = clock

    # -- writing -------------------------------------------------------------------------

    def open_chain(self, draft: Draft, signer: SigningKey) -> StoredEntry:
        """Record entry 0 of a new chain (a batch's registration)."""
        return self._open_chain(draft, signer, retry=True)

    def append(self, draft: Draft, signer: SigningKey) -> StoredEntry:
        """Record `draft` as the next entry of its chain, signed with a custodial key."""
        return self.append_many([draft], signer)[0]

    def append_many(
        self, drafts: Sequence[Draft], signer: SigningKey | Mapping[str, SigningKey]
    ) -> list[StoredEntry]:
        """Record `drafts` in order, each as the next entry of its chain, signed with a
        custodial key: one read under the chains' locks and one multi-row insert.

        `signer` signs every draft, or maps each draft's author to the key that signs it
        (several organisations' events on one chain, in one call).

        Each draft keeps append()'s idempotency: an id already stored, or repeated within
        `drafts`, returns the entry stored for it (created=False) and records nothing new;
        an id used for different content raises IdempotencyConflict. Either every new entry
        is stored or, on any error, none is.
        """
        if len(drafts) > MAX_BULK:
            raise AppendError(f"drafts: at most {MAX_BULK} per call, found {len(drafts)}")
        if isinstance(signer, Mapping):
            missing = sorted({d.author for d in drafts} - set(signer))
            if missing:
                raise AppendError(f"signer: no signing key given for author {missing[0]!r}")
            signers = dict(signer)
        else:
            signers = {d.author: signer for d in drafts}
        return self._append_drafts(list(drafts), signers, retry=True)

    def append_signed(self, entry: Entry, signature: bytes) -> StoredEntry:
        """Record an entry its author signed itself (self-custody); the server checks it all."""
        return self._append_signed(entry, signature, retry=True)

    # -- reading -------------------------------------------------------------------------

    def head(self, batch: str) -> StoredEntry | None:
        row = self.session.scalars(
            select(EntryRow).where(EntryRow.batch == batch).order_by(EntryRow.seq.desc()).limit(1)
        ).first()
        return None if row is None else _stored(row.id, row.canonical, row.signature)

    def entries(self, batch: str) -> list[StoredEntry]:
        rows = self.session.scalars(select(EntryRow).where(EntryRow.batch == batch).order_by(EntryRow.seq))
        return [_stored(row.id, row.canonical, row.signature) for row in rows]

    def by_hash(self, entry_hash: bytes) -> StoredEntry | None:
        row = self.session.scalars(select(EntryRow).where(EntryRow.entry_hash == entry_hash)).first()
        return None if row is None else _stored(row.id, row.canonical, row.signature)

    def by_client_ids(self, client_ids: Iterable[str]) -> dict[str, StoredEntry]:
        """The entries already stored under these ids (idempotency keys), by id."""
        wanted = sorted(set(client_ids))
        found: dict[str, StoredEntry] = {}
        for start in range(0, len(wanted), MAX_BULK):  # bounded IN lists
            rows = self.session.execute(
                select(EntryRow.id, EntryRow.canonical, EntryRow.signature).where(
                    EntryRow.client_id.in_(wanted[start : start + MAX_BULK])
                )
            )
            for row in rows:
                stored = _stored(row.id, row.canonical, row.signature)
                found[stored.entry.client_id] = stored
        return found

    def key(self, key_id: str) -> KeyRecord | None:
        row = self.session.get(PublicKey, key_id)
        if row is None:
            return None
        return _key_record(row.key_id, row.org, row.role, row.public_key, row.valid_from, row.revoked_at)

    # -- internals -----------------------------------------------------------------------

    def _open_chain(self, draft: Draft, signer: SigningKey, retry: bool) -> StoredEntry:
        state = self._read([draft.batch], [draft.client_id], [signer.key_id], _revoked_keys([draft]))
        existing = state.stored.get(draft.client_id)
        if existing is not None:
            return self._same_or_conflict(existing, draft)
        if draft.batch in state.chains:
            raise ChainExists(f"entry.batch: chain {draft.batch} already exists")
        now = self.clock()
        entry = make_entry(_fields(draft, 0, None, recorded_now(now), signer.key_id))
        record = state.keys.get(signer.key_id)
        if record is None and entry.batch == KEYS_CHAIN:
            record = parse_registration(entry)  # keys/0 registers the root key that signs it
        moment = entry.recorded_at
        _check_custodial(record, entry, moment, signer)
        signed = [_Signed(entry, signer.sign(entry.signing_input()), moment)]
        ids = self._insert(signed, new_chain={"batch": draft.batch, "created_at": now})
        if ids is None:  # a racing writer opened the chain or used the id; look again
            if retry:
                return self._open_chain(draft, signer, retry=False)
            raise ChainExists(f"entry.batch: chain {draft.batch} was opened by another writer")
        return self._stored_new(signed[0], ids)

    def _append_signed(self, entry: Entry, signature: bytes, retry: bool) -> StoredEntry:
        revoked = _revoked_keys([entry])
        state = self._read([entry.batch], [entry.client_id], [entry.key_id], revoked)
        existing = state.stored.get(entry.client_id)
        if existing is not None:
            if existing.entry.canonical == entry.canonical and existing.signature == signature:
                return StoredEntry(existing.id, existing.entry, existing.signature, created=False)
            raise IdempotencyConflict(f"entry.id: {entry.client_id!r} was already used for a different entry")
        if entry.seq == 0:
            raise ChainConflict(
                "entry.seq: a chain is opened by the operator's registration, not by a signed upload"
            )
        head = _head_of(state, entry.batch)
        if entry.seq != head.seq + 1 or entry.prev != head.hash:
            raise ChainConflict(
                f"entry.seq/prev: chain {entry.batch} is at seq {head.seq} with hash "
                f"{b64encode(head.hash)}; expected seq {head.seq + 1} with that prev, found seq "
                f"{entry.seq}; fetch the head, rebuild and sign again"
            )
        now = self.clock()
        moment = entry.recorded_at
        if abs(moment - now) > CLOCK_SKEW:
            raise ChainConflict(
                f"entry.recorded_at: {entry.fields['recorded_at']} is more than "
                f"{int(CLOCK_SKEW.total_seconds())} s from the server's time {now.isoformat()}"
            )
        if moment < head.recorded_at:
            raise ChainConflict("entry.recorded_at: earlier than the previous entry of the chain")
        record = _check_key(state.keys.get(entry.key_id), entry, moment)
        verify_signature(record.public_key, entry.signing_input(), signature)
        ids = self._insert([_Signed(entry, signature, moment)])
        if ids is None:
            if retry:
                return self._append_signed(entry, signature, retry=False)
            raise ChainConflict(f"entry.seq: another writer recorded {entry.batch}/{entry.seq} first; retry")
        return self._stored_new(_Signed(entry, signature, moment), ids)

    def _append_drafts(
        self, drafts: list[Draft], signers: dict[str, SigningKey], retry: bool
    ) -> list[StoredEntry]:
        if not drafts:
            return []
        batches = sorted({draft.batch for draft in drafts})
        ids = [draft.client_id for draft in drafts]
        key_ids = sorted({signer.key_id for signer in signers.values()})
        state = self._read(batches, ids, key_ids, _revoked_keys(drafts))
        heads = dict(state.heads)
        # Loading a private key costs as much as a signature: once per key and call.
        sign: dict[str, Callable[[bytes], bytes]] = {}
        now = self.clock()
        # Per draft: a StoredEntry already, or the index of the new entry it will be.
        outcome: list[StoredEntry | int] = []
        first: dict[str, tuple[int, Draft]] = {}
        signed: list[_Signed] = []
        moments: dict[str, datetime] = {}  # recorded_at text -> time: parse each text once
        for draft in drafts:
            if draft.client_id in state.stored:
                outcome.append(self._same_or_conflict(state.stored[draft.client_id], draft))
                continue
            if draft.client_id in first:
                index, earlier = first[draft.client_id]
                _check_same_content(_fields(earlier, 0, None, "", ""), draft)
                outcome.append(index)
                continue
            signer = signers[draft.author]
            head = _head_of(state, draft.batch, heads)
            recorded = recorded_now(now, head.recorded_at)
            if recorded not in moments:
                moments[recorded] = parse_recorded_at(recorded)
            entry = make_entry(_fields(draft, head.seq + 1, head.hash, recorded, signer.key_id))
            _check_custodial(state.keys.get(signer.key_id), entry, moments[recorded], signer)
            heads[draft.batch] = _Head(entry.seq, entry.hash, moments[recorded])
            first[draft.client_id] = (len(signed), draft)
            outcome.append(len(signed))
            signing = sign.get(signer.key_id)
            if signing is None:
                signing = sign[signer.key_id] = _sign_function(signer)
            signed.append(_Signed(entry, signing(entry.signing_input()), moments[recorded]))
        stored_ids = self._insert(signed) if signed else {}
        if stored_ids is None:  # a racing writer stored one of these ids in another chain: look again
            if retry:
                return self._append_drafts(drafts, signers, retry=False)
            raise ChainConflict(
                f"entry.seq: another writer recorded {signed[0].entry.batch} entries first; retry"
            )
        new = [self._stored_new(item, stored_ids) for item in signed]
        seen: set[int] = set()
        results = []
        for item in outcome:
            if isinstance(item, StoredEntry):
                results.append(item)
            elif item in seen:  # the same id twice in one call: the second is a retry
                results.append(StoredEntry(new[item].id, new[item].entry, new[item].signature, created=False))
            else:
                seen.add(item)
                results.append(new[item])
        return results

    def _stored_new(self, new: _Signed, ids: dict[str, int]) -> StoredEntry:
        if new.entry.batch == KEYS_CHAIN:
            self._index_key_entry(new.entry)
        return StoredEntry(ids[new.entry.client_id], new.entry, new.signature)

    def _read(
        self, batches: list[str], client_ids: list[str], key_ids: list[str], revoked: list[str]
    ) -> _State:
        """Lock the chains (and keys being revoked), then read heads, stored ids and keys."""
        if self.session.get_bind().dialect.name == "postgresql":
            return self._read_postgresql(batches, client_ids, key_ids, revoked)
        # SQLite: BEGIN IMMEDIATE already holds the database's one write lock.
        session = self.session
        chains = set(session.scalars(select(Chain.batch).where(Chain.batch.in_(batches))))
        heads = {}
        for batch in batches:
            row = session.execute(
                select(EntryRow.seq, EntryRow.entry_hash, EntryRow.recorded_at)
                .where(EntryRow.batch == batch)
                .order_by(EntryRow.seq.desc())
                .limit(1)
            ).first()
            if row is not None:
                heads[batch] = _Head(row.seq, row.entry_hash, _aware(row.recorded_at))
        stored = session.execute(
            select(EntryRow.id, EntryRow.canonical, EntryRow.signature).where(
                EntryRow.client_id.in_(client_ids)
            )
        )
        keys = session.execute(select(*_KEY_COLUMNS).where(PublicKey.key_id.in_(key_ids)))
        return _state(chains, heads, stored, [_key_record(*row) for row in keys])

    def _read_postgresql(
        self, batches: list[str], client_ids: list[str], key_ids: list[str], revoked: list[str]
    ) -> _State:
        self.session.flush()  # the raw connection must see what the ORM still holds
        raw = self.session.connection().connection.driver_connection
        with self._translated(_PG_HEADS):
            with raw.pipeline():
                chains = raw.execute(_PG_LOCK_CHAINS, {"batches": batches})
                if revoked:
                    raw.execute(_PG_LOCK_REVOKED, {"keys": revoked})
                keys = raw.execute(_PG_KEYS, {"keys": key_ids})
                heads = raw.execute(_PG_HEADS, {"batches": batches})
                stored = raw.execute(_PG_STORED, {"ids": client_ids})
            found = {batch: _Head(seq, bytes(h), at) for batch, seq, h, at in heads.fetchall()}
            return _state(
                {batch for (batch,) in chains.fetchall()},
                found,
                stored.fetchall(),
                [_key_record(*row) for row in keys.fetchall()],
            )

    def _insert(
        self, signed: list[_Signed], new_chain: dict[str, Any] | None = None
    ) -> dict[str, int] | None:
        """Insert the entries and their queue rows, all or none: client id -> row id, or None
        when a unique constraint refused them (nothing is then stored)."""
        rows = [_row(new) for new in signed]
        if self.session.get_bind().dialect.name == "postgresql":
            return self._insert_postgresql(rows, new_chain)
        try:
            with self.session.begin_nested():
                if new_chain is not None:
                    self.session.execute(insert(Chain.__table__), [new_chain])
                returned = self.session.execute(
                    insert(EntryRow.__table__).returning(
                        EntryRow.id, EntryRow.client_id, sort_by_parameter_order=True
                    ),
                    rows,
                ).all()
                self.session.execute(
                    insert(Unsequenced.__table__), [{"entry_id": row.id} for row in returned]
                )
        except IntegrityError:
            return None
        return {row.client_id: row.id for row in returned}

    def _insert_postgresql(
        self, rows: list[dict[str, Any]], new_chain: dict[str, Any] | None
    ) -> dict[str, int] | None:
        raw = self.session.connection().connection.driver_connection
        columns = {name: [row[name] for row in rows] for name in _ENTRY_COLUMNS}
        # One row alone is all-or-none by ON CONFLICT DO NOTHING. Several rows, or a new
        # chain with its entry, need a savepoint; pipelined, it costs no round trip.
        atomic = len(rows) > 1 or new_chain is not None
        sql = _PG_INSERT.format(on_conflict="" if atomic else "ON CONFLICT DO NOTHING")
        dbapi = self.session.get_bind().dialect.loaded_dbapi
        with self._translated(sql):
            try:
                with raw.pipeline():
                    if atomic:
                        raw.execute("SAVEPOINT farmtrace_append")
                    if new_chain is not None:
                        raw.execute(_PG_INSERT_CHAIN, new_chain)
                    inserted = raw.execute(sql, columns)
                    if atomic:
                        raw.execute("RELEASE SAVEPOINT farmtrace_append")
            except dbapi.IntegrityError:
                if not atomic:  # ON CONFLICT took the unique ones: this is another kind
                    raise
                with raw.pipeline():
                    raw.execute("ROLLBACK TO SAVEPOINT farmtrace_append")
                    raw.execute("RELEASE SAVEPOINT farmtrace_append")
                return None
            ids = {client_id: entry_id for entry_id, client_id in inserted.fetchall()}
        return ids if len(ids) == len(rows) else None

    @contextmanager
    def _translated(self, statement: str) -> Iterator[None]:
        """Raise driver errors from raw statements as SQLAlchemy's, like every other query."""
        dbapi = self.session.get_bind().dialect.loaded_dbapi
        try:
            yield
        except dbapi.Error as exc:
            raise DBAPIError.instance(statement, None, exc, dbapi.Error) from exc

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

    def _same_or_conflict(self, existing: StoredEntry, draft: Draft) -> StoredEntry:
        _check_same_content(existing.entry.fields, draft)
        return StoredEntry(existing.id, existing.entry, existing.signature, created=False)


def check_retry(first: Entry | Draft, again: Draft) -> None:
    """Raise IdempotencyConflict unless `again`, under the id of `first` (an entry stored or
    a draft earlier in the same bulk), has the same content: what append() would do."""
    _check_same_content(first.fields if isinstance(first, Entry) else _fields(first, 0, None, "", ""), again)


def _check_same_content(stored: dict[str, Any], draft: Draft) -> None:
    wanted = _fields(draft, 0, None, "", "")
    for name in CONTENT_FIELDS:
        if wanted.get(name) != stored.get(name):
            raise IdempotencyConflict(
                f"entry.id: {draft.client_id!r} was already used for a different entry "
                f"({name} differs); use a new id for new content"
            )


def _fields(draft: Draft, seq: int, prev: bytes | None, recorded: str, key_id: str) -> dict[str, Any]:
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


# PostgreSQL statements of the append path, sent as pipelines (see the module docstring).
# Chains are locked in one order by every writer, so two bulk appends cannot deadlock.
_PG_LOCK_CHAINS = (
    "SELECT batch FROM ledger_chain WHERE batch = ANY(%(batches)s::text[]) ORDER BY batch FOR UPDATE"
)
_PG_LOCK_REVOKED = (
    "SELECT key_id FROM ledger_public_key WHERE key_id = ANY(%(keys)s::text[]) ORDER BY key_id FOR UPDATE"
)
_PG_KEYS = (
    "SELECT key_id, org, role, public_key, valid_from, revoked_at FROM ledger_public_key"
    " WHERE key_id = ANY(%(keys)s::text[]) ORDER BY key_id FOR SHARE"
)
_PG_HEADS = (
    "SELECT c.batch, h.seq, h.entry_hash, h.recorded_at FROM unnest(%(batches)s::text[]) AS c(batch)"
    " CROSS JOIN LATERAL (SELECT seq, entry_hash, recorded_at FROM ledger_entry AS e"
    " WHERE e.batch = c.batch ORDER BY e.seq DESC LIMIT 1) AS h"
)
_PG_STORED = "SELECT id, canonical, signature FROM ledger_entry WHERE client_id = ANY(%(ids)s::text[])"
_KEY_COLUMNS = (
    PublicKey.key_id,
    PublicKey.org,
    PublicKey.role,
    PublicKey.public_key,
    PublicKey.valid_from,
    PublicKey.revoked_at,
)
_PG_INSERT_CHAIN = "INSERT INTO ledger_chain (batch, created_at) VALUES (%(batch)s, %(created_at)s)"
_ENTRY_COLUMNS = (
    "batch",
    "seq",
    "entry_hash",
    "canonical",
    "signature",
    "client_id",
    "entry_type",
    "author",
    "key_id",
    "recorded_at",
)
_PG_INSERT = """
WITH entry AS (
    INSERT INTO ledger_entry (batch, seq, entry_hash, canonical, signature, client_id,
                              entry_type, author, key_id, recorded_at)
    SELECT * FROM unnest(%(batch)s::text[], %(seq)s::int[], %(entry_hash)s::bytea[],
                         %(canonical)s::bytea[], %(signature)s::bytea[], %(client_id)s::text[],
                         %(entry_type)s::text[], %(author)s::text[], %(key_id)s::text[],
                         %(recorded_at)s::timestamptz[])
    {on_conflict}
    RETURNING id, client_id
), queued AS (
    INSERT INTO ledger_unsequenced (entry_id) SELECT id FROM entry
)
SELECT id, client_id FROM entry
"""


def _row(new: _Signed) -> dict[str, Any]:
    entry = new.entry
    return {
        "batch": entry.batch,
        "seq": entry.seq,
        "entry_hash": entry.hash,
        "canonical": entry.canonical,
        "signature": new.signature,
        "client_id": entry.client_id,
        "entry_type": entry.type,
        "author": entry.author,
        "key_id": entry.key_id,
        "recorded_at": new.recorded_at,
    }


def _state(chains: set[str], heads: dict[str, _Head], stored: Any, keys: list[KeyRecord]) -> _State:
    entries = [_stored(entry_id, canonical, signature) for entry_id, canonical, signature in stored]
    return _State(
        chains,
        heads,
        {stored.entry.client_id: stored for stored in entries},
        {record.key_id: record for record in keys},
    )


def _head_of(state: _State, batch: str, heads: dict[str, _Head] | None = None) -> _Head:
    head = (heads if heads is not None else state.heads).get(batch)
    if head is None:
        if batch in state.chains:
            raise AssertionError(f"chain {batch} has a row but no entry 0")
        raise NoSuchChain(f"entry.batch: no chain {batch!r}; register the batch first")
    return head


def _revoked_keys(items: Sequence[Draft | Entry]) -> list[str]:
    """Ids of the keys that these key-chain entries revoke, to lock before choosing a time."""
    revoked = {
        item.payload.get("key_id") for item in items if item.batch == KEYS_CHAIN and item.type == KEY_REVOKED
    }
    return sorted(key_id for key_id in revoked if isinstance(key_id, str))


def _check_key(record: KeyRecord | None, entry: Entry, recorded_at: datetime) -> KeyRecord:
    if record is None:
        raise KeyNotUsable(f"entry.key: unknown key {entry.key_id}")
    if record.org != entry.author:
        raise KeyNotUsable(
            f"entry.key: key {entry.key_id} belongs to {record.org}, not to author {entry.author}"
        )
    if not record.valid_at(recorded_at):
        raise KeyNotUsable(
            f"entry.key: key {entry.key_id} is not valid at {entry.fields['recorded_at']} (revoked or not yet valid)"
        )
    return record


def _check_custodial(
    record: KeyRecord | None, entry: Entry, recorded_at: datetime, signer: SigningKey
) -> None:
    # Our own signature over these bytes is valid when the signer's public key is the one
    # recorded for the key id; comparing the keys saves an Ed25519 verification per entry.
    record = _check_key(record, entry, recorded_at)
    if record.public_key != signer.public_key:
        raise SignatureError(
            f"entry.key: the signer's public key is not the one recorded for {record.key_id}"
        )


def _sign_function(signer: SigningKey) -> Callable[[bytes], bytes]:
    # Loading the private key costs as much as a signature; load it once per call.
    if isinstance(signer, SigningKey):
        return Ed25519PrivateKey.from_private_bytes(signer.seed).sign
    return signer.sign


def _stored(entry_id: int, canonical: bytes, signature: bytes) -> StoredEntry:
    return StoredEntry(entry_id, _parse_stored(bytes(canonical)), bytes(signature), created=False)


@functools.lru_cache(maxsize=8192)
def _parse_stored(canonical: bytes) -> Entry:
    # Entries are immutable and identified by their bytes, so a parse can be reused: replaying
    # a batch's chain for each new event (trace.projections) would otherwise re-parse and
    # re-canonicalise every earlier entry every time. Callers must not mutate Entry.fields.
    return stored_entry(canonical)


def _key_record(
    key_id: str, org: str, role: str, public_key: bytes, valid_from: datetime, revoked_at: datetime | None
) -> KeyRecord:
    return KeyRecord(key_id, org, role, bytes(public_key), _aware(valid_from), _aware(revoked_at))


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every time we store is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
