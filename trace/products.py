"""Products: names (zh, en), category, specification and unit, an optional GTIN (length and
GS1 mod-10 check digit), and 三品一标 certificates with number, issuer and validity period.

A certificate outside its validity period is kept (it is history) but never shown as valid.
Registrations and certificates are recorded on the reserved ledger chain `products`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import NotPermitted, RuleViolation
from farmtrace.trace.events.fields import Choice, Gtin, Slug, Text
from farmtrace.trace.events.quality import CERT_SCHEMES, CertificationSchema
from farmtrace.trace.events.schema import PayloadSchema, load_payload
from farmtrace.trace.events.types import PRODUCT_CERTIFIED, PRODUCT_REGISTERED, PRODUCTS_CHAIN
from farmtrace.trace.models.registry import Product, ProductCertificate
from farmtrace.trace.orgs import ORG_KINDS
from farmtrace.trace.units import QUANTITY_UNITS

CATEGORIES = ("grain", "vegetable", "fruit", "tea", "spirit", "preserved", "livestock", "aquatic", "other")
# 三品一标: 无公害农产品, 绿色食品, 有机产品, 农产品地理标志.
SCHEME_NAMES = {
    "pollution_free": ("无公害农产品", "pollution-free agricultural product"),
    "green_food": ("绿色食品", "green food"),
    "organic": ("有机产品", "organic product"),
    "geographical_indication": ("农产品地理标志", "geographical indication"),
}
assert tuple(SCHEME_NAMES) == CERT_SCHEMES
OWNER_KINDS = ("operator", "cooperative", "farm_base", "household", "packing_station", "seller")


class ProductSchema(PayloadSchema):
    id = Slug(required=True)
    owner = Slug()
    name_zh = Text(100, required=True)
    name_en = Text(100)
    category = Choice(CATEGORIES, required=True)
    specification = Text(100)
    unit = Choice(tuple(QUANTITY_UNITS), required=True)
    gtin = Gtin()


@dataclass(frozen=True)
class CertificateView:
    scheme: str
    scheme_name_zh: str
    number: str
    issuer: str
    valid_from: date
    valid_until: date
    valid: bool  # on the day asked about

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "scheme_name_zh": self.scheme_name_zh,
            "number": self.number,
            "issuer": self.issuer,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "valid": self.valid,
        }


def certificate_view(
    scheme: str, number: str, issuer: str, start: date, end: date, on: date
) -> CertificateView:
    return CertificateView(scheme, SCHEME_NAMES[scheme][0], number, issuer, start, end, start <= on <= end)


class ProductService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def register(self, actor: str, data: dict[str, Any]) -> Product:
        """Register a product owned by `actor` (or, when the operator registers, by `owner`)."""
        org = self.ctx.active_org(actor)
        values = load_payload(ProductSchema(), data, prefix="product")
        owner_id = values.setdefault("owner", actor)
        if owner_id != actor and org.kind != "operator":
            raise NotPermitted(
                "product.owner", f"product.owner: {actor} may register products only for itself", "owner_only"
            )
        owner = self.ctx.active_org(owner_id, "product.owner")
        if owner.kind not in OWNER_KINDS:
            raise RuleViolation(
                "product.owner",
                f"product.owner: a {ORG_KINDS[owner.kind][1]} does not own products",
                "wrong_kind",
            )
        if self.session.get(Product, values["id"]) is not None:
            raise RuleViolation("product.id", f"product.id: product {values['id']} already exists", "exists")
        gtin = values.get("gtin")
        if gtin is not None:
            other = self.session.scalars(select(Product).where(Product.gtin == gtin)).first()
            if other is not None:
                raise RuleViolation(
                    "product.gtin",
                    f"product.gtin: GTIN {gtin} is already used by product {other.id}",
                    "exists",
                )
        now = self.ctx.now()
        product = Product(
            id=values["id"],
            owner_org_id=owner_id,
            name_zh=values["name_zh"],
            name_en=values.get("name_en"),
            category=values["category"],
            specification=values.get("specification"),
            unit=values["unit"],
            gtin=gtin,
            created_at=now,
        )
        self.session.add(product)
        self.session.flush()
        self.ctx.open_or_append(
            PRODUCTS_CHAIN, PRODUCT_REGISTERED, actor, values, f"product.register.{values['id']}", now
        )
        return product

    def add_certificate(self, actor: str, product_id: str, data: dict[str, Any]) -> ProductCertificate:
        product = self.ctx.product(product_id, "product")
        org = self.ctx.active_org(actor)
        if actor != product.owner_org_id and org.kind != "operator":
            raise NotPermitted(
                "actor",
                f"actor: only {product.owner_org_id}, the owner of {product_id}, or the operator may add its certificates",
                "owner_only",
            )
        values = load_payload(CertificationSchema(), data, prefix="certificate")
        duplicate = self.session.scalars(
            select(ProductCertificate).where(
                ProductCertificate.product_id == product_id,
                ProductCertificate.scheme == values["scheme"],
                ProductCertificate.number == values["certificate_number"],
            )
        ).first()
        if duplicate is not None:
            raise RuleViolation(
                "certificate.certificate_number",
                f"certificate.certificate_number: {values['certificate_number']} is already recorded for {product_id}",
                "exists",
            )
        now = self.ctx.now()
        row = ProductCertificate(
            product_id=product_id,
            scheme=values["scheme"],
            number=values["certificate_number"],
            issuer=values["issuer"],
            valid_from=date.fromisoformat(values["valid_from"]),
            valid_until=date.fromisoformat(values["valid_until"]),
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        payload = {"product": product_id, **values}
        client_id = f"product.certify.{product_id}.{values['scheme']}.{row.id}"
        self.ctx.open_or_append(PRODUCTS_CHAIN, PRODUCT_CERTIFIED, actor, payload, client_id, now)
        return row

    def get(self, product_id: str) -> Product:
        return self.ctx.product(product_id, "product")

    def list(self, owner: str | None = None) -> list[Product]:
        query = select(Product).order_by(Product.id)
        if owner is not None:
            query = query.where(Product.owner_org_id == owner)
        return list(self.session.scalars(query))

    def certificates(self, product_id: str, on: date | None = None) -> list[CertificateView]:
        """The product's certificates, each marked valid or not on `on` (default: today)."""
        self.ctx.product(product_id, "product")
        day = on or self.ctx.now().date()
        rows = self.session.scalars(
            select(ProductCertificate)
            .where(ProductCertificate.product_id == product_id)
            .order_by(ProductCertificate.id)
        )
        return [
            certificate_view(r.scheme, r.number, r.issuer, r.valid_from, r.valid_until, day) for r in rows
        ]
