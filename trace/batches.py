"""Batches: registration (which opens the batch's chain in the ledger) and what is known of one.

A batch id is "B" + 12 Crockford base32 characters (trace.ids); the lot is a GS1 AI (10)
value (CSET 82, at most 20 characters), by default the batch id itself. Views are read
from the projection tables, which the ledger keeps current (trace.projections).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from farmtrace.ledger.append import Draft
from farmtrace.ledger.entry import CLOCK_SKEW
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted, RuleViolation
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.ids import new_batch_id, new_client_id
from farmtrace.trace.models.projection import (
    Batch,
    BatchCertificate,
    BatchFlag,
    BatchProducer,
    LabTest,
    LineageEdge,
    LineageTake,
    Recall,
)
from farmtrace.trace.models.registry import Org, Product
from farmtrace.trace.orgs import ORG_KINDS, PRODUCER_KINDS
from farmtrace.trace.products import certificate_view
from farmtrace.trace.projections import commit, require_batch_id
from farmtrace.trace.recorder import RecordedEvent, event_moment, recorded
from farmtrace.trace.rules import SKEW_MINUTES


def check_registration(
    ctx: TraceContext, actor: str, values: dict[str, Any], moment: datetime, batch_id: str
) -> Product:
    """The rules of a batch registration; returns the product."""
    ctx.active_org(actor)
    product = ctx.product(values["product"])
    now = ctx.now()
    if moment > now + CLOCK_SKEW:
        raise RuleViolation(
            "event_time",
            f"event_time: {moment.isoformat()} is in the future (the server's time is {now.isoformat(timespec='seconds')}; "
            f"at most {SKEW_MINUTES} minutes ahead is accepted)",
            "time_in_future",
        )
    produced = values.get("production_date")
    if produced is not None and date.fromisoformat(produced) > (now + timedelta(days=1)).date():
        raise RuleViolation(
            "payload.production_date",
            f"payload.production_date: {produced} is in the future",
            "time_in_future",
        )
    for index, producer in enumerate(values.get("producers", ())):
        field = f"payload.producers[{index}]"
        found = ctx.active_org(producer, field)
        if found.kind not in PRODUCER_KINDS:
            raise RuleViolation(
                field, f"{field}: {producer} is a {ORG_KINDS[found.kind][1]}, not a producer", "wrong_kind"
            )
    if "origin_place" in values:
        ctx.place(values["origin_place"], "payload.origin_place")
    clash = ctx.session.scalars(
        select(Batch.id).where(
            Batch.product_id == product.id, Batch.lot == values["lot"], Batch.id != batch_id
        )
    ).first()
    if clash is not None:
        raise RuleViolation(
            "payload.lot",
            f"payload.lot: product {product.id} already has a batch with lot {values['lot']} ({clash})",
            "exists",
        )
    return product


class BatchService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def register(
        self,
        actor: str,
        payload: dict[str, Any],
        *,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> RecordedEvent:
        """Register a batch of `payload["product"]` owned by `actor`; opens its chain.

        payload: product, lot (default: the batch id), producers, origin_place, unit,
        quantity (on hand now) or expected_quantity (a crop still growing), production_date.
        """
        if isinstance(payload, dict) and "lineage" in payload:
            raise InvalidInput(
                "payload.lineage", "payload.lineage: is set by split, merge and transform, not by hand"
            )
        batch_id = new_batch_id(client_id)
        moment = event_moment(self.ctx, event_time)
        data = dict(payload) if isinstance(payload, dict) else payload
        if isinstance(data, dict):
            data.setdefault("lot", batch_id)
        values = validate_payload(t.BATCH_REGISTERED, data)
        previous = self.ctx.previous(client_id)
        if previous is not None and client_id is not None:
            moment = previous.entry.event_time if event_time is None else moment
            draft = Draft(batch_id, t.BATCH_REGISTERED, moment, actor, client_id, values)
            return recorded(self.ctx.ledger.open_chain(draft, self.ctx.signer(actor)), created=False)
        org = self.ctx.active_org(actor)
        if org.kind not in PRODUCER_KINDS:
            raise NotPermitted(
                "actor",
                f"actor: a {ORG_KINDS[org.kind][1]} does not register batches; producers do",
                "registrant_kind",
            )
        product = check_registration(self.ctx, actor, values, moment, batch_id)
        if actor != product.owner_org_id and org.parent_org_id != product.owner_org_id:
            raise NotPermitted(
                "payload.product",
                f"payload.product: {product.id} belongs to {product.owner_org_id}; {actor} may not register its batches",
                "product_owner",
            )
        return open_batch(self.ctx, batch_id, actor, values, moment, client_id)

    # -- reading ---------------------------------------------------------------------------

    def get(self, batch_id: str, on: date | None = None) -> BatchView:
        require_batch_id(batch_id)
        row = self.session.get(Batch, batch_id)
        if row is None:
            raise NotFound("batch", f"batch: no batch {batch_id!r}")
        return batch_view(self.ctx, row, on or self.ctx.now().date())

    def list(
        self,
        *,
        owner: str | None = None,
        custodian: str | None = None,
        product: str | None = None,
        recalled: bool | None = None,
        flagged: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[BatchSummary]:
        query = (
            select(Batch)
            .order_by(Batch.registered_at.desc(), Batch.id)
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        )
        if owner is not None:
            query = query.where(Batch.owner_org_id == owner)
        if custodian is not None:
            query = query.where(Batch.custodian_org_id == custodian)
        if product is not None:
            query = query.where(Batch.product_id == product)
        if recalled is not None:
            query = query.where(Batch.recalled.is_(recalled))
        flagged_ids = set(self.session.scalars(select(BatchFlag.batch_id).distinct()))
        rows = [r for r in self.session.scalars(query) if flagged is None or (r.id in flagged_ids) == flagged]
        return [summary(r, r.id in flagged_ids) for r in rows]

    def history(self, batch_id: str) -> list[dict[str, Any]]:
        """The batch's ledger entries in order, as JSON (with hash and signature)."""
        require_batch_id(batch_id)
        entries = self.ctx.ledger.entries(batch_id)
        if not entries:
            raise NotFound("batch", f"batch: no batch {batch_id!r}")
        return [s.to_json() for s in entries]


