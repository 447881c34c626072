"""EPCIS 2.0 export of a batch's record (and its lineage), one document per request.

Every ledger entry of the exported batches maps onto one EPCIS event (docs/domain.md has
the table). A lineage operation becomes one TransformationEvent with all its inputs and
outputs, built from the ledger whatever the export's scope, so its eventID (the EPCIS
Event Hash ID, computed by trace.epcis.document) is the same in every export. A corrected
entry is exported as written, with an errorDeclaration naming its corrective event.

Identifiers: a batch of a product with a GTIN is the Digital Link class
`https://{domain}/01/{gtin}/10/{lot}`; otherwise the service URI `https://{domain}/batch/{id}`.
Places are `https://{domain}/414/{gln}` when they have a GLN, else `https://{domain}/place/{id}`;
organisations `https://{domain}/org/{id}`. The domain comes from the public base URL the
caller passes (settings.public_base_url), so nothing here reads configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy.orm import Session

from farmtrace.ledger.encoding import b64encode
from farmtrace.trace.epcis.document import (
    BizTransaction,
    Event,
    ObjectEvent,
    QuantityElement,
    SensorElement,
    SensorReport,
    SourceDestination,
    TransformationEvent,
    build_document,
)
from farmtrace.trace.epcis.identifiers import batch_class_uri, farmtrace_namespace
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import types as t
from farmtrace.trace.lineage import downstream_of, upstream_of
from farmtrace.trace.models.registry import Place, Product
from farmtrace.trace.projections import chain_events, require_batch_id
from farmtrace.trace.state import Event as LedgerEvent
from farmtrace.trace.units import for_uom

LINEAGE_SCOPES = ("none", "upstream", "both")


@dataclass
class _Exporter:
    session: Session
    domain: str
    chains: dict[str, list[LedgerEvent]] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return farmtrace_namespace(self.domain)

    def step(self, name: str) -> str:
        return f"{self.ns}BizStep-{name}"

    def events_of(self, batch_id: str) -> list[LedgerEvent]:
        if batch_id not in self.chains:
            self.chains[batch_id] = chain_events(self.session, batch_id)
        return self.chains[batch_id]

    def batch_class(self, batch_id: str) -> str:
        if batch_id not in self.classes:
            registration = self.events_of(batch_id)[0].payload
            product = self.session.get(Product, registration["product"])
            gtin = None if product is None else product.gtin
            self.classes[batch_id] = batch_class_uri(
                self.domain, batch_id, gtin=gtin, lot=registration["lot"] if gtin else None
            )
        return self.classes[batch_id]

    def place(self, place_id: str | None) -> str | None:
        if place_id is None:
            return None
        row = self.session.get(Place, place_id)
        if row is not None and row.gln:
            return f"https://{self.domain}/414/{row.gln}"
        return f"https://{self.domain}/place/{quote(place_id, safe='')}"

    def org(self, org_id: str) -> str:
        return f"https://{self.domain}/org/{quote(org_id, safe='')}"

    def quantity(self, batch_id: str, amount: str | None = None, unit: str | None = None) -> QuantityElement:
        if amount is None or unit is None:
            return QuantityElement(self.batch_class(batch_id))
        value, uom = for_uom(Decimal(amount), unit)
        return QuantityElement(self.batch_class(batch_id), value, uom)


def export_batch(
    session: Session,
    batch_id: str,
    *,
    public_base_url: str,
    created_at: datetime,
    lineage: str = "both",
    sender: str | None = None,
) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document of `batch_id`'s events and, per `lineage`, of the batches
    upstream ("upstream") or upstream and downstream ("both") of it."""
    require_batch_id(batch_id)
    if lineage not in LINEAGE_SCOPES:
        raise InvalidInput(
            "lineage", f"lineage: expected one of {', '.join(LINEAGE_SCOPES)}, found {lineage!r}"
        )
    base = urlsplit(public_base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise InvalidInput(
            "public_base_url", f"public_base_url: expected http(s)://host, found {public_base_url!r}"
        )
    exporter = _Exporter(session, base.netloc)
    if not exporter.events_of(batch_id):
        require_batch_id("")
    batches = [batch_id]
    if lineage in ("upstream", "both"):
        batches += upstream_of(session, batch_id)
    if lineage == "both":
        batches += downstream_of(session, batch_id)
    planned: list[tuple[tuple[datetime, str, int, int], Event]] = []
    corrections: list[tuple[int, LedgerEvent]] = []  # (index of the corrective event, the correction)
    operations: set[str] = set()
    for batch in batches:
        events = exporter.events_of(batch)
        by_hash = {e.hash: e for e in events}
        for event in events:
            key = (event.event_time, batch, event.seq, 0)
            if event.type in t.LINEAGE_OUT or (event.seq == 0 and "lineage" in event.payload):
                operation = event.payload["operation"] if event.seq else event.payload["lineage"]["operation"]
                if operation not in operations:
                    operations.add(operation)
                    planned.append((key, _operation_event(exporter, operation, event)))
                continue
            if event.type == t.CORRECTED:
                original = by_hash.get(event.amends) if event.amends is not None else None
                if original is not None:
                    fixed = LedgerEvent(
                        original.batch,
                        original.seq,
                        original.type,
                        original.author,
                        original.event_time,
                        original.recorded_at,
                        event.payload["payload"],
                        original.hash,
                    )
                    planned.append(
                        ((event.event_time, batch, event.seq, 0), _entry_event(exporter, fixed, event))
                    )
                    corrections.append((len(planned) - 1, event))
                continue
            planned.append((key, _entry_event(exporter, event, None)))
    order = sorted(range(len(planned)), key=lambda i: (planned[i][0][0].timestamp(), *planned[i][0][1:]))
    position = {old: new for new, old in enumerate(order)}
    document = build_document(
        [planned[i][1] for i in order],
        sender or exporter.org("operator"),
        created_at,
        domain=exporter.domain,
    )
    event_list = document["epcisBody"]["eventList"]
    for corrective_index, correction in corrections:
        original_entry = b64encode(correction.amends or b"")
        corrective = event_list[position[corrective_index]]
        for item in event_list:
            if item.get("ft:entry") == original_entry:
                item["errorDeclaration"] = {
                    "declarationTime": corrective_time(correction),
                    "reason": "incorrect_data",
                    "correctiveEventIDs": [corrective["eventID"]],
                }
    return document


def corrective_time(correction: LedgerEvent) -> str:
    return correction.event_time.isoformat(timespec="milliseconds")


def _common(exporter: _Exporter, event: LedgerEvent, correction: LedgerEvent | None) -> dict[str, Any]:
    extensions: dict[str, Any] = {
        "batch": event.batch,
        "entry": b64encode(event.hash),
        "recordedBy": event.author,
    }
    if correction is not None:
        extensions["corrects"] = b64encode(event.hash)
        extensions["entry"] = b64encode(correction.hash)
        extensions["correctionReason"] = correction.payload["reason"]
    return extensions


def _entry_event(exporter: _Exporter, event: LedgerEvent, correction: LedgerEvent | None) -> Event:
    p = event.payload
    ext = _common(exporter, event, correction)
    details = {k: v for k, v in p.items() if not isinstance(v, list | dict)}
    batch_class = (exporter.quantity(event.batch),)
    when = event.event_time
    mapper: Callable[[], Event] | None = None
    if event.type == t.BATCH_REGISTERED:
        amount = p.get("quantity")
        ilmd: dict[str, Any] = {"lot": p["lot"], "product": p["product"]}
        if "production_date" in p:
            ilmd["productionDate"] = p["production_date"]
        if p.get("producers"):
            ilmd["producers"] = p["producers"]

        def mapper() -> Event:
            return ObjectEvent(
                event_time=when,
                action="ADD",
                biz_step="commissioning" if amount else "creating_class_instance",
                disposition="active",
                quantity_list=(exporter.quantity(event.batch, amount, p["unit"] if amount else None),),
                biz_location=exporter.place(p.get("origin_place")),
                ilmd=ilmd,
                extensions=ext,
            )

    elif event.type == t.LAB_TESTED:
        return ObjectEvent(
            event_time=when,
            action="OBSERVE",
            biz_step="inspecting",
            disposition="conformant" if p["verdict"] == "pass" else "non_conformant",
            quantity_list=batch_class,
            biz_transactions=(
                BizTransaction(f"https://{exporter.domain}/document/{p['report_sha256']}", "testres"),
            ),
            extensions={**ext, "labTest": {**details, "results": p["results"]}},
        )
    elif event.type == t.TEMPERATURE:
        low, high = Decimal(p["min_celsius"]), Decimal(p["max_celsius"])
        reports = tuple(
            SensorReport(
                type="Temperature",
                value=Decimal(r["celsius"]),
                uom="CEL",
                time=datetime.fromisoformat(r["time"]),
                exception=None if low <= Decimal(r["celsius"]) <= high else "ALARM_CONDITION",
            )
            for r in p["readings"]
        )
        return ObjectEvent(
            event_time=when,
            action="OBSERVE",
            biz_step="sensor_reporting",
            quantity_list=batch_class,
            read_point=exporter.place(p.get("place")),
            sensor_elements=(SensorElement(reports),),
            extensions={
                **ext,
                "allowedRange": {"min_celsius": p["min_celsius"], "max_celsius": p["max_celsius"]},
            },
        )
    elif event.type == t.SOLD:
        return ObjectEvent(
            event_time=when,
            action="OBSERVE",
            biz_step="retail_selling",
            disposition="retail_sold",
            quantity_list=(exporter.quantity(event.batch, p["quantity"], p["unit"]),),
            biz_location=exporter.place(p.get("place")),
            biz_transactions=(
                BizTransaction(
                    f"https://{exporter.domain}/order/{quote(p['order_reference'], safe='')}", "po"
                ),
            ),
            extensions={**ext, "sale": details},
        )
    else:
        mapper = _simple_mapper(exporter, event, ext, details, batch_class)
    assert mapper is not None
    return mapper()


# entry type -> (bizStep, disposition, extension name); a bizStep with "/" is ours.
_SIMPLE: dict[str, tuple[str, str | None, str]] = {
    t.FARMING_INPUT: ("ft/applying_input", None, "farmingInput"),
    t.HARVESTED: ("ft/harvesting", "active", "harvest"),
    t.PROCESSED: ("ft/processing", None, "processing"),
    t.CERTIFICATION_ATTACHED: ("ft/certifying", None, "certificate"),
    t.CONFORMITY_DECIDED: ("inspecting", "conformant", "conformityDecision"),
    t.PACKED: ("packing", "in_progress", "packing"),
    t.PICKED_UP: ("shipping", "in_transit", "pickup"),
    t.WAREHOUSE_IN: ("receiving", "in_progress", "warehouseIn"),
    t.WAREHOUSE_OUT: ("departing", "in_transit", "warehouseOut"),
    t.HANDED_OFF: ("accepting", "in_progress", "handoff"),
    t.DELIVERED: ("arriving", "in_progress", "delivery"),
    t.RECALL_ISSUED: ("holding", "recalled", "recall"),
    t.RECALL_LIFTED: ("ft/recall_lifting", "active", "recallLifted"),
}


def _simple_mapper(
    exporter: _Exporter,
    event: LedgerEvent,
    ext: dict[str, Any],
    details: dict[str, Any],
    batch_class: tuple[QuantityElement, ...],
) -> Callable[[], Event]:
    # Entry types this module does not know (codes.issued, ...) still appear, as observations.
    step, disposition, name = _SIMPLE.get(event.type, ("ft/" + event.type.replace(".", "_"), None, "record"))
    p = event.payload
    if step.startswith("ft/"):
        step = exporter.step(step[3:])
    if event.type == t.CONFORMITY_DECIDED:
        disposition = p["decision"]
    quantity_list = batch_class
    if event.type == t.HARVESTED:
        quantity_list = (exporter.quantity(event.batch, p["quantity"], p["unit"]),)
    sources: tuple[SourceDestination, ...] = ()
    destinations: tuple[SourceDestination, ...] = ()
    receiver = {t.PICKED_UP: "carrier", t.HANDED_OFF: "to", t.DELIVERED: "station"}.get(event.type)
    if receiver is not None:
        sources = (SourceDestination("possessing_party", exporter.org(event.author)),)
        destinations = (SourceDestination("possessing_party", exporter.org(p[receiver])),)
    destination = exporter.place(p.get("destination"))
    if destination is not None:
        destinations = (*destinations, SourceDestination("location", destination))
    certification = None
    if event.type == t.CERTIFICATION_ATTACHED:
        certification = (
            f"https://{exporter.domain}/certificate/{p['scheme']}/{quote(p['certificate_number'], safe='')}"
        )
    place = exporter.place(p.get("place"))

    def mapper() -> Event:
        return ObjectEvent(
            event_time=event.event_time,
            action="OBSERVE",
            biz_step=step,
            disposition=disposition,
            quantity_list=quantity_list,
            read_point=place,
            biz_location=place if event.type in (t.WAREHOUSE_IN, t.DELIVERED) else None,
            sources=sources,
            destinations=destinations,
            certification_info=certification,
            extensions={**ext, name: details},
        )

    return mapper


def _operation_event(exporter: _Exporter, operation: str, seen: LedgerEvent) -> Event:
    """One TransformationEvent for a split, merge or transform, complete from the ledger."""
    if seen.seq == 0:
        lineage = seen.payload["lineage"]
        inputs = [item["batch"] for item in lineage["inputs"]]
        kind = lineage["kind"]
        first_input = next(
            e for e in exporter.events_of(inputs[0]) if e.payload.get("operation") == operation
        )
        outputs = list(first_input.payload["outputs"])
    else:
        outputs = list(seen.payload["outputs"])
        registration = exporter.events_of(outputs[0])[0]
        lineage = registration.payload["lineage"]
        inputs = [item["batch"] for item in lineage["inputs"]]
        kind = lineage["kind"]
    taken = []
    for batch in inputs:
        out = next(e for e in exporter.events_of(batch) if e.seq and e.payload.get("operation") == operation)
        taken.append(exporter.quantity(batch, out.payload["quantity"], out.payload["unit"]))
    made = []
    for batch in outputs:
        registration = exporter.events_of(batch)[0]
        made.append(exporter.quantity(batch, registration.payload["quantity"], registration.payload["unit"]))
    return TransformationEvent(
        event_time=seen.event_time,
        transformation_id=f"https://{exporter.domain}/operation/{operation}",
        biz_step=exporter.step(kind),
        input_quantity_list=tuple(taken),
        output_quantity_list=tuple(made),
        extensions={"operation": operation, "lineageKind": kind, "recordedBy": seen.author},
    )
