"""What a report is broken down by: the whole county, or per town, cooperative or product.

Every figure belongs to a batch, and a batch belongs to exactly one row of each scope, so the
rows of a scope add up to the county (percentiles excepted):
- town: the town its origin place lies in (county → town → village → field), else the town
  of its owner's place, else none ("unassigned");
- cooperative: its owner if the owner is a cooperative, else the owner's parent
  organisation if that is a cooperative (a member household), else none;
- product: its product.
Shipments are the one exception, documented in docs/reports.md: per town they are counted
where they arrive (the town of the receiving village station).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import Subquery

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Org, Place, Product

COUNTY_KEY = "county"


class Scope(enum.StrEnum):
    COUNTY = "county"
    TOWN = "town"
    COOP = "coop"
    PRODUCT = "product"

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls(text)
        except ValueError:
            raise InvalidInput(
                "scope", f"scope: expected one of {', '.join(s.value for s in cls)}, found {str(text)[:40]!r}"
            ) from None


@dataclass(frozen=True)
class Member:
    """One row of a scope: a town, cooperative or product (key None: not assigned to any)."""

    key: str | None
    name_zh: str
    name_en: str


UNASSIGNED = {
    Scope.TOWN: Member(None, "未归属乡镇", "no town"),
    Scope.COOP: Member(None, "非合作社", "no cooperative"),
    Scope.PRODUCT: Member(None, "未知产品", "unknown product"),
    Scope.COUNTY: Member(COUNTY_KEY, "全县", "whole county"),
}


PLACE_DEPTH = 6  # a place up to five levels below its county (field in a base in a village ...)


def place_areas() -> Subquery:
    """(place_id, town_id, county_id) for every place: its town and county ancestors, if any.

    A chain of left joins up trace_place.parent_id rather than a recursive CTE: the planner
    then knows the row counts (a CTE's it guesses) and joins batches to it by hash. Places
    nest county → town → village → field, so PLACE_DEPTH levels are plenty.
    """
    levels = [aliased(Place, name=f"up{i}") for i in range(PLACE_DEPTH)]
    query = select(levels[0].id.label("place_id")).select_from(levels[0])
    for child, parent in itertools.pairwise(levels):
        query = query.outerjoin(parent, parent.id == child.parent_id)

    def first(kind: str) -> Any:
        return func.coalesce(*(case((level.kind == kind, level.id)) for level in levels))

    return query.add_columns(first("town").label("town_id"), first("county").label("county_id")).subquery(
        "place_area"
    )


def batch_keys(scope: Scope) -> Subquery | None:
    """(batch_id, key) for every batch, or None for the county (no join needed)."""
    if scope is Scope.COUNTY:
        return None
    if scope is Scope.PRODUCT:
        return select(Batch.id.label("batch_id"), Batch.product_id.label("key")).subquery("batch_key")
    owner = aliased(Org)
    if scope is Scope.COOP:
        parent = aliased(Org)
        key = case(
            (owner.kind == "cooperative", owner.id),
            (parent.kind == "cooperative", parent.id),
            else_=None,
        )
        return (
            select(Batch.id.label("batch_id"), key.label("key"))
            .join(owner, owner.id == Batch.owner_org_id)
            .outerjoin(parent, parent.id == owner.parent_org_id)
            .subquery("batch_key")
        )
    areas = place_areas()
    origin_area = areas.alias("origin_area")
    owner_area = areas.alias("owner_area")
    return (
        select(
            Batch.id.label("batch_id"),
            func.coalesce(origin_area.c.town_id, owner_area.c.town_id).label("key"),
        )
        .join(owner, owner.id == Batch.owner_org_id)
        .outerjoin(origin_area, origin_area.c.place_id == Batch.origin_place_id)
        .outerjoin(owner_area, owner_area.c.place_id == owner.place_id)
        .subquery("batch_key")
    )


def members(session: Session, scope: Scope) -> list[Member]:
    """Every town, cooperative or product (ordered by id), whether active in the period or not."""
    if scope is Scope.COUNTY:
        return [UNASSIGNED[Scope.COUNTY]]
    if scope is Scope.TOWN:
        rows = session.execute(
            select(Place.id, Place.name_zh, Place.name_en).where(Place.kind == "town").order_by(Place.id)
        )
    elif scope is Scope.COOP:
        rows = session.execute(
            select(Org.id, Org.name_zh, Org.name_en).where(Org.kind == "cooperative").order_by(Org.id)
        )
    else:
        rows = session.execute(select(Product.id, Product.name_zh, Product.name_en).order_by(Product.id))
    return [Member(key, zh, en or zh) for key, zh, en in rows]


__all__ = [
    "COUNTY_KEY",
    "UNASSIGNED",
    "Member",
    "Scope",
    "batch_keys",
    "members",
    "place_areas",
]
