"""Logistics and stations (and every custodian): find a batch by typing or scanning a code,
hand it off (to anyone, to a carrier at pickup, to a station at delivery), take it into a
warehouse or out of one, and record cold-chain temperatures.

In the record, custody moves when the current custodian says so; the receiver then holds
the batch and records its own steps ("receiving" into a warehouse is warehouse-in).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, redirect, request, url_for
from sqlalchemy import select

from farmtrace.trace.batches import BatchView
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import SCHEMAS
from farmtrace.trace.events import types as t
from farmtrace.trace.models.registry import Org, Place
from farmtrace.trace.orgs import ORG_KINDS
from farmtrace.trace.places import STORAGE_KINDS
from farmtrace.web.console import queries
from farmtrace.web.console.access import now, require, user
from farmtrace.web.console.forms import CST, Field, bind, describe, local_moment
from farmtrace.web.console.pages import (
    Outcome,
    attempt,
    batch_or_404,
    client_id,
    done,
    new_client_id,
    now_input,
    page,
    resolve_batch,
    split_event,
    svc,
)
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("logistics", __name__, url_prefix="/logistics")

MOVEMENTS = {
    "handed_off": (t.HANDED_OFF, "to"),
    "picked_up": (t.PICKED_UP, "carrier"),
    "delivered": (t.DELIVERED, "station"),
}
FORMS = ("handoff", "warehouse_in", "warehouse_out", "temperature")
_CLOCK = re.compile(r"\d{1,2}:\d{2}(:\d{2})?\Z")


@bp.get("/")
@require("logistics")
def index() -> tuple[str, int]:
    return _index(_find_field(""))


def _find_field(value: str, error: str | None = None) -> Field:
    return Field("code", translate("field.batch_or_code"), "text", value=value, error=error, scan=True)


def _index(find: Field, status: int = 200) -> tuple[str, int]:
    held = svc().batches.list(custodian=user().org_id, limit=200)
    orgs, _places, products = queries.names(get_session())
    return page("logistics/index.html", status, held=held, orgs=orgs, products=products, find=find)


@bp.get("/find")
@require("logistics")
def find() -> Any:
    code = request.args.get("code", "")
    try:
        batch_id = resolve_batch(code)
    except InvalidInput as exc:
        return _index(_find_field(code, exc.message), 422)
    return redirect(url_for("console.logistics.batch", batch_id=batch_id))


# -- the batch page and its four forms ---------------------------------------------------------


def _org_choices() -> tuple[tuple[str, str], ...]:
    me = user().org_id
    rows = get_session().scalars(
        select(Org).where(Org.active.is_(True), Org.id != me).order_by(Org.kind, Org.id)
    )
    return tuple((o.id, f"{o.name_zh}（{ORG_KINDS[o.kind][0]}）") for o in rows)


def _place_choices(kinds: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    query = select(Place).order_by(Place.id)
    if kinds is not None:
        query = query.where(Place.kind.in_(kinds))
    return tuple((p.id, f"{p.name_zh}（{p.id}）") for p in get_session().scalars(query))


def _time_fields() -> list[Field]:
    return [
        Field("event_time", translate("field.event_time"), "datetime", help=translate("form.time_help")),
        Field("client_id", "", "hidden"),
    ]


def _fields(name: str) -> list[Field]:
    places = _place_choices()
    if name == "handoff":
        return [
            Field(
                "movement",
                translate("field.movement"),
                "select",
                required=True,
                choices=tuple((m, translate(f"logistics.{m}")) for m in MOVEMENTS),
            ),
            Field("to", translate("field.to"), "select", required=True, choices=_org_choices()),
            Field("place", translate("field.place"), "select", required=True, choices=places),
            Field(
                "destination",
                translate("field.destination"),
                "select",
                choices=places,
                help=translate("logistics.pickup_only"),
            ),
            Field(
                "vehicle",
                translate("field.vehicle"),
                "text",
                max_length=32,
                help=translate("logistics.pickup_only"),
            ),
            *describe(SCHEMAS[t.HANDED_OFF](), ["notes"]),
            *_time_fields(),
        ]
    if name in ("warehouse_in", "warehouse_out"):
        event = t.WAREHOUSE_IN if name == "warehouse_in" else t.WAREHOUSE_OUT
        names = ["place", "notes"] if name == "warehouse_in" else ["place", "destination", "notes"]
        return [
            *describe(
                SCHEMAS[event](),
                names,
                overrides={
                    "place": {"choices": _place_choices(STORAGE_KINDS)},
                    "destination": {"choices": places},
                },
            ),
            *_time_fields(),
        ]
    return [
        *describe(SCHEMAS[t.TEMPERATURE](), ["min_celsius", "max_celsius"]),
        Field(
            "readings",
            translate("field.readings"),
            "textarea",
            required=True,
            help=translate("logistics.readings_help"),
        ),
        *describe(SCHEMAS[t.TEMPERATURE](), ["device", "place"], overrides={"place": {"choices": places}}),
        *_time_fields(),
    ]


def _page(
    view: BatchView, status: int = 200, active: str | None = None, outcome: Outcome | None = None
) -> tuple[str, int]:
    forms = {}
    for name in FORMS:
        if outcome is not None and name == active:
            forms[name] = outcome.fields
        else:
            forms[name] = bind(
                _fields(name),
                {"event_time": now_input(), "client_id": new_client_id(), "movement": "handed_off"},
            )
    orgs, places, products = queries.names(get_session())
    return page(
        "logistics/batch.html",
        status,
        batch=view,
        forms=forms,
        active=active,
        general=outcome.general if outcome is not None else [],
        custodian=view.summary.custodian == user().org_id,
        orgs=orgs,
        places=places,
        products=products,
        history=svc().batches.history(view.id),
    )


@bp.get("/batches/<batch_id>")
@require("logistics")
def batch(batch_id: str) -> tuple[str, int]:
    return _page(batch_or_404(batch_id))


@bp.post("/batches/<batch_id>/<form_name>")
@require("logistics", write=True)
def record(batch_id: str, form_name: str) -> Any:
    if form_name not in FORMS:
        abort(404)
    view = batch_or_404(batch_id)
    form_fields = _fields(form_name)
    outcome = attempt(form_fields, _action(batch_id, form_name))
    if not outcome.ok:
        return _page(view, 422, form_name, outcome)
    return done(
        translate(f"logistics.{form_name}_recorded"), url_for("console.logistics.batch", batch_id=batch_id)
    )


def _action(batch_id: str, form_name: str) -> Any:
    def action(data: dict[str, Any]) -> Any:
        data, moment = split_event(data)
        if form_name == "handoff":
            event_type, data = _movement(data)
        elif form_name == "temperature":
            event_type = t.TEMPERATURE
            data["readings"] = parse_readings(data.get("readings", ""), moment)
        else:
            event_type = t.WAREHOUSE_IN if form_name == "warehouse_in" else t.WAREHOUSE_OUT
        try:
            return svc().events.record(
                batch_id, event_type, data, actor=user().org_id, event_time=moment, client_id=client_id()
            )
        except InvalidInput as exc:
            # The schema names carrier/station where the form has one "to" field.
            if exc.field in ("payload.carrier", "payload.station"):
                raise InvalidInput("payload.to", exc.message) from None
            raise

    return action


def _movement(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    movement = data.pop("movement", None)
    if movement not in MOVEMENTS:
        raise InvalidInput("payload.movement", "payload.movement: is required")
    event_type, party = MOVEMENTS[movement]
    if movement != "picked_up":
        data.pop("destination", None)
        data.pop("vehicle", None)
    if "to" in data:
        data[party] = data.pop("to")
    return event_type, data


def parse_readings(text: str, moment: str | None) -> list[dict[str, str]] | str:
    """Lines like "2026-10-16 10:00 4.5" or "10:00 4.5" (the day of the event time) as readings.

    A line that cannot be split into a time and a temperature is refused by its line number;
    what each part holds is left to the schema, which names the line's field.
    """
    if not isinstance(text, str):
        return text
    day = (moment or local_moment(now().astimezone(CST).strftime("%Y-%m-%dT%H:%M")))[:10]
    readings = []
    for number, line in enumerate((ln for ln in text.splitlines() if ln.strip()), start=1):
        parts = line.replace(",", " ").replace("，", " ").split()
        if len(parts) < 2:
            raise InvalidInput(
                "payload.readings",
                f"payload.readings: {translate('form.line', n=number)}{translate('logistics.reading_expected', line=line.strip()[:40])}",
            )
        when, celsius = " ".join(parts[:-1]), parts[-1].removesuffix("℃").removesuffix("°C")
        if _CLOCK.match(when):
            when = f"{day}T{when}"
        readings.append({"time": local_moment(when), "celsius": celsius})
    return readings