def open_batch(
    ctx: TraceContext,
    batch_id: str,
    actor: str,
    values: dict[str, Any],
    moment: datetime,
    client_id: str | None,
) -> RecordedEvent:
    draft = Draft(batch_id, t.BATCH_REGISTERED, moment, actor, client_id or new_client_id("batch"), values)
    stored = ctx.ledger.open_chain(draft, ctx.signer(actor))
    commit(ctx.session, None, stored)
    return recorded(stored, True)


@dataclass(frozen=True)
class BatchSummary:
    id: str
    product: str
    lot: str
    owner: str
    custodian: str
    quantity_in: str
    quantity_out: str
    unit: str
    conformity: str
    recalled: bool
    flagged: bool
    registered_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "registered_at": self.registered_at.isoformat()}


def summary(row: Batch, flagged: bool) -> BatchSummary:
    return BatchSummary(
        row.id,
        row.product_id,
        row.lot,
        row.owner_org_id,
        row.custodian_org_id,
        row.quantity_in,
        row.quantity_out,
        row.unit,
        row.conformity,
        row.recalled,
        flagged,
        _aware(row.registered_at),
    )


@dataclass(frozen=True)
class BatchView:
    """Everything the scan page and the console show about a batch (from the projections)."""

    summary: BatchSummary
    product: dict[str, Any]
    producers: list[dict[str, Any]]
    origin: str
    origin_place: str | None
    location: str | None
    production_date: date | None
    packed_packages: int
    head_seq: int
    flags: list[dict[str, Any]]
    recalls: list[dict[str, Any]]
    certificates: list[dict[str, Any]]
    lab_tests: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    taken: list[dict[str, Any]]  # what left this batch in each lineage operation, once each
    poverty_mark: bool

    @property
    def id(self) -> str:
        return self.summary.id

    def to_json(self) -> dict[str, Any]:
        out = self.summary.to_json()
        out.update(
            product=self.product,
            producers=self.producers,
            origin=self.origin,
            origin_place=self.origin_place,
            location=self.location,
            production_date=None if self.production_date is None else self.production_date.isoformat(),
            packed_packages=self.packed_packages,
            head_seq=self.head_seq,
            flags=self.flags,
            recalls=self.recalls,
            certificates=self.certificates,
            lab_tests=self.lab_tests,
            inputs=self.inputs,
            outputs=self.outputs,
            taken=self.taken,
            poverty_mark=self.poverty_mark,
        )
        return out


