"""The rules an event must pass before it is appended; each raises one clear error.

- only the owner records farming inputs and harvests;
- only a testing lab records lab tests (and its report must have been uploaded);
- only the current custodian records logistics, packing, processing and sales; a hand-off,
  pickup or delivery moves custody, and never to the current custodian;
- the event time may not precede the batch's registration, nor lie in the future beyond
  the ledger's clock skew (5 minutes);
- quantities out of a batch never exceed what came in;
- a recalled batch is not sold, packed or used as an input; nor is a non-conformant one
  (a failed lab test) until a passing test or the operator decides.

Flags (pre-harvest interval, failed test, cold-chain excursion) are not refusals: the
event is recorded and the flag raised (trace.state).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from farmtrace.ledger.entry import CLOCK_SKEW
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import NotPermitted, RuleViolation
from farmtrace.trace.events import types as t
from farmtrace.trace.models.registry import Org
from farmtrace.trace.orgs import ORG_KINDS
from farmtrace.trace.places import PLACE_KINDS, STORAGE_KINDS
from farmtrace.trace.state import BatchState
from farmtrace.trace.text import parse_moment
from farmtrace.trace.units import show

SKEW_MINUTES = int(CLOCK_SKEW.total_seconds() // 60)


def kind_name(org: Org) -> str:
    return ORG_KINDS[org.kind][1]


def check_time(state: BatchState, field: str, moment: datetime, now: datetime) -> None:
    if moment < state.registered_at:
        raise RuleViolation(
            field,
            f"{field}: {moment.isoformat()} is before the registration of {state.id} at {state.registered_at.isoformat()}",
            "time_before_batch",
        )
    if moment > now + CLOCK_SKEW:
        raise RuleViolation(
            field,
            f"{field}: {moment.isoformat()} is in the future (the server's time is "
            f"{now.isoformat(timespec='seconds')}; at most {SKEW_MINUTES} minutes ahead is accepted)",
            "time_in_future",
        )


def owner_only(state: BatchState, actor: Org, event_type: str) -> None:
    if actor.id != state.owner:
        raise NotPermitted(
            "actor",
            f"actor: only the owner of {state.id} ({state.owner}) may record {event_type}; {actor.id} is not the owner",
            "owner_only",
        )


def custodian_only(state: BatchState, actor: Org, event_type: str) -> None:
    if actor.id != state.custodian:
        raise NotPermitted(
            "actor",
            f"actor: only the current custodian of {state.id} ({state.custodian}) may record {event_type}; "
            f"{actor.id} is not the custodian",
            "custodian_only",
        )


def not_recalled(state: BatchState, doing: str) -> None:
    recall = state.active_recall()
    if recall is not None:
        raise RuleViolation(
            "batch", f"batch: {state.id} is recalled ({recall.recall_id}); it may not be {doing}", "recalled"
        )


def conformant(state: BatchState, doing: str) -> None:
    if state.conformity == "non_conformant":
        raise RuleViolation(
            "batch",
            f"batch: {state.id} is non-conformant (failed lab test); it may not be {doing} until a passing test "
            "or an operator decision",
            "non_conformant",
        )


def take(state: BatchState, field: str, quantity: Decimal, unit: str, unit_field: str) -> Decimal:
    """`quantity` in the batch's unit, if that much is still available; else RuleViolation."""
    amount = state.quantity(str(quantity), unit, unit_field)
    if amount > state.available:
        raise RuleViolation(
            field,
            f"{field}: {show(quantity, unit)} is more than {state.id} has left: {show(state.quantity_in, state.unit)} in, "
            f"{show(state.quantity_out, state.unit)} out, {show(state.available, state.unit)} available",
            "quantity_exceeded",
        )
    return amount


def new_custodian(
    ctx: TraceContext, state: BatchState, field: str, org_id: str, kinds: tuple[str, ...] | None
) -> Org:
    org = ctx.active_org(org_id, field)
    if kinds is not None and org.kind not in kinds:
        wanted = " or ".join(ORG_KINDS[k][1] for k in kinds)
        raise RuleViolation(field, f"{field}: {org_id} is a {kind_name(org)}, not a {wanted}", "wrong_kind")
    if org_id == state.custodian:
        raise RuleViolation(
            field, f"{field}: {state.id} is already in the custody of {org_id}", "custody_unchanged"
        )
    return org


def place(
    ctx: TraceContext, payload: dict[str, Any], name: str, kinds: tuple[str, ...] | None = None
) -> None:
    if name not in payload:
        return
    field = f"payload.{name}"
    found = ctx.place(payload[name], field)
    if kinds is not None and found.kind not in kinds:
        wanted = " or ".join(PLACE_KINDS[k][1] for k in kinds)
        raise RuleViolation(
            field, f"{field}: {found.id} is a {PLACE_KINDS[found.kind][1]}, not a {wanted}", "wrong_kind"
        )


# -- per event type ------------------------------------------------------------------------


