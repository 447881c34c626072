"""Cooperatives, farm bases and households: register batches, record farming inputs and the
harvest (with the pre-harvest-interval warning before it is recorded), and see their own
batches with scan statistics and consumers' complaints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, jsonify, request, url_for
from sqlalchemy import select

from farmtrace.trace.batches import BatchView
from farmtrace.trace.complaints import PROBLEM_TYPES, STATUSES, ComplaintService
from farmtrace.trace.events import SCHEMAS, validate_payload
from farmtrace.trace.events import types as t
from farmtrace.trace.events.lifecycle import BatchRegisteredSchema
from farmtrace.trace.models.registry import Org, Place, Product
from farmtrace.trace.orgs import PRODUCER_KINDS
from farmtrace.trace.projections import load_state
from farmtrace.trace.state import BatchState
from farmtrace.web.console import queries
from farmtrace.web.console.access import require, user
from farmtrace.web.console.forms import Field, bind, describe, local_moment
from farmtrace.web.console.pages import (
    attempt,
    batch_or_404,
    client_id,
    done,
    moment_text,
    new_client_id,
    now_input,
    options,
    page,
    split_event,
    svc,
)
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("coop", __name__, url_prefix="/coop")

# Places a crop is grown or a batch starts from.
ORIGIN_PLACE_KINDS = ("field", "base", "village", "town", "county", "facility")


@bp.get("/")
@require("coop")
def index() -> tuple[str, int]:
    me = user()
    batches = svc().batches.list(owner=me.org_id, limit=200)
    ids = [b.id for b in batches]
    stats = queries.scan_stats(get_session(), ids)
    complaints = ComplaintService(svc().ctx).count_by_batch(ids)
    _orgs, _places, products = queries.names(get_session())
    return page("coop/index.html", batches=batches, stats=stats, complaints=complaints, products=products)


# -- registering a batch ----------------------------------------------------------------------


def _register_fields() -> list[Field]:
    me = user()
    db = get_session()
    org = db.get(Org, me.org_id)
    owners = [me.org_id] + ([org.parent_org_id] if org is not None and org.parent_org_id else [])
    products = db.scalars(select(Product).where(Product.owner_org_id.in_(owners)).order_by(Product.id))
    producers = db.scalars(
        select(Org)
        .where((Org.id == me.org_id) | (Org.parent_org_id == me.org_id), Org.kind.in_(PRODUCER_KINDS))
        .order_by(Org.id)
    )
    return [
        *describe(
            BatchRegisteredSchema(),
            ["product", "lot", "producers", "origin_place", "unit", "quantity", "expected_quantity"],
            overrides={
                "product": {"choices": options(((p.id, f"{p.name_zh}（{p.id}）") for p in products), False)},
                "producers": {"choices": tuple((o.id, o.name_zh) for o in producers)},
                "origin_place": {"choices": _places(ORIGIN_PLACE_KINDS)},
                "lot": {"help": translate("coop.lot_help"), "required": False},
                "expected_quantity": {"help": translate("coop.expected_help")},
            },
        ),
        *describe(BatchRegisteredSchema(), ["production_date", "notes"]),
        Field("event_time", translate("field.event_time"), "datetime"),
        Field("client_id", "", "hidden"),
    ]


@bp.route("/batches/new", methods=["GET", "POST"])
@require("coop", write=True)
def register() -> Any:
    me = user()
    form_fields = _register_fields()
    if request.method == "GET":
        defaults = {
            "producers": [me.org_id] if me.org_kind in PRODUCER_KINDS else [],
            "unit": "kg",
            "event_time": now_input(),
            "client_id": new_client_id(),
        }
        return page("coop/register.html", fields=bind(form_fields, defaults), general=[])

    def action(data: dict[str, Any]) -> Any:
        data, moment = split_event(data)
        return svc().batches.register(me.org_id, data, event_time=moment, client_id=client_id())

    outcome = attempt(form_fields, action)
    if not outcome.ok:
        return page("coop/register.html", 422, fields=outcome.fields, general=outcome.general)
    batch = outcome.value.batch
    return done(translate("coop.registered", batch=batch), url_for("console.coop.batch", batch_id=batch))


# -- one batch ----------------------------------------------------------------------------------


def _own_batch(batch_id: str) -> BatchView:
    view = batch_or_404(batch_id)
    if view.summary.owner != user().org_id:
        abort(403)
    return view


@bp.get("/batches/<batch_id>")
@require("coop")
def batch(batch_id: str) -> tuple[str, int]:
    view = _own_batch(batch_id)
    db = get_session()
    stats = queries.scan_stats(db, [batch_id])[batch_id]
    complaints = ComplaintService(svc().ctx).list(batch_id=batch_id, limit=50)  # never the phone
    history = svc().batches.history(batch_id)
    orgs, places, products = queries.names(db)
    return page(
        "coop/batch.html",
        batch=view,
        stats=stats,
        complaints=complaints,
        problem_types=PROBLEM_TYPES,
        statuses=STATUSES,
        history=history,
        orgs=orgs,
        places=places,
        products=products,
    )


def _event_fields(event_type: str, names: list[str], **overrides: dict[str, Any]) -> list[Field]:
    return [
        *describe(SCHEMAS[event_type](), names, overrides=overrides),
        Field("event_time", translate("field.event_time"), "datetime", help=translate("form.time_help")),
        Field("client_id", "", "hidden"),
    ]


def _input_fields() -> list[Field]:
    return _event_fields(
        t.FARMING_INPUT,
        [
            "kind",
            "product_name",
            "registration_number",
            "active_ingredient",
            "dose",
            "dose_unit",
            "pre_harvest_interval_days",
            "place",
            "area_mu",
            "notes",
        ],
        place={"choices": _places(("field", "base"))},
        registration_number={"help": translate("coop.registration_help")},
        pre_harvest_interval_days={"help": translate("coop.phi_help")},
    )


@bp.route("/batches/<batch_id>/input", methods=["GET", "POST"])
@require("coop", write=True)
def farming_input(batch_id: str) -> Any:
    view = _own_batch(batch_id)
    form_fields = _input_fields()
    if request.method == "GET":
        defaults = {"event_time": now_input(), "client_id": new_client_id(), "dose_unit": "g/mu"}
        return page(
            "coop/event.html", batch=view, kind="input", fields=bind(form_fields, defaults), general=[]
        )
    outcome = attempt(form_fields, _recorder(batch_id, t.FARMING_INPUT))
    if not outcome.ok:
        return page(
            "coop/event.html", 422, batch=view, kind="input", fields=outcome.fields, general=outcome.general
        )
    return done(translate("coop.input_recorded"), url_for("console.coop.batch", batch_id=batch_id))


def _harvest_fields(view: BatchView) -> list[Field]:
    return _event_fields(
        t.HARVESTED,
        ["quantity", "unit", "place", "notes"],
        place={"choices": _places(("field", "base"))},
    )


@bp.route("/batches/<batch_id>/harvest", methods=["GET", "POST"])
@require("coop", write=True)
def harvest(batch_id: str) -> Any:
    """Two steps when needed: a harvest inside a pesticide's pre-harvest interval is shown
    with the warning first and recorded only when the person confirms it."""
    view = _own_batch(batch_id)
    state = load_state(get_session(), batch_id)
    applications = _applications(state)
    form_fields = _harvest_fields(view)
    context = {"batch": view, "kind": "harvest", "applications": applications}
    if request.method == "GET":
        defaults = {"event_time": now_input(), "client_id": new_client_id(), "unit": view.summary.unit}
        return page("coop/event.html", fields=bind(form_fields, defaults), general=[], warnings=[], **context)
    warnings = _phi_warnings(state, request.form.get("event_time", ""))
    if warnings and request.form.get("confirm") != "1":
        # Check the rest of the form now too, so the confirmation does not end in an error.
        outcome = attempt(form_fields, _validator(t.HARVESTED))
        status = 200 if outcome.ok else 422
        return page(
            "coop/event.html",
            status,
            fields=outcome.fields,
            general=outcome.general,
            warnings=warnings,
            **context,
        )
    outcome = attempt(form_fields, _recorder(batch_id, t.HARVESTED))
    if not outcome.ok:
        return page(
            "coop/event.html",
            422,
            fields=outcome.fields,
            general=outcome.general,
            warnings=warnings,
            **context,
        )
    message = translate("coop.harvest_flagged") if warnings else translate("coop.harvest_recorded")
    return done(message, url_for("console.coop.batch", batch_id=batch_id))


@bp.get("/batches/<batch_id>/phi.json")
@require("coop")
def phi(batch_id: str) -> Any:
    """The pre-harvest warnings for a harvest at ?at= (static/console-phi.js asks as the time is typed)."""
    _own_batch(batch_id)
    state = load_state(get_session(), batch_id)
    return jsonify({"warnings": _phi_warnings(state, request.args.get("at", ""))})


def _applications(state: BatchState) -> list[dict[str, str]]:
    """Each pesticide application with the first day a harvest is outside its interval."""
    return [
        {
            "name": name,
            "applied": moment_text(when),
            "days": str(days),
            "safe_from": moment_text(when + timedelta(days=days)),
        }
        for _seq, when, days, name in state.pesticides
    ]


def _phi_warnings(state: BatchState, raw_time: str) -> list[str]:
    """Warnings for a harvest at `raw_time`, by the rule trace.state flags with
    (applied <= harvest < applied + interval); an unreadable time gives none (the form says why)."""
    try:
        harvested = datetime.fromisoformat(local_moment(raw_time.strip() or now_input()))
    except ValueError:
        return []
    warnings = []
    for _seq, when, days, name in state.pesticides:
        if when <= harvested < when + timedelta(days=days):
            warnings.append(
                translate(
                    "coop.phi_warning",
                    name=name,
                    applied=moment_text(when),
                    elapsed=(harvested - when).days,
                    days=days,
                    safe_from=moment_text(when + timedelta(days=days)),
                )
            )
    return warnings


def _recorder(batch_id: str, event_type: str) -> Any:
    def action(data: dict[str, Any]) -> Any:
        data, moment = split_event(data)
        return svc().events.record(
            batch_id, event_type, data, actor=user().org_id, event_time=moment, client_id=client_id()
        )

    return action


def _validator(event_type: str) -> Any:
    def action(data: dict[str, Any]) -> Any:
        data, _moment = split_event(data)
        return validate_payload(event_type, data)

    return action


def _places(kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    rows = get_session().scalars(select(Place).where(Place.kind.in_(kinds)).order_by(Place.id))
    return tuple((p.id, f"{p.name_zh}（{p.id}）") for p in rows)
