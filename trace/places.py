"""The place registry: county, towns, villages, warehouses, cold stores, fields and bases.

Towns sit in the county and villages in a town; other places may name any parent. A GLN
is optional (13 digits with a GS1 check digit); coordinates are optional WGS 84 decimals.
Registrations are recorded on the reserved ledger chain `places`.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, validates_schema
from sqlalchemy import select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotPermitted, RuleViolation
from farmtrace.trace.events.fields import Choice, DecimalText, Pattern, PlaceRef, Text
from farmtrace.trace.events.schema import PayloadSchema, load_payload
from farmtrace.trace.events.types import PLACE_REGISTERED, PLACES_CHAIN
from farmtrace.trace.gs1.gtin import verify_check_digit
from farmtrace.trace.models.registry import Place
from farmtrace.trace.text import Problem

PLACE_KINDS: dict[str, tuple[str, str]] = {
    "county": ("县", "county"),
    "town": ("镇", "town"),
    "village": ("村", "village"),
    "warehouse": ("仓库", "warehouse"),
    "cold_store": ("冷库", "cold store"),
    "field": ("田块", "field"),
    "base": ("基地", "farm base"),
    "facility": ("加工厂", "processing or packing facility"),
    "shop": ("门店", "shop"),
}
# What a place of each administrative kind must sit in.
REQUIRED_PARENT = {"town": "county", "village": "town"}
STORAGE_KINDS = ("warehouse", "cold_store")
# Kinds any organisation may register for itself; the administrative ones are the operator's.
SELF_SERVICE_KINDS = ("warehouse", "cold_store", "field", "base", "facility", "shop")
_GLN = re.compile(r"\d{13}\Z")


class _Gln(Pattern):
    def _check(self, value: Any) -> str:
        text = super()._check(value)
        try:
            verify_check_digit(text, "GLN")
        except InvalidInput as exc:
            raise Problem(exc.message) from None
        return text


class PlaceSchema(PayloadSchema):
    id = PlaceRef(required=True)
    kind = Choice(tuple(PLACE_KINDS), required=True)
    name_zh = Text(100, required=True)
    name_en = Text(100)
    parent = PlaceRef()
    gln = _Gln(_GLN, "a 13-digit GLN")
    latitude = DecimalText(minimum=-90, maximum=90)
    longitude = DecimalText(minimum=-180, maximum=180)

    @validates_schema
    def _coordinates(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise ValidationError({"longitude": "latitude and longitude go together"})


class PlaceService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def register(self, actor: str, data: dict[str, Any]) -> Place:
        org = self.ctx.active_org(actor)
        values = load_payload(PlaceSchema(), data, prefix="place")
        kind = values["kind"]
        if org.kind != "operator" and kind not in SELF_SERVICE_KINDS:
            raise NotPermitted(
                "actor",
                f"actor: only the county operator registers a {PLACE_KINDS[kind][1]}",
                "operator_only",
            )
        if self.session.get(Place, values["id"]) is not None:
            raise RuleViolation("place.id", f"place.id: place {values['id']} already exists", "exists")
        if "gln" in values and self.session.scalars(select(Place).where(Place.gln == values["gln"])).first():
            raise RuleViolation("place.gln", f"place.gln: GLN {values['gln']} is already used", "exists")
        parent = None if "parent" not in values else self.ctx.place(values["parent"], "place.parent")
        wanted = REQUIRED_PARENT.get(kind)
        if wanted is not None and (parent is None or parent.kind != wanted):
            found = "none" if parent is None else f"{parent.id}, a {parent.kind}"
            raise RuleViolation(
                "place.parent", f"place.parent: a {kind} sits in a {wanted}; found {found}", "hierarchy"
            )
        now = self.ctx.now()
        place = Place(
            id=values["id"],
            kind=kind,
            name_zh=values["name_zh"],
            name_en=values.get("name_en"),
            parent_id=values.get("parent"),
            gln=values.get("gln"),
            latitude=values.get("latitude"),
            longitude=values.get("longitude"),
            created_at=now,
        )
        self.session.add(place)
        self.session.flush()
        self.ctx.open_or_append(
            PLACES_CHAIN, PLACE_REGISTERED, actor, values, f"place.register.{values['id']}", now
        )
        return place

    def get(self, place_id: str) -> Place:
        return self.ctx.place(place_id, "place")

    def list(self, parent: str | None = None, kind: str | None = None) -> list[Place]:
        query = select(Place).order_by(Place.id)
        if parent is not None:
            query = query.where(Place.parent_id == parent)
        if kind is not None:
            query = query.where(Place.kind == kind)
        return list(self.session.scalars(query))

    def path(self, place_id: str) -> list[Place]:
        """The place and its ancestors, outermost first (county, town, village, ...)."""
        chain: list[Place] = []
        place: Place | None = self.ctx.place(place_id, "place")
        while place is not None and len(chain) < 16:
            chain.append(place)
            place = None if place.parent_id is None else self.session.get(Place, place.parent_id)
        return list(reversed(chain))
