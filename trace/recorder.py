"""Recording typed events on a batch: validate, check the rules, sign as the acting
organisation, append to the batch's chain, update the projections, all in the caller's
transaction. Retrying with the same client_id returns the stored entry (created=False).
Many events at once: record_many (trace.recorder_bulk), with the same results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from farmtrace.ledger.append import StoredEntry
from farmtrace.ledger.encoding import b64encode, decode_hash
from farmtrace.ledger.errors import FormatError
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.ids import new_client_id
from farmtrace.trace.projections import chain_events, commit, load_state, require_batch_id, write_full
from farmtrace.trace.rules import check_event
from farmtrace.trace.state import BatchState, Event, replay
from farmtrace.trace.text import clean_text, parse_moment
from farmtrace.trace.units import show

if TYPE_CHECKING:
    from farmtrace.trace.recorder_bulk import EventInput


@dataclass(frozen=True)
class RecordedEvent:
    batch: str
    seq: int
    type: str
    hash: str  # base64 of the entry hash, as the ledger writes it
    created: bool  # False when a retry returned the entry recorded before
    flags: tuple[str, ...]  # flags this event raised (empty on a retry)
    entry: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "seq": self.seq,
            "type": self.type,
            "hash": self.hash,
            "created": self.created,
            "flags": list(self.flags),
            "entry": self.entry,
        }


def recorded(stored: StoredEntry, created: bool, flags: tuple[str, ...] = ()) -> RecordedEvent:
    entry = stored.entry
    return RecordedEvent(
        entry.batch, entry.seq, entry.type, b64encode(entry.hash), created, flags, entry.fields
    )


def event_moment(ctx: TraceContext, event_time: datetime | str | None) -> datetime:
    return ctx.now() if event_time is None else parse_moment("event_time", event_time)


def append_and_project(
    ctx: TraceContext,
    state: BatchState,
    event_type: str,
    actor: str,
    payload: dict[str, Any],
    moment: datetime,
    client_id: str | None,
    amends: bytes | None = None,
) -> RecordedEvent:
    flags_before = len(state.flags)
    stored = ctx.append(
        state.id, event_type, actor, payload, client_id or new_client_id(event_type), moment, amends
    )
    commit(ctx.session, state, stored)
    return recorded(stored, True, tuple(f.message for f in state.flags[flags_before:]))


class EventRecorder:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx

    def record(
        self,
        batch_id: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        actor: str,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> RecordedEvent:
        """Record one typed event (see trace.events.types.RECORDABLE) on `batch_id` as `actor`."""
        if event_type not in t.RECORDABLE:
            raise InvalidInput(
                "type", f"type: expected one of {', '.join(t.RECORDABLE)}, found {str(event_type)[:64]!r}"
            )
        require_batch_id(batch_id)
        moment = event_moment(self.ctx, event_time)
        values = validate_payload(event_type, payload)
        previous = self.ctx.previous(client_id)
        if previous is not None:
            # A retry without an event time means "the time you gave it the first time".
            moment = previous.entry.event_time if event_time is None else moment
            return self._retry(previous, batch_id, event_type, actor, values, moment, client_id)
        self.ctx.lock_chain(batch_id)
        state = load_state(self.ctx.session, batch_id)
        check_event(self.ctx, state, event_type, actor, moment, values)
        return append_and_project(self.ctx, state, event_type, actor, values, moment, client_id)

    def record_many(self, items: Sequence[EventInput]) -> list[RecordedEvent]:
        """Record `items` in order with the results of record() for each, all or none: each
        batch's chain is replayed once and the entries appended in one bulk. The first item
        record() would refuse raises ItemRefused (its index and that error); nothing is kept.
        See trace.recorder_bulk."""
        from farmtrace.trace.recorder_bulk import record_many  # it builds on this module

        return record_many(self.ctx, items)

    def _retry(
        self,
        previous: StoredEntry,
        batch_id: str,
        event_type: str,
        actor: str,
        values: dict[str, Any],
        moment: datetime,
        client_id: str | None,
    ) -> RecordedEvent:
        # The ledger compares the content and returns the stored entry, or raises
        # IdempotencyConflict; the rules were checked when it was first recorded.
        assert client_id is not None
        stored = self.ctx.append(batch_id, event_type, actor, values, client_id, moment)
        return recorded(stored, created=False)

    def correct(
        self,
        batch_id: str,
        amends: str,
        payload: dict[str, Any],
        *,
        actor: str,
        reason: str,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> RecordedEvent:
        """Record a correction restating the payload of the entry whose hash is `amends`.

        Only the entry's author corrects it; the corrected payload must pass the schema and
        rules of the original type, as of the original's place in the chain.
        """
        require_batch_id(batch_id)
        moment = event_moment(self.ctx, event_time)
        why = clean_text("reason", reason, max_length=500)
        try:
            target_hash = decode_hash(amends, "amends")
        except FormatError as exc:
            raise InvalidInput("amends", f"amends: {exc}") from None
        self.ctx.lock_chain(batch_id)
        events = chain_events(self.ctx.session, batch_id)
        target = next((e for e in events if e.hash == target_hash), None)
        if target is None:
            raise NotFound("amends", f"amends: {batch_id} has no entry with hash {amends}")
        if target.type not in t.CORRECTABLE:
            raise RuleViolation(
                "amends",
                f"amends: a {target.type} entry is not corrected by restating it; record a new event",
                "not_correctable",
            )
        values = validate_payload(target.type, payload, prefix="payload.payload")
        correction = {"reason": why, "payload": values}
        previous = self.ctx.previous(client_id)
        if previous is not None and client_id is not None:
            moment = previous.entry.event_time if event_time is None else moment
            stored = self.ctx.append(batch_id, t.CORRECTED, actor, correction, client_id, moment, target_hash)
            return recorded(stored, created=False)
        if actor != target.author:
            raise NotPermitted(
                "actor",
                f"actor: only {target.author}, who recorded {batch_id}/{target.seq}, may correct it",
                "author_only",
            )
        before = replay([e for e in events if e.seq < target.seq])
        check_event(self.ctx, before, target.type, actor, target.event_time, values)
        trial = Event(batch_id, len(events), t.CORRECTED, actor, moment, moment, correction, b"", target_hash)
        after = replay([*events, trial])
        if after.quantity_out > after.quantity_in:
            raise RuleViolation(
                "payload.payload",
                f"payload.payload: the correction would leave {batch_id} with more out "
                f"({show(after.quantity_out, after.unit)}) than in ({show(after.quantity_in, after.unit)})",
                "quantity_exceeded",
            )
        stored = self.ctx.append(
            batch_id,
            t.CORRECTED,
            actor,
            correction,
            client_id or new_client_id(t.CORRECTED),
            moment,
            target_hash,
        )
        state = replay(chain_events(self.ctx.session, batch_id))
        write_full(self.ctx.session, state)
        return recorded(stored, True)
