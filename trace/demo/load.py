"""Loading the demonstration: Wuhua County's registry (created once) and then its season's
stories, in a fixed order (the caller commits)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.demo import fruit, rice, vegetables
from farmtrace.trace.demo.county import CERTIFICATES, OPERATOR, OPERATOR_ORG, ORGS, PLACES, PRODUCTS
from farmtrace.trace.demo.writer import DemoSummary, StoryWriter
from farmtrace.trace.models.registry import Org, Place, Product, ProductCertificate
from farmtrace.trace.services import TraceServices, trace_services

# The order the stories are recorded in; it fixes the entries' order in the ledger.
STORIES: tuple[Callable[[StoryWriter], None], ...] = (
    vegetables.sweet_potato,
    rice.rice_and_spirit,
    vegetables.meicai,
    fruit.lychee,
    fruit.pomelo,
)


def load_demo(
    session: Session, keystore: KeyStore, clock: Callable[[], datetime] | None = None
) -> DemoSummary:
    """Load the county's demonstration data into `session` (the caller commits)."""
    t = trace_services(session, keystore, clock)
    summary = DemoSummary()
    _registry(t, session)
    writer = StoryWriter(t, summary)
    for story in STORIES:
        story(writer)
    return summary


def _registry(t: TraceServices, session: Session) -> None:
    t.orgs.bootstrap_operator(OPERATOR_ORG)
    for place in PLACES:
        if session.get(Place, place["id"]) is None:
            t.places.register(OPERATOR, place)
    for org in ORGS:
        if session.get(Org, org["id"]) is None:
            t.orgs.register(OPERATOR, org)
    t.orgs.set_poverty_household(OPERATOR, "household-zhang", True, public_mark=True)
    for owner, product in PRODUCTS:
        if session.get(Product, product["id"]) is None:
            t.products.register(owner, product)
    for product_id, certificate in CERTIFICATES:
        exists = session.scalars(
            select(ProductCertificate).where(
                ProductCertificate.product_id == product_id,
                ProductCertificate.number == certificate["certificate_number"],
            )
        ).first()
        if exists is None:
            owner = next(o for o, p in PRODUCTS if p["id"] == product_id)
            t.products.add_certificate(owner, product_id, certificate)
