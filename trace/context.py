"""What every trace service works with: the session, the key store (and its ledger), a clock,
and the few ledger operations they share (sign as an organisation, lock a chain, find a retry).

Services take a TraceContext and never commit: the request or CLI command owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft, Ledger, StoredEntry
from farmtrace.ledger.errors import KeyNotUsable
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import Chain, EntryRow
from farmtrace.trace.errors import NotFound, NotPermitted
from farmtrace.trace.models.registry import Document, Org, Place, Product
from farmtrace.trace.text import client_id as check_client_id


@dataclass
class TraceContext:
    session: Session
    keystore: KeyStore
    clock: Callable[[], datetime] | None = None

    @property
    def ledger(self) -> Ledger:
        return self.keystore.ledger

    def now(self) -> datetime:
        return (self.clock or self.ledger.clock)()

    # -- registry lookups ------------------------------------------------------------------

    def org(self, org_id: str, field: str = "actor") -> Org:
        org = self.session.get(Org, org_id) if isinstance(org_id, str) else None
        if org is None:
            raise NotFound(field, f"{field}: no organisation {org_id!r}")
        return org

    def active_org(self, org_id: str, field: str = "actor") -> Org:
        org = self.org(org_id, field)
        if not org.active:
            raise NotPermitted(field, f"{field}: organisation {org_id} is deactivated", "org_inactive")
        return org

    def place(self, place_id: str, field: str = "payload.place") -> Place:
        place = self.session.get(Place, place_id) if isinstance(place_id, str) else None
        if place is None:
            raise NotFound(field, f"{field}: no place {place_id!r}")
        return place

    def product(self, product_id: str, field: str = "payload.product") -> Product:
        product = self.session.get(Product, product_id) if isinstance(product_id, str) else None
        if product is None:
            raise NotFound(field, f"{field}: no product {product_id!r}")
        return product

    def document_exists(self, sha256: str) -> bool:
        return self.session.get(Document, sha256) is not None

    # -- ledger ----------------------------------------------------------------------------

    def signer(self, org_id: str) -> SigningKey:
        try:
            return self.keystore.signer_for(org_id)
        except KeyNotUsable:
            raise NotPermitted(
                "actor", f"actor: {org_id} has no active signing key held by this service", "no_key"
            ) from None

    def lock_chain(self, chain: str, field: str = "batch") -> None:
        """Take the chain's row lock (PostgreSQL) before reading the state rules are checked on."""
        row = self.session.scalars(select(Chain).where(Chain.batch == chain).with_for_update()).first()
        if row is None:
            raise NotFound(field, f"{field}: no batch {chain!r}")

    def previous(self, client_id: str | None) -> StoredEntry | None:
        """The entry already recorded under this idempotency key, if any."""
        if client_id is None:
            return None
        check_client_id("client_id", client_id)
        row = self.session.scalars(select(EntryRow.entry_hash).where(EntryRow.client_id == client_id)).first()
        return None if row is None else self.ledger.by_hash(row)

    def append(
        self,
        chain: str,
        entry_type: str,
        author: str,
        payload: dict[str, Any],
        client_id: str,
        event_time: datetime,
        amends: bytes | None = None,
    ) -> StoredEntry:
        draft = Draft(chain, entry_type, event_time, author, client_id, payload, amends)
        return self.ledger.append(draft, self.signer(author))

    def open_or_append(
        self,
        chain: str,
        entry_type: str,
        author: str,
        payload: dict[str, Any],
        client_id: str,
        event_time: datetime,
    ) -> StoredEntry:
        """Append to a reserved registry chain, opening it with this entry if it is new."""
        draft = Draft(chain, entry_type, event_time, author, client_id, payload)
        if self.session.get(Chain, chain) is None:
            return self.ledger.open_chain(draft, self.signer(author))
        return self.ledger.append(draft, self.signer(author))