def _farming(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    owner_only(state, actor, event_type)
    place(ctx, p, "place")
    if event_type == t.HARVESTED:
        if state.origin != "registered":
            raise RuleViolation(
                "type",
                f"type: {state.id} was made by a {state.origin} of other batches; only a registered crop lot is harvested",
                "harvest_derived",
            )
        state.quantity(p["quantity"], p["unit"], "payload.unit")


def _processing(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    custodian_only(state, actor, event_type)
    place(ctx, p, "place")
    if "loss_quantity" in p:
        take(state, "payload.loss_quantity", Decimal(p["loss_quantity"]), p["loss_unit"], "payload.loss_unit")


def _lab(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    if actor.kind != "lab":
        raise NotPermitted(
            "actor",
            f"actor: only a testing lab may record {event_type}; {actor.id} is a {kind_name(actor)}",
            "lab_only",
        )
    if not ctx.document_exists(p["report_sha256"]):
        raise RuleViolation(
            "payload.report_sha256",
            f"payload.report_sha256: no uploaded document has SHA-256 {p['report_sha256']}; upload the report first",
            "report_missing",
        )


def _certification(
    ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str
) -> None:
    if actor.kind != "operator":
        owner_only(state, actor, event_type)
    if "document_sha256" in p and not ctx.document_exists(p["document_sha256"]):
        raise RuleViolation(
            "payload.document_sha256",
            f"payload.document_sha256: no uploaded document has SHA-256 {p['document_sha256']}; upload it first",
            "document_missing",
        )


def _conformity(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    if actor.kind != "operator":
        raise NotPermitted(
            "actor",
            f"actor: only the county operator may record {event_type}; {actor.id} is a {kind_name(actor)}",
            "operator_only",
        )


def _packing(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    custodian_only(state, actor, event_type)
    not_recalled(state, "packed")
    place(ctx, p, "place")
    total = Decimal(p["net_quantity"]) * p["packages"]
    amount = state.quantity(str(total), p["net_unit"], "payload.net_unit")
    if amount > state.available:
        raise RuleViolation(
            "payload.packages",
            f"payload.packages: {p['packages']} x {show(Decimal(p['net_quantity']), p['net_unit'])} is more than "
            f"{state.id} has left ({show(state.available, state.unit)} available)",
            "quantity_exceeded",
        )


def _pickup(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    custodian_only(state, actor, event_type)
    new_custodian(ctx, state, "payload.carrier", p["carrier"], ("carrier",))
    place(ctx, p, "place")
    place(ctx, p, "destination")


def _warehouse_in(
    ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str
) -> None:
    custodian_only(state, actor, event_type)
    place(ctx, p, "place", STORAGE_KINDS)


def _warehouse_out(
    ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str
) -> None:
    custodian_only(state, actor, event_type)
    place(ctx, p, "place", STORAGE_KINDS)
    place(ctx, p, "destination")
    if state.in_warehouse != p["place"]:
        where = "not in a warehouse" if state.in_warehouse is None else f"in {state.in_warehouse}"
        raise RuleViolation(
            "payload.place",
            f"payload.place: {state.id} is not in {p['place']} (it is {where})",
            "not_in_warehouse",
        )


def _handoff(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    custodian_only(state, actor, event_type)
    new_custodian(ctx, state, "payload.to", p["to"], None)
    place(ctx, p, "place")


def _delivery(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    custodian_only(state, actor, event_type)
    new_custodian(ctx, state, "payload.station", p["station"], ("village_station", "town_centre"))
    place(ctx, p, "place")


def _temperature(
    ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str
) -> None:
    custodian_only(state, actor, event_type)
    place(ctx, p, "place")
    now = ctx.now()
    for index, reading in enumerate(p["readings"]):
        field = f"payload.readings[{index}].time"
        check_time(state, field, parse_moment(field, reading["time"]), now)


def _sale(ctx: TraceContext, state: BatchState, actor: Org, p: dict[str, Any], event_type: str) -> None:
    custodian_only(state, actor, event_type)
    not_recalled(state, "sold")
    conformant(state, "sold")
    place(ctx, p, "place")
    take(state, "payload.quantity", Decimal(p["quantity"]), p["unit"], "payload.unit")


_CHECKS: dict[str, Callable[[TraceContext, BatchState, Org, dict[str, Any], str], None]] = {
    t.FARMING_INPUT: _farming,
    t.HARVESTED: _farming,
    t.PROCESSED: _processing,
    t.LAB_TESTED: _lab,
    t.CERTIFICATION_ATTACHED: _certification,
    t.CONFORMITY_DECIDED: _conformity,
    t.PACKED: _packing,
    t.PICKED_UP: _pickup,
    t.WAREHOUSE_IN: _warehouse_in,
    t.WAREHOUSE_OUT: _warehouse_out,
    t.HANDED_OFF: _handoff,
    t.DELIVERED: _delivery,
    t.TEMPERATURE: _temperature,
    t.SOLD: _sale,
}


def check_event(
    ctx: TraceContext,
    state: BatchState,
    event_type: str,
    author: str,
    event_time: datetime,
    payload: dict[str, Any],
) -> None:
    """Raise the first rule `event_type` by `author` at `event_time` breaks on `state`."""
    actor = ctx.active_org(author)
    check_time(state, "event_time", event_time, ctx.now())
    _CHECKS[event_type](ctx, state, actor, payload, event_type)
