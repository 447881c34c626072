"""Organisations: who may record what. Each is registered by the county operator, gets a
custodial signing key, and is recorded on the reserved ledger chain `orgs`.

The operator bootstraps itself: `bootstrap_operator` creates the root and log keys, the
operator's own signing key, and opens `orgs` with the operator's registration (signed by
that key). The poverty-alleviation flags stay out of the ledger: they are personal data for
the operator's statistics, shown to consumers only as the 扶贫产品 mark when enabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, validates_schema
from sqlalchemy import func, select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import NotPermitted, RuleViolation
from farmtrace.trace.events.fields import Choice, Flag, PlaceRef, Slug, Text
from farmtrace.trace.events.schema import PayloadSchema, load_payload
from farmtrace.trace.events.types import ORG_REGISTERED, ORGS_CHAIN
from farmtrace.trace.models.projection import BatchProducer
from farmtrace.trace.models.registry import Org

# kind -> (Chinese, English)
ORG_KINDS: dict[str, tuple[str, str]] = {
    "operator": ("县级运营中心", "county operator"),
    "cooperative": ("农民专业合作社", "cooperative"),
    "farm_base": ("种植基地", "farm base"),
    "household": ("农户", "producer household"),
    "lab": ("检测机构", "testing lab"),
    "carrier": ("物流企业", "logistics carrier"),
    "town_centre": ("乡镇电商服务中心", "town service centre"),
    "village_station": ("村级电商服务站", "village service station"),
    "packing_station": ("包装站", "packing station"),
    "seller": ("店铺/电商", "shop or e-commerce seller"),
}
PRODUCER_KINDS = ("cooperative", "farm_base", "household")
# The place kind a service centre or station must sit in (county -> town -> village).
STATION_PLACE_KIND = {"town_centre": "town", "village_station": "village"}


class OrgSchema(PayloadSchema):
    id = Slug(required=True)
    kind = Choice(tuple(ORG_KINDS), required=True)
    name_zh = Text(100, required=True)
    name_en = Text(100)
    place = PlaceRef()
    parent = Slug()
    poverty_household = Flag()

    @validates_schema
    def _kind_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("kind")
        if kind in STATION_PLACE_KIND and data.get("place") is None:
            raise ValidationError({"place": f"is required for a {ORG_KINDS[kind][1]}"})
        if data.get("poverty_household") and kind != "household":
            raise ValidationError(
                {
                    "poverty_household": "only a producer household can be a registered poverty-alleviation household"
                }
            )


@dataclass(frozen=True)
class PovertyStatistics:
    households: int
    with_public_mark: int
    batches: int


class OrgService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def bootstrap_operator(self, data: dict[str, Any]) -> Org:
        """Create the county operator, its keys and the `orgs` chain; a repeat returns it."""
        values = load_payload(OrgSchema(), {**data, "kind": "operator"}, prefix="org")
        existing = self.operator()
        if existing is not None:
            if existing.id != values["id"]:
                raise RuleViolation(
                    "org.id", f"org.id: the operator is already {existing.id}", "operator_exists"
                )
            return existing
        self.ctx.keystore.bootstrap(values["id"])
        self.ctx.keystore.create_org_key(values["id"])
        return self._create(values["id"], values)

    def register(self, actor: str, data: dict[str, Any]) -> Org:
        """Register an organisation (operator only) and create its custodial signing key."""
        self.require_operator(actor)
        values = load_payload(OrgSchema(), data, prefix="org")
        if values["kind"] == "operator":
            raise RuleViolation(
                "org.kind", "org.kind: there is one county operator, and it exists", "operator_exists"
            )
        if self.session.get(Org, values["id"]) is not None:
            raise RuleViolation("org.id", f"org.id: organisation {values['id']} already exists", "exists")
        if "place" in values:
            place = self.ctx.place(values["place"], "org.place")
            wanted = STATION_PLACE_KIND.get(values["kind"])
            if wanted is not None and place.kind != wanted:
                raise RuleViolation(
                    "org.place",
                    f"org.place: a {ORG_KINDS[values['kind']][1]} sits in a {wanted}; {place.id} is a {place.kind}",
                    "wrong_kind",
                )
        if "parent" in values:
            self.ctx.org(values["parent"], "org.parent")
        self.ctx.keystore.create_org_key(values["id"])
        return self._create(actor, values)

    def _create(self, actor: str, values: dict[str, Any]) -> Org:
        now = self.ctx.now()
        org = Org(
            id=values["id"],
            kind=values["kind"],
            name_zh=values["name_zh"],
            name_en=values.get("name_en"),
            place_id=values.get("place"),
            parent_org_id=values.get("parent"),
            poverty_household=bool(values.get("poverty_household", False)),
            poverty_mark_enabled=False,
            active=True,
            created_at=now,
        )
        self.session.add(org)
        self.session.flush()
        public = {k: v for k, v in values.items() if k != "poverty_household"}
        public["key_id"] = self.ctx.keystore.signer_for(values["id"]).key_id
        self.ctx.open_or_append(
            ORGS_CHAIN, ORG_REGISTERED, actor, public, f"org.register.{values['id']}", now
        )
        return org

    # -- reading ---------------------------------------------------------------------------

    def get(self, org_id: str) -> Org:
        return self.ctx.org(org_id, "org")

    def list(self, kind: str | None = None) -> list[Org]:
        query = select(Org).order_by(Org.kind, Org.id)
        if kind is not None:
            query = query.where(Org.kind == kind)
        return list(self.session.scalars(query))

    def operator(self) -> Org | None:
        return self.session.scalars(select(Org).where(Org.kind == "operator")).first()

    def require_operator(self, actor: str) -> Org:
        org = self.ctx.active_org(actor)
        if org.kind != "operator":
            raise NotPermitted(
                "actor",
                f"actor: only the county operator may do this; {actor} is a {ORG_KINDS[org.kind][1]}",
                "operator_only",
            )
        return org

    # -- poverty alleviation (operator data, not in the ledger) -----------------------------

    def set_poverty_household(
        self, actor: str, org_id: str, household: bool, public_mark: bool = False
    ) -> Org:
        self.require_operator(actor)
        org = self.ctx.org(org_id, "org")
        if household and org.kind != "household":
            raise RuleViolation(
                "poverty_household",
                f"poverty_household: only a producer household can be flagged; {org_id} is a {ORG_KINDS[org.kind][1]}",
                "wrong_kind",
            )
        org.poverty_household = household
        org.poverty_mark_enabled = household and public_mark
        self.session.flush()
        return org

    def poverty_mark(self, batch_id: str) -> bool:
        """Whether a consumer sees the 扶贫产品 mark for this batch."""
        query = (
            select(func.count())
            .select_from(BatchProducer)
            .join(Org, Org.id == BatchProducer.org_id)
            .where(BatchProducer.batch_id == batch_id, Org.poverty_household, Org.poverty_mark_enabled)
        )
        return bool(self.session.scalar(query))

    def poverty_statistics(self) -> PovertyStatistics:
        households = (
            self.session.scalar(select(func.count()).select_from(Org).where(Org.poverty_household)) or 0
        )
        marked = (
            self.session.scalar(
                select(func.count()).select_from(Org).where(Org.poverty_household, Org.poverty_mark_enabled)
            )
            or 0
        )
        batches = (
            self.session.scalar(
                select(func.count(func.distinct(BatchProducer.batch_id)))
                .join(Org, Org.id == BatchProducer.org_id)
                .where(Org.poverty_household)
            )
            or 0
        )
        return PovertyStatistics(households, marked, batches)
