"""From what a phone read (a URI) or a person typed (a serial) to the range and batch.

`identify` needs no database: it parses the URI, checks the serial's check character (a
typo) and its MAC (a forgery) and returns the code number n. `find_range` is the one
indexed query: the range with the largest first_n <= n, joined to its batch and product,
with the void covering n (if any) and the hash of the batch chain's head entry, so that a
scan learns everything about its code in one round trip and can key cached pages of the
batch by the head (a new entry is a new head).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from farmtrace.ledger.models import EntryRow
from farmtrace.trace.codes.models import CodeRange, CodeVoid
from farmtrace.trace.errors import InvalidInput, SerialForged
from farmtrace.trace.gs1.digital_link import DigitalLink
from farmtrace.trace.gs1.qr_uri import ShortLink, parse_scan_uri
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Product
from farmtrace.trace.serials import MAX_N, SerialKeyring, normalise_serial, parse_serial

_SCHEMES: Final = ("http://", "https://")
# A number no range can hold (the allocator stops below it): forged codes look it up so
# that they cost the same query as a genuine-looking code that was never issued.
DECOY_N: Final = MAX_N


@dataclass(frozen=True)
class Identified:
    """A code that passed the check character and the MAC."""

    n: int
    serial: str  # normalised (upper case, Crockford)
    link: DigitalLink | ShortLink | None  # None when a bare serial was given


@dataclass(frozen=True)
class Located:
    range: CodeRange
    batch: Batch
    product: Product
    void_reason: str | None = None  # the reason of the first void covering the code, if any
    head: bytes | None = None  # entry_hash of the batch chain's newest entry


def looks_like_uri(text: str) -> bool:
    return text[:8].lower().startswith(_SCHEMES)


def identify(keyring: SerialKeyring, text: str) -> Identified:
    """Parse a scanned URI or a typed serial; raise DigitalLinkError, SerialTypo or SerialForged."""
    text = text.strip()
    link: DigitalLink | ShortLink | None = None
    serial_text = text
    if looks_like_uri(text):
        link = parse_scan_uri(text)
        serial = link.serial
        if serial is None:
            raise InvalidInput(
                "uri", f"Invalid code URI {text!r}: Expected a serial number (AI 21), found none."
            )
        serial_text = serial
    n = parse_serial(keyring, serial_text)
    return Identified(n=n, serial=normalise_serial(serial_text), link=link)


# Built once: constructing the statement cost more than running it. The void and the head
# are correlated subqueries on indexes (codes_void.range_id, ledger_entry (batch, seq)).
_VOID_OF = (
    select(CodeVoid.reason)
    .where(
        CodeVoid.range_id == CodeRange.id,
        CodeVoid.first_n <= bindparam("n"),
        CodeVoid.first_n + CodeVoid.count > bindparam("n"),
    )
    .order_by(CodeVoid.id)
    .limit(1)
    .correlate(CodeRange)
    .scalar_subquery()
)
_HEAD_OF = (
    select(EntryRow.entry_hash)
    .where(EntryRow.batch == Batch.id)
    .order_by(EntryRow.seq.desc())
    .limit(1)
    .correlate(Batch)
    .scalar_subquery()
)
_RANGE_OF = (
    select(CodeRange, Batch, Product, _VOID_OF, _HEAD_OF)
    .join(Batch, Batch.id == CodeRange.batch_id)
    .join(Product, Product.id == Batch.product_id)
    .where(CodeRange.first_n <= bindparam("n"))
    .order_by(CodeRange.first_n.desc())
    .limit(1)
)


def find_range(session: Session, n: int) -> Located | None:
    """The range holding code number n, with its batch, product, void and chain head; one
    indexed query."""
    found = session.execute(_RANGE_OF, {"n": n}).first()
    if found is None or n > found[0].last_n:
        return None
    rng, batch, product, void_reason, head = found
    return Located(rng, batch, product, void_reason, None if head is None else bytes(head))


def locate(session: Session, keyring: SerialKeyring, text: str) -> tuple[Identified, Located]:
    """identify() then find_range(); an unissued n raises SerialForged like a bad MAC.

    A forged serial still runs the range query (with DECOY_N), so forged and unissued
    codes cost the same work and fail with the same message.
    """
    try:
        code = identify(keyring, text)
    except SerialForged:
        find_range(session, DECOY_N)
        raise
    located = find_range(session, code.n)
    if located is None:
        raise SerialForged("serial", f"Unknown code {code.serial!r}: it is not a code we issued.")
    return code, located
