"""Places, products and product certificates, and the public keys that verify the record."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from farmtrace.ledger.keyhistory import KeyRecord
from farmtrace.trace.errors import InvalidInput, NotFound
from farmtrace.trace.events.quality import CertificationSchema
from farmtrace.trace.models.registry import Place, Product
from farmtrace.trace.places import PLACE_KINDS, PlaceSchema
from farmtrace.trace.products import CATEGORIES, ProductSchema
from farmtrace.web.api.auth import requires
from farmtrace.web.api.common import actor, body_is, json_object, request_body
from farmtrace.web.api.context import services
from farmtrace.web.api.pagination import keyset_page, page, time_filters
from farmtrace.web.api.schemas.common import TimeRangeQuerySchema, page_schema
from farmtrace.web.api.schemas.registry import CertificateOut, KeyOut, PlaceOut, ProductOut
from farmtrace.web.db import get_session

bp = Blueprint(
    "registry",
    __name__,
    url_prefix="/api/v1",
    description="Places, products and the public keys of the record.",
)


class PlaceQuery(TimeRangeQuerySchema):
    kind = fields.String(validate=validate.OneOf(tuple(PLACE_KINDS)))
    parent = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Only places inside this one"}
    )


class ProductQuery(TimeRangeQuerySchema):
    category = fields.String(validate=validate.OneOf(tuple(CATEGORIES)))
    owner = fields.String(validate=validate.Length(max=48))


class KeyQuery(Schema):
    org = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Only this organisation's keys"}
    )


class KeyIn(Schema):
    public_key = fields.String(
        required=True,
        validate=validate.Length(min=43, max=44),
        metadata={"description": "The organisation's own Ed25519 public key, base64 (32 bytes)"},
    )


class RevokeIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


PlacePage = page_schema(PlaceOut, "PlacePage")
ProductPage = page_schema(ProductOut, "ProductPage")
KeyList = Schema.from_dict({"items": fields.List(fields.Nested(KeyOut), required=True)}, name="KeyList")
CertificateList = Schema.from_dict(
    {"items": fields.List(fields.Nested(CertificateOut), required=True)}, name="CertificateList"
)


@bp.route("/places", methods=["GET"])
@requires("batches:read")
@bp.arguments(PlaceQuery, location="query")
@bp.response(200, PlacePage)
def list_places(args: dict[str, Any]) -> Any:
    """Places (county, towns, villages, warehouses, fields...), newest first."""
    session = get_session()
    query = time_filters(session, select(Place), Place.created_at, args)
    if "kind" in args:
        query = query.where(Place.kind == args["kind"])
    if "parent" in args:
        query = query.where(Place.parent_id == args["parent"])
    rows, cursor = keyset_page(
        session,
        query,
        (Place.created_at, Place.id),
        (datetime, str),
        args["limit"],
        args.get("cursor"),
    )
    return page(rows, cursor)


@bp.route("/places", methods=["POST"])
@requires("batches:write")
@request_body(PlaceSchema)
@bp.response(201, PlaceOut)
def register_place() -> Any:
    """Register a place (administrative places: the operator; storage, fields, shops: anyone)."""
    body_is("place")
    place = services().places.register(actor(), json_object())
    return place, 201, {"Location": f"/api/v1/places/{place.id}"}


@bp.route("/places/<place>", methods=["GET"])
@requires("batches:read")
@bp.response(200, PlaceOut)
def get_place(place: str) -> Any:
    """One place."""
    return services().places.get(place)


@bp.route("/products", methods=["GET"])
@requires("batches:read")
@bp.arguments(ProductQuery, location="query")
@bp.response(200, ProductPage)
def list_products(args: dict[str, Any]) -> Any:
    """Products, newest first; filter by category, owner and registration time."""
    session = get_session()
    query = time_filters(session, select(Product), Product.created_at, args)
    if "category" in args:
        query = query.where(Product.category == args["category"])
    if "owner" in args:
        query = query.where(Product.owner_org_id == args["owner"])
    rows, cursor = keyset_page(
        session,
        query,
        (Product.created_at, Product.id),
        (datetime, str),
        args["limit"],
        args.get("cursor"),
    )
    return page(rows, cursor)


@bp.route("/products", methods=["POST"])
@requires("batches:write")
@request_body(ProductSchema)
@bp.response(201, ProductOut)
def register_product() -> Any:
    """Register a product of the acting organisation (the operator: of any owner)."""
    body_is("product")
    product = services().products.register(actor(), json_object())
    return product, 201, {"Location": f"/api/v1/products/{product.id}"}


@bp.route("/products/<product>", methods=["GET"])
@requires("batches:read")
@bp.response(200, ProductOut)
def get_product(product: str) -> Any:
    """One product."""
    return services().products.get(product)


@bp.route("/products/<product>/certificates", methods=["GET"])
@requires("batches:read")
@bp.response(200, CertificateList)
def list_certificates(product: str) -> Any:
    """The product's 三品一标 certificates, with whether each is valid today."""
    # The views themselves: CertificateOut formats their dates (to_json() has them as text already).
    return {"items": services().products.certificates(product)}


