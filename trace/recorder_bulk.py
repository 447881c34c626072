"""Recording many typed events at once, with the results of recording them one by one.

EventRecorder.record replays the batch's chain for every event, so a bulk of N events on a
chain of length L costs O(N·L) parsing and folding. Here each batch's state is replayed
once; each event is validated and checked against the running state, in order, and applied
to it; the new entries go to the ledger in one append_many; each batch's projection rows
are written once. Entries (their bytes but for the recorded time the clock gives), flags,
refusals and retries are those of record() called for each item in order.

All or none: the first item that record() would refuse raises ItemRefused naming its
position, and nothing of the call is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import MAX_BULK, Draft, StoredEntry, check_retry
from farmtrace.ledger.errors import ChainConflict, LedgerError
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.models import Chain
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, TraceError
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.ids import new_client_id
from farmtrace.trace.models.registry import Document, Org, Place
from farmtrace.trace.projections import BATCH_CHAIN, load_state, require_batch_id, write_appended
from farmtrace.trace.recorder import RecordedEvent, event_moment, recorded
from farmtrace.trace.rules import check_event
from farmtrace.trace.state import BatchState, Event, apply
from farmtrace.trace.text import CLIENT_ID
from farmtrace.trace.text import client_id as check_client_id


@dataclass(frozen=True)
class EventInput:
    """One event to record: the arguments of EventRecorder.record, as a value."""

    batch: str
    type: str
    payload: dict[str, Any]
    actor: str
    event_time: datetime | str | None = None
    client_id: str | None = None


class ItemRefused(TraceError):
    """Item `index` was refused with `cause` (what record() raises for it); nothing was kept."""

    def __init__(self, index: int, cause: TraceError | LedgerError) -> None:
        super().__init__(f"items[{index}]: {cause}")
        self.index = index
        self.cause = cause


@dataclass
class _New:
    """An item that will be a new entry: its draft, and the flags applying it raised."""

    index: int
    draft: Draft
    flags: tuple[str, ...]


@dataclass
class _Again:
    """An item that retries an entry: stored before this call, or else new earlier in it."""

    index: int
    stored: StoredEntry | None
    first: int  # the index in `new` of the earlier item, when not stored before


class _Plan:
    def __init__(self, ctx: TraceContext, items: Sequence[EventInput]) -> None:
        self.ctx = ctx
        self.items = items
        self.before = ctx.ledger.by_client_ids(
            item.client_id for item in items if _plausible_id(item.client_id)
        )
        self.chains = _lock_chains(ctx.session, items)
        self.registry = _registry_rows(ctx.session, items)
        self.states: dict[str, BatchState] = {}
        self.signers: dict[str, SigningKey] = {}
        self.new: list[_New] = []
        self.again: list[_Again] = []
        self.first: dict[str, int] = {}  # client id -> index in `new`

    def check(self, index: int, item: EventInput) -> None:
        """What record() does before appending, in its order, against the running state."""
        if item.type not in t.RECORDABLE:
            raise InvalidInput(
                "type", f"type: expected one of {', '.join(t.RECORDABLE)}, found {str(item.type)[:64]!r}"
            )
        require_batch_id(item.batch)
        moment = event_moment(self.ctx, item.event_time)
        values = validate_payload(item.type, item.payload)
        if item.client_id is not None:
            check_client_id("client_id", item.client_id)
            stored = self.before.get(item.client_id)
            earlier = self.first.get(item.client_id, -1)
            if stored is not None or earlier >= 0:
                self._retry(index, item, values, moment, stored, earlier)
                return
        state = self._state(item.batch)
        check_event(self.ctx, state, item.type, item.actor, moment, values)
        self._signer(item.actor)
        draft = Draft(
            item.batch, item.type, moment, item.actor, item.client_id or new_client_id(item.type), values
        )
        flags_before = len(state.flags)
        # The fold reads seq, time, author and payload, never the hash: the ledger gives the
        # entry seq head+1 under the chain lock held since _lock_chains.
        apply(
            state, Event(item.batch, state.head_seq + 1, item.type, item.actor, moment, moment, values, b"")
        )
        self.first[draft.client_id] = len(self.new)
        self.new.append(_New(index, draft, tuple(f.message for f in state.flags[flags_before:])))

    def _retry(
        self,
        index: int,
        item: EventInput,
        values: dict[str, Any],
        moment: datetime,
        stored: StoredEntry | None,
        earlier: int,
    ) -> None:
        # As record(): a retry without an event time means the time given the first time;
        # the rules were checked then; the ledger compares the content.
        first = stored.entry if stored is not None else self.new[earlier].draft
        if item.event_time is None:
            moment = first.event_time
        self._signer(item.actor)
        assert item.client_id is not None
        check_retry(first, Draft(item.batch, item.type, moment, item.actor, item.client_id, values))
        self.again.append(_Again(index, stored, earlier))

    def _state(self, batch: str) -> BatchState:
        state = self.states.get(batch)
        if state is None:
            if batch not in self.chains:
                raise NotFound("batch", f"batch: no batch {batch!r}")
            state = self.states[batch] = load_state(self.ctx.session, batch)
        return state

    def _signer(self, actor: str) -> SigningKey:
        signer = self.signers.get(actor)
        if signer is None:
            signer = self.signers[actor] = self.ctx.signer(actor)
        return signer


def record_many(ctx: TraceContext, items: Sequence[EventInput]) -> list[RecordedEvent]:
    """Record `items` in order, as EventRecorder.record would one by one; all or none."""
    plan = _Plan(ctx, items)
    for index, item in enumerate(items):
        try:
            plan.check(index, item)
        except (TraceError, LedgerError) as exc:
            raise ItemRefused(index, exc) from exc
    try:
        with ctx.session.begin_nested():
            stored = _append(ctx, plan)
            _project(ctx, plan, stored)
    except LedgerError as exc:
        raise _which(ctx, plan, exc) from exc
    results: dict[int, RecordedEvent] = {}
    for item, entry in zip(plan.new, stored, strict=True):
        results[item.index] = recorded(entry, True, item.flags)
    for again in plan.again:
        entry = again.stored if again.stored is not None else stored[again.first]
        results[again.index] = recorded(entry, created=False)
    return [results[index] for index in range(len(items))]


def _append(ctx: TraceContext, plan: _Plan) -> list[StoredEntry]:
    drafts = [item.draft for item in plan.new]
    stored: list[StoredEntry] = []
    for start in range(0, len(drafts), MAX_BULK):
        stored += ctx.ledger.append_many(drafts[start : start + MAX_BULK], plan.signers)
    for entry in stored:
        if not entry.created:
            # Another writer stored this id (on another chain: this one is locked) after
            # _Plan read the stored ids; _which finds the item and the ledger's answer.
            raise ChainConflict(f"entry.id: {entry.entry.client_id!r} was stored by another writer meanwhile")
    return stored


def _project(ctx: TraceContext, plan: _Plan, stored: list[StoredEntry]) -> None:
    seqs: dict[str, list[int]] = {}
    for entry in stored:
        seqs.setdefault(entry.entry.batch, []).append(entry.entry.seq)
    for batch, appended in seqs.items():
        state = plan.states[batch]
        if appended[-1] != state.head_seq:  # the running state's seqs were the ledger's
            raise AssertionError(
                f"{batch}: the ledger stored up to seq {appended[-1]}, the fold {state.head_seq}"
            )
        write_appended(ctx.session, state, appended)
    ctx.session.flush()


def _which(ctx: TraceContext, plan: _Plan, exc: LedgerError) -> ItemRefused:
    """The ledger refused the bulk (a key not valid at this time, a racing writer): find the
    item that recording one by one would have been refused at, by appending the new entries
    one at a time in a savepoint that is then rolled back."""
    savepoint = ctx.session.begin_nested()
    try:
        for item in plan.new:
            try:
                ctx.ledger.append(item.draft, plan.signers[item.draft.author])
            except LedgerError as one:
                return ItemRefused(item.index, one)
    finally:
        savepoint.rollback()
    return ItemRefused(plan.new[0].index, exc)


def _registry_rows(session: Session, items: Sequence[EventInput]) -> list[object]:
    """The organisations, places and documents the items may name, loaded in three queries.

    The rules look each up by primary key per event (session.get). The session's identity
    map holds rows weakly, so without a reference kept for the call each lookup would be a
    query again: a thousand events, a thousand SELECTs of the same cooperative."""
    names = {item.actor for item in items if isinstance(item.actor, str)}
    for item in items:
        if isinstance(item.payload, dict):
            names.update(v for v in item.payload.values() if isinstance(v, str) and len(v) <= 64)
    wanted = sorted(names)
    rows: list[object] = []
    for model, key in ((Org, Org.id), (Place, Place.id), (Document, Document.sha256)):
        for start in range(0, len(wanted), MAX_BULK):
            rows += session.scalars(select(model).where(key.in_(wanted[start : start + MAX_BULK]))).all()
    return rows


def _plausible_id(value: object) -> bool:
    return isinstance(value, str) and CLIENT_ID.match(value) is not None


def _lock_chains(session: Session, items: Sequence[EventInput]) -> set[str]:
    """Take the row locks of every chain named (PostgreSQL; SQLite holds its write lock), in
    one order, so two bulks cannot deadlock; returns the chains that exist."""
    batches = sorted({i.batch for i in items if isinstance(i.batch, str) and BATCH_CHAIN.match(i.batch)})
    found: set[str] = set()
    for start in range(0, len(batches), MAX_BULK):
        found.update(
            session.scalars(
                select(Chain.batch)
                .where(Chain.batch.in_(batches[start : start + MAX_BULK]))
                .order_by(Chain.batch)
                .with_for_update()
            )
        )
    return found
