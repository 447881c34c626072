"""What a scan shows: `scan_facts` assembles it, the web layer only renders it.

The answer for anything that is not an issued code is one of three: "typo" (the check
character failed: a hint, no lookup), "invalid" (not a URI of ours: the parser's reason)
or "not_genuine" (forged, never issued, or a real serial pasted into another batch's
Digital Link). "not_genuine" carries no detail, so a forger learns nothing from it.

A scan of an issued code costs four statements (three when not counted; see
trace/codes/resolve.py and scans.py): the code with its range, batch, product, void and
chain head; the scan's two inserts (one on PostgreSQL); the item's scans; the
certificates. When the batch was first packed is a fact of its chain, so it is kept per
process by (batch, head hash): a chain only grows, so the same head means the same entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from farmtrace.ledger.entry import parse_stored_entry
from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.resolve import Identified, Located, locate
from farmtrace.trace.codes.scans import Scanner, ScanSummary, item_scans, record_scan
from farmtrace.trace.codes.signals import BURST_WINDOW, Signal, scan_signals
from farmtrace.trace.errors import InvalidInput, SerialForged, SerialTypo
from farmtrace.trace.events.types import PACKED
from farmtrace.trace.gs1.digital_link import DigitalLink
from farmtrace.trace.gs1.gtin import validate_gtin
from farmtrace.trace.gs1.qr_uri import qr_uri
from farmtrace.trace.models.projection import BatchCertificate
from farmtrace.trace.models.registry import ProductCertificate
from farmtrace.trace.serials import SerialKeyring

GENUINE: Final = "genuine"
VOIDED: Final = "voided"
NOT_GENUINE: Final = "not_genuine"
TYPO: Final = "typo"
INVALID: Final = "invalid"

NOT_GENUINE_MESSAGE: Final = "This is not a code we issued."


@dataclass(frozen=True)
class Certificate:
    scheme: str
    number: str
    issuer: str
    valid_from: date
    valid_until: date
    scope: str  # "product" or "batch"


@dataclass(frozen=True)
class ScanFacts:
    status: str  # genuine, voided, not_genuine, typo, invalid
    hint: str | None = None  # for typo and invalid: what was wrong with the input
    serial: str | None = None
    n: int | None = None  # internal: never shown or serialised
    range_id: int | None = None
    batch_id: str | None = None
    lot: str | None = None
    product_id: str | None = None
    product_name_zh: str | None = None
    product_name_en: str | None = None
    gtin: str | None = None
    recalled: bool = False
    uri: str | None = None  # the label's URI, when a domain was given
    scans: ScanSummary | None = None
    counted: bool = False  # this request was recorded as a scan
    packed_at: datetime | None = None
    void_reason: str | None = None
    signals: tuple[Signal, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    head: bytes | None = None  # internal: the batch chain's head entry hash, for page caches

    @property
    def genuine(self) -> bool:
        return self.status == GENUINE

    @property
    def issued(self) -> bool:
        """An issued code of this batch (genuine or voided): its scans are counted."""
        return self.status in (GENUINE, VOIDED)


def scan_facts(
    session: Session,
    uri_or_serial: str,
    *,
    keyring: SerialKeyring,
    now: datetime | None = None,
    scanner: Scanner | None = None,
    domain: str | None = None,
    writer: Session | None = None,
    with_certificates: bool = True,
) -> ScanFacts:
    """Resolve a scanned URI or typed serial and gather what its scan page shows.

    With `scanner`, a scan of an issued code is recorded first, in `writer` (default
    `session`; the caller commits it), and the item's count is read there, so it includes
    the scan. A separate writer lets SQLite hold its write lock for those two steps only,
    and leaves unknown codes to the reading session. Without `with_certificates` the
    certificates are not read (a page that shows them from elsewhere). Never raises for bad
    input.
    """
    now = now or datetime.now(UTC)
    try:
        code, located = locate(session, keyring, uri_or_serial)
    except SerialTypo as exc:
        return ScanFacts(TYPO, hint=exc.message)
    except SerialForged:
        return ScanFacts(NOT_GENUINE)
    except InvalidInput as exc:
        return ScanFacts(INVALID, hint=exc.message)
    if not _link_matches(code, located):
        return ScanFacts(NOT_GENUINE)
    rng, batch, product = located.range, located.batch, located.product
    void_reason = located.void_reason
    counter = session if writer is None else writer
    if scanner is not None:
        record_scan(counter, code.n, now, scanner)
    scans = item_scans(counter, code.n, now - BURST_WINDOW)
    summary, places = scans.summary, scans.recent_places
    packed_at = _packed_time_of(session, batch.id, located.head)
    gtin = validate_gtin(product.gtin) if product.gtin else None
    return ScanFacts(
        status=VOIDED if void_reason is not None else GENUINE,
        serial=code.serial,
        n=code.n,
        range_id=rng.id,
        batch_id=batch.id,
        lot=batch.lot,
        product_id=product.id,
        product_name_zh=product.name_zh,
        product_name_en=product.name_en,
        gtin=gtin,
        recalled=bool(batch.recalled),
        uri=qr_uri(domain, code.serial, gtin=gtin, lot=batch.lot if gtin else None) if domain else None,
        scans=summary,
        counted=scanner is not None,
        packed_at=packed_at,
        void_reason=void_reason,
        signals=scan_signals(
            summary,
            packed_at=packed_at,
            void_reason=void_reason,
            recent_places=places,
            recalled=bool(batch.recalled),
        ),
        certificates=certificates(session, product.id, batch.id) if with_certificates else (),
        head=located.head,
    )


def _link_matches(code: Identified, located: Located) -> bool:
    """A Digital Link must name the batch's own GTIN and lot: a serial pasted into another
    product's or lot's URI is not that item."""
    link = code.link
    if not isinstance(link, DigitalLink):
        return True
    product_gtin = located.product.gtin
    if product_gtin is None or link.gtin != validate_gtin(product_gtin):
        return False
    return link.lot is None or link.lot == located.batch.lot


# The statements are built once: building one costs more than running it on an index.
_FIRST_PACKING = (
    select(EntryRow.canonical)
    .where(EntryRow.batch == bindparam("batch"), EntryRow.entry_type == PACKED)
    .order_by(EntryRow.seq)
    .limit(1)
)
# The product's certificates (by id), then the batch's (by seq), in one statement.
_CERTIFICATES = union_all(
    select(
        ProductCertificate.scheme,
        ProductCertificate.number,
        ProductCertificate.issuer,
        ProductCertificate.valid_from,
        ProductCertificate.valid_until,
        literal("product").label("scope"),
        literal(0).label("part"),
        ProductCertificate.id.label("position"),
    ).where(ProductCertificate.product_id == bindparam("product")),
    select(
        BatchCertificate.scheme,
        BatchCertificate.number,
        BatchCertificate.issuer,
        BatchCertificate.valid_from,
        BatchCertificate.valid_until,
        literal("batch"),
        literal(1),
        BatchCertificate.seq,
    ).where(BatchCertificate.batch_id == bindparam("batch")),
).order_by("part", "position")
PACKED_CACHE_SIZE: Final = 4096


class _PackedTimes:
    """When each batch was first packed, per (batch, head hash); per process, bounded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[str, bytes], datetime | None] = OrderedDict()

    def get(self, session: Session, batch_id: str, head: bytes) -> datetime | None:
        key = (batch_id, head)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        found = packed_time(session, batch_id)
        with self.lock:
            self.items[key] = found
            while len(self.items) > PACKED_CACHE_SIZE:
                self.items.popitem(last=False)
        return found


