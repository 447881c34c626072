"""Lineage: split a batch, merge batches, transform inputs into new products.

Every operation writes, in one transaction, a `lineage.split|merged|transformed` entry on
each input's chain (what went out, to which outputs) and a `batch.registered` entry opening
each output's chain that names its inputs, so each chain is complete on its own. Quantities
are conserved: a split's outputs add up to what left the input, a merge's output is the sum
of what left its inputs; a transform declares its outputs (drying tea loses water) but can
never take more from an input than it has.

How much of an input went into each output: a split's outputs and a merge's single output
say it; so does a transform with one output (all it took). A transform with several
outputs says it only if the actor states `shares` (how much of each input went into each
output, adding up to what left each input); without them its edges carry no quantity, and
what left each input is recorded once, on the input's own lineage.transformed entry.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.trace.batches import check_registration, open_batch, take_json
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, RuleViolation
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.events.fields import BatchRef, ListOf, Lot, Quantity, Slug
from farmtrace.trace.events.fields import Choice as _Choice
from farmtrace.trace.events.schema import PayloadSchema, load_payload
from farmtrace.trace.ids import new_batch_id, new_operation_id
from farmtrace.trace.models.projection import LineageEdge, LineageTake
from farmtrace.trace.projections import load_state, require_batch_id
from farmtrace.trace.recorder import RecordedEvent, append_and_project, event_moment, recorded
from farmtrace.trace.rules import check_time, conformant, custodian_only, not_recalled, take
from farmtrace.trace.state import BatchState
from farmtrace.trace.text import client_id as check_client_id
from farmtrace.trace.units import QUANTITY_UNITS, convert, show

MAX_CLIENT_ID = 110  # room for the ".in.N" / ".out.N" suffixes within the ledger's 128


class TakeSchema(PayloadSchema):
    batch = BatchRef(required=True)
    quantity = Quantity()
    unit = _Choice(tuple(QUANTITY_UNITS))


class ShareSchema(PayloadSchema):
    batch = BatchRef(required=True)
    quantity = Quantity(required=True)
    unit = _Choice(tuple(QUANTITY_UNITS))


class MakeSchema(PayloadSchema):
    product = Slug()
    lot = Lot()
    quantity = Quantity(required=True)
    unit = _Choice(tuple(QUANTITY_UNITS))
    shares = ListOf(
        fields.Nested(ShareSchema),
        maximum=50,
        metadata={
            "description": "A transform's outputs may say how much of each input went into each: "
            "then every output names every input once, and each input's shares add up to what left it"
        },
    )


class OperationSchema(PayloadSchema):
    inputs = ListOf(fields.Nested(TakeSchema), maximum=50, required=True)
    outputs = ListOf(fields.Nested(MakeSchema), maximum=100, required=True)


@dataclass(frozen=True)
class LineageResult:
    operation: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    created: bool
    entries: tuple[RecordedEvent, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "kind": self.kind,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "created": self.created,
            "entries": [e.to_json() for e in self.entries],
        }


class LineageService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def split(
        self,
        actor: str,
        batch_id: str,
        outputs: list[dict[str, Any]],
        *,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> LineageResult:
        """Split `batch_id` into outputs [{quantity, unit?, lot?}], all of the same product."""
        return self._run("split", actor, [{"batch": batch_id}], outputs, event_time, client_id)

    def merge(
        self,
        actor: str,
        inputs: list[dict[str, Any]],
        output: dict[str, Any] | None = None,
        *,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> LineageResult:
        """Merge inputs [{batch, quantity?, unit?}] (default: all that is left) into one batch."""
        return self._run("merge", actor, inputs, [output or {}], event_time, client_id)

    def transform(
        self,
        actor: str,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        *,
        event_time: datetime | str | None = None,
        client_id: str | None = None,
    ) -> LineageResult:
        """Turn inputs [{batch, quantity, unit}] into outputs [{product, quantity, unit, lot?}]."""
        return self._run("transform", actor, inputs, outputs, event_time, client_id)

    # -- the operation ---------------------------------------------------------------------

    def _run(
        self,
        kind: str,
        actor: str,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        event_time: datetime | str | None,
        client_id: str | None,
    ) -> LineageResult:
        if client_id is not None:
            check_client_id("client_id", client_id)
            if len(client_id) > MAX_CLIENT_ID:
                raise InvalidInput(
                    "client_id",
                    f"client_id: expected at most {MAX_CLIENT_ID} characters for a lineage operation",
                )
        moment = event_moment(self.ctx, event_time)
        stated = None
        if kind == "merge":
            # The output of a merge is the sum of its inputs; a stated quantity must agree.
            stated = [o.get("quantity") if isinstance(o, dict) else None for o in outputs]
            outputs = [{"quantity": "1", **o} if isinstance(o, dict) else o for o in outputs]
        request = load_payload(OperationSchema(), {"inputs": inputs, "outputs": outputs}, prefix="")
        takes, makes = request["inputs"], request["outputs"]
        self._shape(kind, takes, makes)
        operation = new_operation_id(client_id)
        output_ids = [
            new_batch_id(None if client_id is None else f"{client_id}.out.{i}") for i in range(len(makes))
        ]
        if client_id is not None and self.ctx.previous(f"{client_id}.in.0") is not None:
            return self._replay(kind, operation, takes, output_ids)
        batch_ids = [take_["batch"] for take_ in takes]
        for batch_id in sorted(batch_ids):
            self.ctx.lock_chain(batch_id, "inputs")
        states = [load_state(self.session, b, f"inputs[{i}].batch") for i, b in enumerate(batch_ids)]
        actor_org = self.ctx.active_org(actor)
        now = self.ctx.now()
        taken: list[tuple[Decimal, str]] = []
        for index, (state, item) in enumerate(zip(states, takes, strict=True)):
            custodian_only(state, actor_org, f"lineage.{kind}")
            not_recalled(state, "used as an input")
            conformant(state, "used as an input")
            check_time(state, "event_time", moment, now)
            taken.append(self._take(kind, index, state, item, makes))
        plans = self._outputs(kind, states, taken, makes)
        shares = _shares(states, taken, makes)
        if (
            stated
            and stated[0] is not None
            and Decimal(makes[0]["quantity"]) != Decimal(plans[0]["quantity"])
        ):
            raise RuleViolation(
                "outputs[0].quantity",
                f"outputs[0].quantity: a merge makes the sum of its inputs, {plans[0]['quantity']} {plans[0]['unit']}; "
                f"found {makes[0]['quantity']}",
                "quantity_not_conserved",
            )
        entries: list[RecordedEvent] = []
        for index, (state, (quantity, unit)) in enumerate(zip(states, taken, strict=True)):
            payload = {
                "operation": operation,
                "outputs": output_ids,
                "quantity": _text(quantity),
                "unit": unit,
            }
            values = validate_payload(t.OUT_OF_LINEAGE_KIND[kind], payload)
            entry_client = None if client_id is None else f"{client_id}.in.{index}"
            entries.append(
                append_and_project(
                    self.ctx, state, t.OUT_OF_LINEAGE_KIND[kind], actor, values, moment, entry_client
                )
            )
        lineage_inputs = [
            {"batch": s.id, "quantity": _text(q), "unit": u} for s, (q, u) in zip(states, taken, strict=True)
        ]
        conformity = _inherited_conformity(kind, states)
        for index, (output_id, plan) in enumerate(zip(output_ids, plans, strict=True)):
            item_inputs = lineage_inputs
            if kind == "split":
                item_inputs = [{"batch": states[0].id, "quantity": plan["quantity"], "unit": plan["unit"]}]
            plan["lineage"] = {
                "operation": operation,
                "kind": kind,
                "inputs": item_inputs,
                "conformity": conformity,
            }
            if shares:
                plan["lineage"]["shares"] = shares[index]
            plan.setdefault("lot", output_id)
            values = validate_payload(t.BATCH_REGISTERED, plan, prefix=f"outputs[{index}]")
            check_registration(self.ctx, actor, values, moment, output_id)
            entry_client = None if client_id is None else f"{client_id}.out.{index}"
            entries.append(open_batch(self.ctx, output_id, actor, values, moment, entry_client))
        return LineageResult(operation, kind, tuple(batch_ids), tuple(output_ids), True, tuple(entries))

    def _shape(self, kind: str, takes: list[dict[str, Any]], makes: list[dict[str, Any]]) -> None:
        if kind == "split" and len(makes) < 2:
            raise InvalidInput("outputs", f"outputs: a split makes at least 2 batches, found {len(makes)}")
        if kind == "merge" and len(takes) < 2:
            raise InvalidInput("inputs", f"inputs: a merge takes at least 2 batches, found {len(takes)}")
        seen: set[str] = set()
        for index, item in enumerate(takes):
            if item["batch"] in seen:
                raise InvalidInput(
                    f"inputs[{index}].batch", f"inputs[{index}].batch: {item['batch']} is listed twice"
                )
            seen.add(item["batch"])
            if kind == "transform" and "quantity" not in item:
                raise InvalidInput(
                    f"inputs[{index}].quantity", f"inputs[{index}].quantity: is required for a transform"
                )
        stated = [index for index, item in enumerate(makes) if "shares" in item]
        if stated and kind != "transform":
            raise InvalidInput(
                f"outputs[{stated[0]}].shares",
                f"outputs[{stated[0]}].shares: only a transform states shares; a {kind}'s quantities say it",
            )
        if stated and len(stated) != len(makes):
            missing = next(i for i in range(len(makes)) if i not in stated)
            raise InvalidInput(
                f"outputs[{missing}].shares",
                f"outputs[{missing}].shares: is required when another output states its shares",
            )
        inputs = [item["batch"] for item in takes]
        for index in stated:
            named = [share["batch"] for share in makes[index]["shares"]]
            if sorted(named) != sorted(inputs):
                raise InvalidInput(
                    f"outputs[{index}].shares",
                    f"outputs[{index}].shares: expected one share of each input ({', '.join(inputs)}), "
                    f"found {', '.join(named)}",
                )
        for index, item in enumerate(makes):
            if kind == "transform" and "product" not in item:
                raise InvalidInput(
                    f"outputs[{index}].product", f"outputs[{index}].product: is required for a transform"
                )
            if kind != "transform" and "product" in item:
                raise InvalidInput(
                    f"outputs[{index}].product",
                    f"outputs[{index}].product: a {kind} keeps the input's product",
                )

    def _take(
        self, kind: str, index: int, state: BatchState, item: dict[str, Any], makes: list[dict[str, Any]]
    ) -> tuple[Decimal, str]:
        """How much leaves this input, in the input's unit, after checking it is there."""
        if kind == "split":
            total = Decimal(0)
            for j, make in enumerate(makes):
                total += convert(
                    f"outputs[{j}].unit", Decimal(make["quantity"]), make.get("unit", state.unit), state.unit
                )
            take(state, "outputs", total, state.unit, "outputs")
            return total, state.unit
        field = f"inputs[{index}].quantity"
        if "quantity" not in item:
            return state.available, state.unit
        unit = item.get("unit", state.unit)
        amount = take(state, field, Decimal(item["quantity"]), unit, f"inputs[{index}].unit")
        return amount, state.unit

    def _outputs(
        self,
        kind: str,
        states: list[BatchState],
        taken: list[tuple[Decimal, str]],
        makes: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        first = states[0]
        producers = sorted({p for s in states for p in s.producers})[:50]
        places = {s.origin_place for s in states}
        plans = []
        for index, make in enumerate(makes):
            plan: dict[str, Any] = {"producers": producers}
            if len(places) == 1 and first.origin_place is not None:
                plan["origin_place"] = first.origin_place
            if kind == "transform":
                plan.update(
                    product=make["product"], quantity=make["quantity"], unit=make.get("unit", first.unit)
                )
                self.ctx.product(make["product"], f"outputs[{index}].product")
            else:
                plan["product"] = first.product
                if first.production_date is not None and len({s.production_date for s in states}) == 1:
                    plan["production_date"] = first.production_date.isoformat()
            if kind == "split":
                plan.update(quantity=make["quantity"], unit=make.get("unit", first.unit))
            if kind == "merge":
                products = {s.product for s in states}
                if len(products) > 1:
                    raise RuleViolation(
                        "inputs",
                        f"inputs: a merge takes batches of one product, found {', '.join(sorted(products))}",
                        "mixed_products",
                    )
                unit = make.get("unit", first.unit)
                total = sum(
                    (convert(f"inputs[{i}].unit", q, u, unit) for i, (q, u) in enumerate(taken)), Decimal(0)
                )
                plan.update(quantity=_text(total), unit=unit)
            if "lot" in make:
                plan["lot"] = make["lot"]
            plans.append(plan)
        return plans

    def _replay(
        self, kind: str, operation: str, takes: list[dict[str, Any]], output_ids: list[str]
    ) -> LineageResult:
        """A retried operation: return what was recorded the first time."""
        entries = []
        for batch_id in output_ids:
            stored = self.ctx.ledger.entries(batch_id)
            if stored:
                entries.append(recorded(stored[0], created=False))
        inputs = tuple(item["batch"] for item in takes)
        return LineageResult(operation, kind, inputs, tuple(output_ids), False, tuple(entries))

    # -- reading ---------------------------------------------------------------------------

    def parents(self, batch_id: str) -> list[LineageEdge]:
        return list(self.session.scalars(select(LineageEdge).where(LineageEdge.child_batch_id == batch_id)))

    def children(self, batch_id: str) -> list[LineageEdge]:
        return list(self.session.scalars(select(LineageEdge).where(LineageEdge.parent_batch_id == batch_id)))

    def upstream(self, batch_id: str) -> list[str]:
        """Every batch `batch_id` was made from, nearest first (breadth-first)."""
        return upstream_of(self.session, batch_id)

    def downstream(self, batch_id: str) -> list[str]:
        """Every batch made (directly or not) from `batch_id`, nearest first."""
        return downstream_of(self.session, batch_id)

    def graph(self, batch_id: str) -> dict[str, Any]:
        """The batch with everything upstream and downstream of it, as nodes and edges, and
        what left each of its batches in each operation (`taken`, once per input)."""
        nodes = [batch_id, *self.upstream(batch_id), *self.downstream(batch_id)]
        wanted = set(nodes)
        edges = [
            {
                "from": e.parent_batch_id,
                "to": e.child_batch_id,
                "kind": e.kind,
                "operation": e.operation,
                "quantity": e.quantity,
                "unit": e.unit,
            }
            for e in self.session.scalars(
                select(LineageEdge)
                .where(LineageEdge.child_batch_id.in_(wanted))
                .order_by(LineageEdge.parent_batch_id, LineageEdge.child_batch_id)
            )
            if e.parent_batch_id in wanted
        ]
        taken = [
            take_json(take)
            for take in self.session.scalars(
                select(LineageTake)
                .where(LineageTake.batch_id.in_(wanted))
                .order_by(LineageTake.batch_id, LineageTake.seq)
            )
        ]
        return {"batch": batch_id, "nodes": nodes, "edges": edges, "taken": taken}


def upstream_of(session: Session, batch_id: str) -> list[str]:
    return _walk(session, require_batch_id(batch_id), up=True)


def downstream_of(session: Session, batch_id: str) -> list[str]:
    return _walk(session, require_batch_id(batch_id), up=False)


def _walk(session: Session, start: str, up: bool) -> list[str]:
    seen = {start}
    order: list[str] = []
    queue = deque([start])
    near, far = (
        (LineageEdge.child_batch_id, LineageEdge.parent_batch_id)
        if up
        else (
            LineageEdge.parent_batch_id,
            LineageEdge.child_batch_id,
        )
    )
    while queue:
        current = queue.popleft()
        for nxt in session.scalars(select(far).where(near == current).order_by(far)):
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                queue.append(nxt)
    return order


def _shares(
    states: list[BatchState], taken: list[tuple[Decimal, str]], makes: list[dict[str, Any]]
) -> list[list[dict[str, str]]]:
    """Each output's stated shares as recorded (unit defaulting to the input's), after
    checking that each input's shares add up to what left it; [] when none are stated."""
    if not makes or "shares" not in makes[0]:
        return []
    states_by_id = {state.id: state for state in states}
    totals = {state.id: Decimal(0) for state in states}
    recorded: list[list[dict[str, str]]] = []
    for index, make in enumerate(makes):
        items = []
        for j, share in enumerate(make["shares"]):
            state = states_by_id[share["batch"]]
            unit = share.get("unit", state.unit)
            field = f"outputs[{index}].shares[{j}].unit"
            totals[state.id] += convert(field, Decimal(share["quantity"]), unit, state.unit)
            items.append({"batch": state.id, "quantity": share["quantity"], "unit": unit})
        recorded.append(items)
    for state, (quantity, unit) in zip(states, taken, strict=True):
        if totals[state.id] != quantity:
            raise RuleViolation(
                "outputs",
                f"outputs: the shares of {state.id} add up to {show(totals[state.id], unit)}; "
                f"{show(quantity, unit)} leaves it",
                "quantity_not_conserved",
            )
    return recorded


def _inherited_conformity(kind: str, states: list[BatchState]) -> str:
    # A split is the same goods: its test result carries over. A merge is conformant only if
    # all its inputs are. A transform makes a new product that needs its own test.
    if kind == "transform":
        return "untested"
    values = {s.conformity for s in states}
    return values.pop() if len(values) == 1 else "untested"


def _text(quantity: Decimal) -> str:
    from farmtrace.trace.text import format_decimal

    return format_decimal(quantity)
