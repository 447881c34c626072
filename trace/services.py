"""One object holding every trace service over one session, for the web layer and the CLI.

Build it with `trace_services(session, KeyStore(session, master, ledger))`, call e.g.
`.batches.register("coop-a", {...})`, then commit the session: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.accounts import AccountService
from farmtrace.trace.batches import BatchService
from farmtrace.trace.context import TraceContext
from farmtrace.trace.lineage import LineageService
from farmtrace.trace.orgs import OrgService
from farmtrace.trace.places import PlaceService
from farmtrace.trace.products import ProductService
from farmtrace.trace.recalls import RecallService
from farmtrace.trace.recorder import EventRecorder
from farmtrace.trace.tokens import TokenService


@dataclass(frozen=True)
class TraceServices:
    ctx: TraceContext
    orgs: OrgService
    places: PlaceService
    products: ProductService
    accounts: AccountService
    tokens: TokenService
    batches: BatchService
    events: EventRecorder
    lineage: LineageService
    recalls: RecallService


def trace_services(
    session: Session, keystore: KeyStore, clock: Callable[[], datetime] | None = None
) -> TraceServices:
    if keystore.session is not session:
        raise ValueError("the key store must use the same session as the trace services")
    ctx = TraceContext(session, keystore, clock)
    return TraceServices(
        ctx=ctx,
        orgs=OrgService(ctx),
        places=PlaceService(ctx),
        products=ProductService(ctx),
        accounts=AccountService(ctx),
        tokens=TokenService(ctx),
        batches=BatchService(ctx),
        events=EventRecorder(ctx),
        lineage=LineageService(ctx),
        recalls=RecallService(ctx),
    )