_PACKED_TIMES = _PackedTimes()


def _packed_time_of(session: Session, batch_id: str, head: bytes | None) -> datetime | None:
    if head is None:
        return packed_time(session, batch_id)
    return _PACKED_TIMES.get(session, batch_id, head)


def packed_time(session: Session, batch_id: str) -> datetime | None:
    """When the batch was first packed, from its chain (None if no packing is recorded)."""
    canonical = session.scalars(_FIRST_PACKING, {"batch": batch_id}).first()
    return None if canonical is None else parse_stored_entry(canonical).event_time


def certificates(session: Session, product_id: str, batch_id: str) -> tuple[Certificate, ...]:
    """The product's certificates, then the batch's; one statement."""
    rows = session.execute(_CERTIFICATES, {"product": product_id, "batch": batch_id})
    return tuple(Certificate(*row[:6]) for row in rows)


def facts_json(facts: ScanFacts) -> dict[str, Any]:
    """The facts as JSON for `Accept: application/json` (n is never included)."""
    if not facts.issued:
        body: dict[str, Any] = {"genuine": False, "status": facts.status}
        if facts.hint:
            body["hint"] = facts.hint
        return body
    scans = facts.scans
    return {
        "genuine": facts.genuine,
        "status": facts.status,
        "serial": facts.serial,
        "uri": facts.uri,
        "product": {
            "id": facts.product_id,
            "name_zh": facts.product_name_zh,
            "name_en": facts.product_name_en,
            "gtin": facts.gtin,
        },
        "batch": {"id": facts.batch_id, "lot": facts.lot, "recalled": facts.recalled},
        "scans": {
            "count": scans.count if scans else 0,
            "first_at": _iso(scans.first_at) if scans else None,
            "last_at": _iso(scans.last_at) if scans else None,
        },
        "packed_at": _iso(facts.packed_at) if facts.packed_at else None,
        "void_reason": facts.void_reason,
        "signals": [
            {
                k: v
                for k, v in {
                    "code": s.code,
                    "level": s.level,
                    "count": s.count,
                    "since": _iso(s.since) if s.since else None,
                    "reason": s.reason,
                }.items()
                if v is not None
            }
            for s in facts.signals
        ],
        "certificates": [
            {
                "scheme": c.scheme,
                "number": c.number,
                "issuer": c.issuer,
                "valid_from": c.valid_from.isoformat(),
                "valid_until": c.valid_until.isoformat(),
                "scope": c.scope,
            }
            for c in facts.certificates
        ],
    }


def _iso(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