def batch_view(ctx: TraceContext, row: Batch, on: date) -> BatchView:
    from farmtrace.trace.orgs import OrgService  # here to keep module imports one-way

    session = ctx.session
    product = session.get(Product, row.product_id)
    assert product is not None
    producers = session.scalars(
        select(Org)
        .join(BatchProducer, BatchProducer.org_id == Org.id)
        .where(BatchProducer.batch_id == row.id)
        .order_by(Org.id)
    )
    flags = list(
        session.scalars(
            select(BatchFlag).where(BatchFlag.batch_id == row.id).order_by(BatchFlag.seq, BatchFlag.idx)
        )
    )
    recalls = session.scalars(select(Recall).where(Recall.batch_id == row.id).order_by(Recall.issued_at))
    certs = session.scalars(
        select(BatchCertificate).where(BatchCertificate.batch_id == row.id).order_by(BatchCertificate.seq)
    )
    tests = session.scalars(select(LabTest).where(LabTest.batch_id == row.id).order_by(LabTest.seq))
    inputs = session.scalars(
        select(LineageEdge).where(LineageEdge.child_batch_id == row.id).order_by(LineageEdge.parent_batch_id)
    )
    outputs = session.scalars(
        select(LineageEdge).where(LineageEdge.parent_batch_id == row.id).order_by(LineageEdge.child_batch_id)
    )
    taken = session.scalars(
        select(LineageTake).where(LineageTake.batch_id == row.id).order_by(LineageTake.seq)
    )
    product_certs = [c.to_json() for c in _product_certificates(ctx, product.id, on)]
    return BatchView(
        summary=summary(row, bool(flags)),
        product={
            "id": product.id,
            "name_zh": product.name_zh,
            "name_en": product.name_en,
            "category": product.category,
            "specification": product.specification,
            "gtin": product.gtin,
            "certificates": product_certs,
        },
        producers=[{"id": o.id, "name_zh": o.name_zh, "kind": o.kind} for o in producers],
        origin=row.origin,
        origin_place=row.origin_place_id,
        location=row.location_place_id,
        production_date=row.production_date,
        packed_packages=row.packed_packages,
        head_seq=row.head_seq,
        flags=[
            {
                "seq": f.seq,
                "kind": f.kind,
                "message": f.message,
                "event_time": _aware(f.event_time).isoformat(),
            }
            for f in flags
        ],
        recalls=[
            {
                "recall_id": r.recall_id,
                "origin": r.origin_batch_id,
                "reason": r.reason,
                "issued_by": r.issued_by,
                "issued_at": _aware(r.issued_at).isoformat(),
                "lifted_at": None if r.lifted_at is None else _aware(r.lifted_at).isoformat(),
                "active": r.lifted_at is None,
            }
            for r in recalls
        ],
        certificates=[
            certificate_view(c.scheme, c.number, c.issuer, c.valid_from, c.valid_until, on).to_json()
            for c in certs
        ],
        lab_tests=[
            {
                "seq": lt.seq,
                "lab": lt.lab_org_id,
                "sample_id": lt.sample_id,
                "verdict": lt.verdict,
                "report_sha256": lt.report_sha256,
                "tested_at": _aware(lt.tested_at).isoformat(),
                "results": lt.results,
            }
            for lt in tests
        ],
        inputs=[_edge(e, e.parent_batch_id) for e in inputs],
        outputs=[_edge(e, e.child_batch_id) for e in outputs],
        taken=[take_json(take) for take in taken],
        poverty_mark=OrgService(ctx).poverty_mark(row.id),
    )


def _product_certificates(ctx: TraceContext, product_id: str, on: date) -> list[Any]:
    from farmtrace.trace.products import ProductService

    return ProductService(ctx).certificates(product_id, on)


def take_json(take: LineageTake) -> dict[str, Any]:
    return {
        "batch": take.batch_id,
        "operation": take.operation,
        "kind": take.kind,
        "quantity": take.quantity,
        "unit": take.unit,
        "outputs": take.outputs,
    }


def _edge(edge: LineageEdge, batch: str) -> dict[str, Any]:
    # quantity and unit are None where the record does not say how much of the input went
    # into this output (a transform with several outputs and no stated shares).
    return {
        "batch": batch,
        "kind": edge.kind,
        "operation": edge.operation,
        "quantity": edge.quantity,
        "unit": edge.unit,
    }


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
