"""Recalls: a recall of a batch reaches every batch downstream of it.

Issuing writes `recall.issued` on the origin's chain and on each downstream batch's chain
(payload `origin` names where it started), so the scan of any downstream item shows the
recall from that item's own chain; lifting writes `recall.lifted` on the same chains. A
recalled batch is not sold, packed or used as an input (trace.rules), so the set of
batches a recall reaches cannot grow behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.ids import new_recall_id
from farmtrace.trace.lineage import MAX_CLIENT_ID, LineageService
from farmtrace.trace.models.projection import Recall
from farmtrace.trace.projections import load_state, require_batch_id
from farmtrace.trace.recorder import RecordedEvent, append_and_project, event_moment, recorded
from farmtrace.trace.rules import check_time
from farmtrace.trace.text import client_id as check_client_id


@dataclass(frozen=True)
class RecallResult:
    recall_id: str
    origin: str
    batches: tuple[str, ...]  # the origin first, then downstream batches nearest first
    created: bool
    entries: tuple[RecordedEvent, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "recall_id": self.recall_id,
            "origin": self.origin,
            "batches": list(self.batches),
            "created": self.created,
            "entries": [e.to_json() for e in self.entries],
        }


class RecallService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def issue(
        self,
        actor: str,
        batch_id: str,
        reason: str,
        level: int = 2,
        *,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> RecallResult:
        """Recall `batch_id` and everything downstream of it (operator or the batch's owner)."""
        require_batch_id(batch_id)
        _check_client_id(client_id)
        moment = event_moment(self.ctx, event_time)
        recall_id = new_recall_id(client_id)
        payload = validate_payload(
            t.RECALL_ISSUED, {"recall_id": recall_id, "origin": batch_id, "level": level, "reason": reason}
        )
        batches = [batch_id, *LineageService(self.ctx).downstream(batch_id)]
        if client_id is not None and self.ctx.previous(f"{client_id}.0") is not None:
            return self._replay(recall_id, batch_id, batches, client_id)
        batches = self._lock_downstream(batch_id, batches)
        states = [load_state(self.session, b) for b in batches]
        org = self.ctx.active_org(actor)
        if org.kind != "operator" and actor != states[0].owner:
            raise NotPermitted(
                "actor",
                f"actor: only the county operator or the owner of {batch_id} ({states[0].owner}) may recall it",
                "operator_or_owner",
            )
        current = states[0].active_recall()
        if current is not None:
            raise RuleViolation(
                "batch", f"batch: {batch_id} is already recalled ({current.recall_id})", "already_recalled"
            )
        now = self.ctx.now()
        for state in states:
            check_time(state, "event_time", moment, now)
        entries = []
        for index, state in enumerate(states):
            entry_client = None if client_id is None else f"{client_id}.{index}"
            entries.append(
                append_and_project(self.ctx, state, t.RECALL_ISSUED, actor, payload, moment, entry_client)
            )
        return RecallResult(recall_id, batch_id, tuple(batches), True, tuple(entries))

    def lift(
        self,
        actor: str,
        recall_id: str,
        reason: str,
        *,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> RecallResult:
        """Lift a recall on every batch it reached (the operator, or whoever issued it)."""
        _check_client_id(client_id)
        moment = event_moment(self.ctx, event_time)
        payload = validate_payload(t.RECALL_LIFTED, {"recall_id": recall_id, "reason": reason})
        rows = list(
            self.session.scalars(
                select(Recall).where(Recall.recall_id == recall_id).order_by(Recall.issue_seq)
            )
        )
        if not rows:
            raise NotFound("recall_id", f"recall_id: no recall {recall_id!r}")
        origin = rows[0].origin_batch_id
        batches = [origin, *sorted(r.batch_id for r in rows if r.batch_id != origin)]
        if client_id is not None and self.ctx.previous(f"{client_id}.0") is not None:
            return self._replay(recall_id, origin, batches, client_id)
        org = self.ctx.active_org(actor)
        if org.kind != "operator" and actor != rows[0].issued_by:
            raise NotPermitted(
                "actor",
                f"actor: only the county operator or {rows[0].issued_by}, who issued {recall_id}, may lift it",
                "operator_or_issuer",
            )
        if all(r.lifted_at is not None for r in rows):
            raise RuleViolation("recall_id", f"recall_id: {recall_id} was already lifted", "already_lifted")
        for chain in sorted(batches):
            self.ctx.lock_chain(chain)
        now = self.ctx.now()
        entries = []
        for index, batch_id in enumerate(batches):
            state = load_state(self.session, batch_id)
            check_time(state, "event_time", moment, now)
            entry_client = None if client_id is None else f"{client_id}.{index}"
            entries.append(
                append_and_project(self.ctx, state, t.RECALL_LIFTED, actor, payload, moment, entry_client)
            )
        return RecallResult(recall_id, origin, tuple(batches), True, tuple(entries))

    def _lock_downstream(self, batch_id: str, batches: list[str]) -> list[str]:
        """Lock every chain the recall reaches; a split committed meanwhile adds batches, so
        look again until the set is stable (then no new output can appear: the origin's
        lock is held, and a locked input cannot be split)."""
        locked: set[str] = set()
        while True:
            for chain in sorted(set(batches) - locked):
                self.ctx.lock_chain(chain)
                locked.add(chain)
            again = [batch_id, *LineageService(self.ctx).downstream(batch_id)]
            if set(again) <= locked:
                return again
            batches = again

    def recalls_of(self, batch_id: str) -> list[Recall]:
        require_batch_id(batch_id)
        return list(
            self.session.scalars(select(Recall).where(Recall.batch_id == batch_id).order_by(Recall.issued_at))
        )

    def _replay(self, recall_id: str, origin: str, batches: list[str], client_id: str) -> RecallResult:
        entries = []
        for index in range(len(batches)):
            previous = self.ctx.previous(f"{client_id}.{index}")
            if previous is not None:
                entries.append(recorded(previous, created=False))
        return RecallResult(recall_id, origin, tuple(batches), False, tuple(entries))


def _check_client_id(client_id: str | None) -> None:
    if client_id is not None:
        check_client_id("client_id", client_id)
        if len(client_id) > MAX_CLIENT_ID:
            raise InvalidInput(
                "client_id", f"client_id: expected at most {MAX_CLIENT_ID} characters for a recall"
            )
