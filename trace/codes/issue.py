"""Issuing codes to a batch, voiding them and recording reprints: each a signed ledger entry
on the batch's chain (codes.issued, codes.voided, codes.reprinted) plus one row here.

Issuance is O(1) writes for any count: one allocator UPDATE, one codes_range row, one ledger
entry. Ledger entries are public, so they never carry a live serial of an issued range: the
range is described by its count, key id and the SHA-256 of its first and last serials
(enough to check a label against the record, useless for printing a copy). A voided code's
serial is written out: it is dead, and copying it only copies "voided".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import StoredEntry
from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.trace.codes.allocate import allocate
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.codes.models import CodeRange, CodeReprint, CodeVoid
from farmtrace.trace.codes.resolve import locate
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation, SerialError
from farmtrace.trace.gs1.digital_link import DigitalLink
from farmtrace.trace.gs1.gtin import validate_gtin
from farmtrace.trace.ids import new_client_id
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Product
from farmtrace.trace.orgs import ORG_KINDS
from farmtrace.trace.projections import load_state, require_batch_id
from farmtrace.trace.recorder import append_and_project
from farmtrace.trace.serials import SerialKeyring, make_serial
from farmtrace.trace.text import clean_text
from farmtrace.trace.text import client_id as check_client_id

CODES_ISSUED: Final = "codes.issued"
CODES_VOIDED: Final = "codes.voided"
CODES_REPRINTED: Final = "codes.reprinted"

# Who may issue codes: the packing station beside the printer, or the county operator.
ISSUER_KINDS: Final = ("packing_station", "operator")
DEFAULT_MAX_COUNT: Final = 1_000_000
MAX_REASON: Final = 500
LAYOUT: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}\Z")


@dataclass(frozen=True)
class RangeEvent:
    """A void or a reprint of a whole range (count = the range's) or of one code."""

    kind: str  # "void" or "reprint"
    scope: str  # "range" or "code"
    serial: str | None
    count: int
    reason: str
    org: str
    at: datetime
    entry_hash: bytes


@dataclass(frozen=True)
class IssuedRange:
    range_id: int
    batch_id: str
    count: int
    key_id: int
    station: str
    layout: str | None
    first_serial: str | None  # None when the range's serial key has been retired
    last_serial: str | None
    entry_hash: bytes
    issued_at: datetime
    created: bool = True  # False when a retry with the same client_id returned this range
    voids: tuple[RangeEvent, ...] = ()
    reprints: tuple[RangeEvent, ...] = ()

    @property
    def voided(self) -> bool:
        return any(v.scope == "range" for v in self.voids)

    def to_json(self) -> dict[str, Any]:
        return {
            "range": self.range_id,
            "batch": self.batch_id,
            "count": self.count,
            "key_id": self.key_id,
            "station": self.station,
            "layout": self.layout,
            "first_serial": self.first_serial,
            "last_serial": self.last_serial,
            "entry_hash": b64encode(self.entry_hash),
            "issued_at": _aware(self.issued_at).isoformat(),
            "created": self.created,
            "voided": self.voided,
            "voids": [_event_json(v) for v in self.voids],
            "reprints": [_event_json(r) for r in self.reprints],
        }


def serial_sha256(serial: str) -> str:
    return hashlib.sha256(serial.encode("ascii")).hexdigest()


class CodeService:
    """Takes a TraceContext; never commits. On SQLite the session must have write intent."""

    def __init__(self, ctx: TraceContext, *, max_count: int = DEFAULT_MAX_COUNT) -> None:
        self.ctx = ctx
        self.session: Session = ctx.session
        self.keys = SerialKeyStore(ctx.session, ctx.keystore.master)
        self.max_count = max_count

    def keyring(self) -> SerialKeyring:
        return self.keys.keyring()

    # -- issuing ---------------------------------------------------------------------------

    def issue(
        self,
        actor: str,
        batch_id: str,
        count: int,
        *,
        layout: str | None = None,
        client_id: str | None = None,
    ) -> IssuedRange:
        """Issue `count` new codes to the batch, as `actor` (a packing station or the operator)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= self.max_count:
            raise RuleViolation(
                "count",
                f"count: expected 1 to {self.max_count:,} codes per request, found {count!r}",
                "too_many_codes",
            )
        if layout is not None and not LAYOUT.match(layout):
            raise InvalidInput(
                "layout", f"layout: expected a layout name like '70x50' or 'a4-3x8', found {layout!r}"
            )
        require_batch_id(batch_id)
        if client_id is not None:
            check_client_id("client_id", client_id)
            previous = self.ctx.previous(client_id)
            if previous is not None:
                return self._retried(previous, batch_id, count, client_id)
        self._issuer(actor)
        self.ctx.lock_chain(batch_id)
        batch = self.session.get(Batch, batch_id)
        if batch is None:
            raise NotFound("batch", f"batch: no batch {batch_id!r}")
        if batch.recalled:
            raise RuleViolation(
                "batch", f"batch: {batch_id} is recalled; no new codes are issued for it", "batch_recalled"
            )
        product = self.session.get(Product, batch.product_id)
        assert product is not None
        state = load_state(self.session, batch_id)
        allocation = allocate(self.session, self.keys, count)
        first = make_serial(allocation.key, allocation.first_n)
        last = make_serial(allocation.key, allocation.first_n + count - 1)
        payload: dict[str, Any] = {
            "count": count,
            "station": actor,
            "key_id": allocation.key.key_id,
            "first_serial_sha256": serial_sha256(first),
            "last_serial_sha256": serial_sha256(last),
            "uri_form": "digital_link" if product.gtin else "short",
        }
        if product.gtin:
            payload["gtin"] = validate_gtin(product.gtin)
        if layout is not None:
            payload["layout"] = layout
        moment = self.ctx.now()
        event = append_and_project(
            self.ctx, state, CODES_ISSUED, actor, payload, moment, client_id or new_client_id("codes.issue")
        )
        entry_hash = b64decode(event.hash, "hash")
        row = CodeRange(
            batch_id=batch_id,
            first_n=allocation.first_n,
            count=count,
            key_id=allocation.key.key_id,
            station_org_id=actor,
            layout=layout,
            entry_hash=entry_hash,
            issued_at=moment,
        )
        self.session.add(row)
        self.session.flush()
        return self._view(row, created=True)

    def _issuer(self, actor: str) -> None:
        org = self.ctx.active_org(actor)
        if org.kind not in ISSUER_KINDS:
            raise NotPermitted(
                "actor",
                f"actor: a {ORG_KINDS[org.kind][1]} does not issue codes; a packing station or the operator does",
                "issuer_kind",
            )

    def _retried(self, previous: StoredEntry, batch_id: str, count: int, client_id: str) -> IssuedRange:
        row = self.session.scalars(
            select(CodeRange).where(CodeRange.entry_hash == previous.entry.hash)
        ).first()
        if row is None or row.batch_id != batch_id or row.count != count:
            raise RuleViolation(
                "client_id",
                f"client_id: {client_id!r} was already used for a different request; use a new id for new codes",
                "idempotency_conflict",
            )
        return self._view(row, created=False)

    # -- voiding and reprints ----------------------------------------------------------------

    def void(
        self,
        actor: str,
        reason: str,
        *,
        range_id: int | None = None,
        code: str | None = None,
        client_id: str | None = None,
    ) -> RangeEvent:
        """Void a whole range or one code (damaged labels, a misprinted roll), with a reason."""
        return self._range_event("void", actor, reason, range_id, code, client_id)

    def reprint(
        self,
        actor: str,
        reason: str,
        *,
        range_id: int | None = None,
        code: str | None = None,
        client_id: str | None = None,
    ) -> RangeEvent:
        """Record that a range's labels (or one code's) were printed again, and why."""
        return self._range_event("reprint", actor, reason, range_id, code, client_id)

    def _range_event(
        self,
        kind: str,
        actor: str,
        reason: str,
        range_id: int | None,
        code: str | None,
        client_id: str | None,
    ) -> RangeEvent:
        reason = clean_text("reason", reason, max_length=MAX_REASON)
        if (range_id is None) == (code is None):
            raise InvalidInput("range", "range/code: expected exactly one of a range id or a code")
        table = CodeVoid if kind == "void" else CodeReprint
        entry_type = CODES_VOIDED if kind == "void" else CODES_REPRINTED
        if client_id is not None:
            check_client_id("client_id", client_id)
            previous = self.ctx.previous(client_id)
            if previous is not None:
                row = self.session.scalars(
                    select(table).where(table.entry_hash == previous.entry.hash)
                ).first()
                if row is None or row.reason != reason:
                    raise RuleViolation(
                        "client_id",
                        f"client_id: {client_id!r} was already used for a different request",
                        "idempotency_conflict",
                    )
                rng = self.session.get(CodeRange, row.range_id)
                assert rng is not None
                return self._to_event(kind, row, rng)
        rng, n, serial = self._target(range_id, code)
        self._may_change(actor, rng)
        self.ctx.lock_chain(rng.batch_id)
        voids = self._voids(rng.id)
        if any(v.count == rng.count for v in voids):
            raise RuleViolation("range", f"range: range {rng.id} is voided", "range_voided")
        if kind == "void" and n is not None and any(v.first_n <= n < v.first_n + v.count for v in voids):
            raise RuleViolation("code", f"code: {serial} is already voided", "code_voided")
        payload: dict[str, Any] = {
            "range": b64encode(rng.entry_hash),
            "scope": "range" if n is None else "code",
            "count": rng.count if n is None else 1,
            "reason": reason,
        }
        if serial is not None:
            payload["serial"] = serial
        moment = self.ctx.now()
        state = load_state(self.session, rng.batch_id)
        event = append_and_project(
            self.ctx, state, entry_type, actor, payload, moment, client_id or new_client_id(entry_type)
        )
        values = {
            "range_id": rng.id,
            "first_n": rng.first_n if n is None else n,
            "count": payload["count"],
            "reason": reason,
            "org_id": actor,
            "entry_hash": b64decode(event.hash, "hash"),
        }
        row = (
            CodeVoid(**values, voided_at=moment)
            if kind == "void"
            else CodeReprint(**values, reprinted_at=moment)
        )
        self.session.add(row)
        self.session.flush()
        return self._to_event(kind, row, rng)

    def _target(self, range_id: int | None, code: str | None) -> tuple[CodeRange, int | None, str | None]:
        if range_id is not None:
            rng = self.session.get(CodeRange, range_id) if isinstance(range_id, int) else None
            if rng is None:
                raise NotFound("range", f"range: no code range {range_id!r}")
            return rng, None, None
        assert code is not None
        try:
            identified, located = locate(self.session, self.keyring(), code)
        except SerialError as exc:
            raise InvalidInput("code", f"code: {exc.message}") from None
        link = identified.link
        if isinstance(link, DigitalLink) and (
            located.product.gtin is None
            or link.gtin != validate_gtin(located.product.gtin)
            or (link.lot is not None and link.lot != located.batch.lot)
        ):
            raise InvalidInput("code", f"code: {code!r} names another product or lot than the code's batch")
        return located.range, identified.n, identified.serial

    def _may_change(self, actor: str, rng: CodeRange) -> None:
        org = self.ctx.active_org(actor)
        if org.kind != "operator" and org.id != rng.station_org_id:
            raise NotPermitted(
                "actor",
                f"actor: range {rng.id} was issued by {rng.station_org_id}; only it or the operator may change it",
                "not_issuer",
            )

    # -- reading ---------------------------------------------------------------------------

    def range(self, range_id: int) -> IssuedRange:
        row = self.session.get(CodeRange, range_id) if isinstance(range_id, int) else None
        if row is None:
            raise NotFound("range", f"range: no code range {range_id!r}")
        return self._view(row, created=False)

    def ranges(self, batch_id: str) -> list[IssuedRange]:
        require_batch_id(batch_id)
        rows = self.session.scalars(
            select(CodeRange).where(CodeRange.batch_id == batch_id).order_by(CodeRange.id)
        )
        return [self._view(row, created=False) for row in rows]

    def _voids(self, range_id: int) -> list[CodeVoid]:
        return list(
            self.session.scalars(select(CodeVoid).where(CodeVoid.range_id == range_id).order_by(CodeVoid.id))
        )

    def _to_event(self, kind: str, row: CodeVoid | CodeReprint, rng: CodeRange) -> RangeEvent:
        whole = row.count == rng.count
        key = None if whole else self.keys.get(rng.key_id)
        at = row.voided_at if isinstance(row, CodeVoid) else row.reprinted_at
        return RangeEvent(
            kind=kind,
            scope="range" if whole else "code",
            serial=None if key is None else make_serial(key, row.first_n),
            count=row.count,
            reason=row.reason,
            org=row.org_id,
            at=_aware(at),
            entry_hash=row.entry_hash,
        )

    def _view(self, row: CodeRange, created: bool) -> IssuedRange:
        key = self.keys.get(row.key_id)
        reprints = self.session.scalars(
            select(CodeReprint).where(CodeReprint.range_id == row.id).order_by(CodeReprint.id)
        )
        return IssuedRange(
            range_id=row.id,
            batch_id=row.batch_id,
            count=row.count,
            key_id=row.key_id,
            station=row.station_org_id,
            layout=row.layout,
            first_serial=None if key is None else make_serial(key, row.first_n),
            last_serial=None if key is None else make_serial(key, row.last_n),
            entry_hash=row.entry_hash,
            issued_at=_aware(row.issued_at),
            created=created,
            voids=tuple(self._to_event("void", v, row) for v in self._voids(row.id)),
            reprints=tuple(self._to_event("reprint", r, row) for r in reprints),
        )


def _event_json(event: RangeEvent) -> dict[str, Any]:
    return {
        "scope": event.scope,
        "serial": event.serial,
        "count": event.count,
        "reason": event.reason,
        "org": event.org,
        "at": event.at.isoformat(),
        "entry_hash": b64encode(event.entry_hash),
    }


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