@bp.route("/products/<product>/certificates", methods=["POST"])
@requires("batches:write")
@request_body(CertificationSchema)
@bp.response(201, CertificateOut)
def add_certificate(product: str) -> Any:
    """Record a certificate of the product (its owner, or the operator)."""
    body_is("certificate")
    svc = services()
    row = svc.products.add_certificate(actor(), product, json_object())
    views = svc.products.certificates(product)
    view = next(v for v in views if v.scheme == row.scheme and v.number == row.number)
    return view, 201, {"Location": f"/api/v1/products/{product}/certificates"}


@bp.route("/keys", methods=["GET"])
@bp.arguments(KeyQuery, location="query")
@bp.response(200, KeyList)
def list_keys(args: dict[str, Any]) -> Any:
    """Every public key of the record (root, log and organisation keys) with its validity.
    Public: a verifier needs them, and no token."""
    return {"items": [_key_json(k) for k in services().ctx.keystore.public_keys(args.get("org"))]}


@bp.route("/orgs/<org>/keys", methods=["POST"])
@requires("admin")
@bp.arguments(KeyIn)
@bp.response(201, KeyOut)
def register_key(args: dict[str, Any], org: str) -> Any:
    """Register a self-custody public key for the organisation (it keeps the private key and
    posts entries it signed itself to /api/v1/entries)."""
    svc = services()
    svc.orgs.get(org)
    if org != actor():
        svc.orgs.require_operator(actor())
    try:
        public_key = base64.b64decode(args["public_key"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("public_key", "public_key: expected 32 bytes in base64") from None
    if len(public_key) != 32:
        raise InvalidInput(
            "public_key", f"public_key: expected 32 bytes in base64, found {len(public_key)} bytes"
        )
    record = svc.ctx.keystore.register_public_key(org, public_key)
    return _key_json(record), 201, {"Location": f"/api/v1/keys?org={org}"}


@bp.route("/orgs/<org>/keys/rotate", methods=["POST"])
@requires("admin")
@bp.response(201, KeyOut)
def rotate_key(org: str) -> Any:
    """Give the organisation a new custodial key and revoke its previous ones (the operator)."""
    svc = services()
    svc.orgs.get(org)
    svc.orgs.require_operator(actor())
    key = svc.ctx.keystore.rotate(org)
    record = svc.ctx.ledger.key(key.key_id)
    assert record is not None
    return _key_json(record), 201, {"Location": f"/api/v1/keys?org={org}"}


@bp.route("/keys/<key_id>/revoke", methods=["POST"])
@requires("admin")
@bp.arguments(RevokeIn)
@bp.response(200, KeyOut)
def revoke_key(args: dict[str, Any], key_id: str) -> Any:
    """Revoke a key (the operator, or the organisation the key belongs to)."""
    svc = services()
    record = svc.ctx.ledger.key(key_id)
    if record is None:
        raise NotFound("key_id", f"key_id: no key {key_id!r}")
    if record.org != actor() or record.role != "org":
        svc.orgs.require_operator(actor())
    svc.ctx.keystore.revoke(key_id, args["reason"])
    revoked = svc.ctx.ledger.key(key_id)
    assert revoked is not None
    return _key_json(revoked)


def _key_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "org": record.org,
        "role": record.role,
        "public_key": base64.b64encode(record.public_key).decode("ascii"),
        "valid_from": record.valid_from,
        "revoked_at": record.revoked_at,
    }
