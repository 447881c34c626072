"""The county operator's record pages: products and certificates, places, recalls (with a
preview of every downstream batch a recall will reach, before it is issued), the
complaints inbox (the only place a complainant's phone number is shown) and checkpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request, url_for
from sqlalchemy import select

from farmtrace.ledger.encoding import b64encode
from farmtrace.trace.complaints import PROBLEM_TYPES, STATUSES, ComplaintService
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.events.quality import CertificationSchema
from farmtrace.trace.models.registry import Place
from farmtrace.trace.places import PLACE_KINDS, PlaceSchema
from farmtrace.trace.products import CATEGORIES, OWNER_KINDS, SCHEME_NAMES, ProductSchema
from farmtrace.web.console import queries
from farmtrace.web.console.access import require, user
from farmtrace.web.console.forms import Field, bind, describe
from farmtrace.web.console.pages import (
    attempt,
    client_id,
    done,
    new_client_id,
    page,
    resolve_batch,
    svc,
)
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("records", __name__, url_prefix="/operator")
WRITE = {"write": True}


# -- products and certificates ---------------------------------------------------------------


def _product_fields() -> list[Field]:
    owners = [o for o in svc().orgs.list() if o.kind in OWNER_KINDS]
    return describe(
        ProductSchema(),
        ["id", "owner", "name_zh", "name_en", "category", "specification", "unit", "gtin"],
        overrides={
            "owner": {"widget": "select", "choices": tuple((o.id, o.name_zh) for o in owners)},
            "category": {"choices": tuple((c, translate(f"category.{c}")) for c in CATEGORIES)},
            "gtin": {"help": translate("records.gtin_help")},
        },
    )


def _certificate_fields() -> list[Field]:
    return describe(
        CertificationSchema(),
        ["scheme", "certificate_number", "issuer", "valid_from", "valid_until"],
        overrides={"scheme": {"choices": tuple((k, v[0]) for k, v in SCHEME_NAMES.items())}},
    )


def _products_page(status: int = 200, active: str | None = None, outcome: Any = None) -> tuple[str, int]:
    services = svc()
    products = services.products.list()
    certificates = {p.id: services.products.certificates(p.id) for p in products}
    forms = {"product": bind(_product_fields()), "certificate": bind(_certificate_fields())}
    if outcome is not None and active == "product":
        forms["product"] = outcome.fields
    elif outcome is not None and active is not None:
        forms["certificate_active"] = outcome.fields
    orgs, _places, _products = queries.names(get_session())
    return page(
        "operator/products.html",
        status,
        products=products,
        certificates=certificates,
        forms=forms,
        active=active,
        general=[] if outcome is None else outcome.general,
        orgs=orgs,
    )


@bp.get("/products")
@require("operator")
def products() -> tuple[str, int]:
    return _products_page()


@bp.post("/products")
@require("operator", **WRITE)
def register_product() -> Any:
    outcome = attempt(
        _product_fields(), lambda data: svc().products.register(user().org_id, data), prefix="product"
    )
    if not outcome.ok:
        return _products_page(422, "product", outcome)
    return done(
        translate("records.product_registered", product=outcome.value.id), url_for("console.records.products")
    )


@bp.post("/products/<product_id>/certificates")
@require("operator", **WRITE)
def add_certificate(product_id: str) -> Any:
    services = svc()
    outcome = attempt(
        _certificate_fields(),
        lambda data: services.products.add_certificate(user().org_id, product_id, data),
        prefix="certificate",
    )
    if not outcome.ok:
        return _products_page(422, f"certificate:{product_id}", outcome)
    return done(
        translate("records.certificate_added", product=product_id), url_for("console.records.products")
    )


# -- places -------------------------------------------------------------------------------------


def _place_fields() -> list[Field]:
    places = get_session().scalars(select(Place).order_by(Place.id))
    return describe(
        PlaceSchema(),
        ["id", "kind", "name_zh", "name_en", "parent", "gln", "latitude", "longitude"],
        overrides={
            "kind": {"choices": tuple((k, v[0]) for k, v in PLACE_KINDS.items())},
            "parent": {
                "widget": "select",
                "choices": tuple((p.id, f"{p.name_zh}（{p.id}）") for p in places),
            },
        },
    )


@bp.get("/places")
@require("operator")
def places() -> tuple[str, int]:
    return _places_page(bind(_place_fields()), [])


def _places_page(fields: list[Field], general: list[str], status: int = 200) -> tuple[str, int]:
    listed = list(get_session().scalars(select(Place).order_by(Place.id)))
    return page(
        "operator/places.html", status, places=listed, kinds=PLACE_KINDS, fields=fields, general=general
    )


@bp.post("/places")
@require("operator", **WRITE)
def register_place() -> Any:
    outcome = attempt(
        _place_fields(), lambda data: svc().places.register(user().org_id, data), prefix="place"
    )
    if not outcome.ok:
        return _places_page(outcome.fields, outcome.general, 422)
    return done(
        translate("records.place_registered", place=outcome.value.id), url_for("console.records.places")
    )


# -- recalls ------------------------------------------------------------------------------------


def _recall_fields() -> list[Field]:
    return [
        Field("batch", translate("field.batch_or_code"), "text", required=True, scan=True),
        Field(
            "level",
            translate("field.level"),
            "select",
            required=True,
            choices=tuple((str(n), translate(f"recall.level{n}")) for n in (1, 2, 3)),
        ),
        Field("reason", translate("field.reason"), "textarea", required=True, max_length=500),
        Field("client_id", "", "hidden"),
    ]


@bp.get("/recalls")
@require("operator")
def recalls() -> tuple[str, int]:
    orgs, _places, products = queries.names(get_session())
    listed = queries.recalls(get_session())
    origins = queries.batches(get_session(), [r.origin for r in listed])
    return page("operator/recalls.html", recalls=listed, origins=origins, orgs=orgs, products=products)


@bp.route("/recalls/new", methods=["GET", "POST"])
@require("operator", **WRITE)
def new_recall() -> Any:
    """Step 1 shows every batch the recall will reach; step 2 (confirm) issues it."""
    form_fields = _recall_fields()
    if request.method == "GET":
        return _recall_page(bind(form_fields, {"level": "2", "client_id": new_client_id()}), [], None)
    previewed = request.form.get("previewed", "")
    resolved: dict[str, str] = {}

    def check(data: dict[str, Any]) -> Any:
        batch_id = resolve_batch(data.get("batch", ""), field="batch")
        resolved["batch"] = batch_id
        level = int(data["level"]) if str(data.get("level", "")).isdigit() else data.get("level")
        validate_payload(
            t.RECALL_ISSUED,
            {
                "recall_id": "R" + "0" * 12,
                "origin": batch_id,
                "level": level,
                "reason": data.get("reason", ""),
            },
        )
        if request.form.get("confirm") == "1" and previewed == batch_id:
            return svc().recalls.issue(user().org_id, batch_id, data["reason"], level, client_id=client_id())
        return None

    outcome = attempt(form_fields, check, prefix="payload")
    if not outcome.ok:
        return _recall_page(outcome.fields, outcome.general, None, 422)
    if outcome.value is None:
        return _recall_page(outcome.fields, [], resolved["batch"])
    result = outcome.value
    return done(
        translate("records.recall_issued", recall=result.recall_id, n=len(result.batches)),
        url_for("console.records.recalls"),
    )


def _recall_page(
    fields: list[Field], general: list[str], preview: str | None, status: int = 200
) -> tuple[str, int]:
    db = get_session()
    reach: list[Any] = []
    if preview is not None:
        ids = [preview, *svc().lineage.downstream(preview)]
        rows = queries.batches(db, ids)
        reach = [rows[i] for i in ids if i in rows]
    orgs, _places, products = queries.names(db)
    return page(
        "operator/recall_new.html",
        status,
        fields=fields,
        general=general,
        preview=preview,
        reach=reach,
        orgs=orgs,
        products=products,
    )


@bp.post("/recalls/<recall_id>/lift")
@require("operator", **WRITE)
def lift_recall(recall_id: str) -> Any:
    try:
        svc().recalls.lift(user().org_id, recall_id, request.form.get("reason", ""))
    except InvalidInput as exc:
        orgs, _places, products = queries.names(get_session())
        listed = queries.recalls(get_session())
        origins = queries.batches(get_session(), [r.origin for r in listed])
        return page(
            "operator/recalls.html",
            422,
            recalls=listed,
            origins=origins,
            orgs=orgs,
            products=products,
            lift_error=(recall_id, exc.message),
        )
    return done(translate("records.recall_lifted", recall=recall_id), url_for("console.records.recalls"))


# -- complaints ---------------------------------------------------------------------------------


@bp.get("/complaints")
@require("operator")
def complaints() -> tuple[str, int]:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(404)
    listed = ComplaintService(svc().ctx).list(status=status, include_phone=True, limit=200)
    return page(
        "operator/complaints.html",
        complaints=listed,
        status=status,
        statuses=STATUSES,
        problem_types=PROBLEM_TYPES,
    )


def _handle_fields() -> list[Field]:
    return [
        Field(
            "status",
            translate("field.status"),
            "select",
            required=True,
            choices=tuple((k, v[0]) for k, v in STATUSES.items()),
        ),
        Field("notes", translate("field.notes"), "textarea", max_length=1000),
    ]


@bp.route("/complaints/<int:complaint_id>", methods=["GET", "POST"])
@require("operator")
def complaint(complaint_id: int) -> Any:
    service = ComplaintService(svc().ctx)
    found = service.get(complaint_id, include_phone=True)
    if request.method == "GET":
        fields = bind(_handle_fields(), {"status": found.status, "notes": found.notes or ""})
        return _complaint_page(found, fields, [])
    if not user().may_record:
        abort(403)

    def action(data: dict[str, Any]) -> Any:
        return service.handle(
            user().org_id,
            complaint_id,
            status=data.get("status", ""),
            handled_by=user().username,
            notes=data.get("notes"),
        )

    outcome = attempt(_handle_fields(), action, prefix="")
    if not outcome.ok:
        return _complaint_page(found, outcome.fields, outcome.general, 422)
    return done(
        translate("records.complaint_handled", id=complaint_id), url_for("console.records.complaints")
    )


def _complaint_page(
    found: Any, fields: list[Field], general: list[str], status: int = 200
) -> tuple[str, int]:
    batch = queries.batches(get_session(), [found.batch_id]).get(found.batch_id)
    orgs, _places, products = queries.names(get_session())
    return page(
        "operator/complaint.html",
        status,
        complaint=found,
        batch=batch,
        fields=fields,
        general=general,
        problem_types=PROBLEM_TYPES,
        statuses=STATUSES,
        orgs=orgs,
        products=products,
    )


# -- checkpoints --------------------------------------------------------------------------------


@bp.get("/checkpoints")
@require("operator")
def checkpoints() -> tuple[str, int]:
    rows = queries.checkpoints(get_session())
    listed = [
        {"tree_size": r.tree_size, "root": b64encode(r.root_hash), "note": r.note, "at": r.created_at}
        for r in rows
    ]
    return page("operator/checkpoints.html", checkpoints=listed)
