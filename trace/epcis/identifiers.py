"""The URIs farmtrace puts in EPCIS events for batches, items and its own vocabulary.

Where the product has a GTIN, identifiers are GS1 Digital Link URIs on our resolver
(GS1 Digital Link 1.2 §4): a batch is the lgtin-style class `/01/{gtin14}/10/{lot}` and
an item adds `/21/{serial}`; the EPCIS Event Hash ID reduces both to `https://id.gs1.org`
form, so the hash does not depend on our domain. Without a GTIN, a batch is named by the
service's own URI `https://{domain}/batch/{batch_id}`.
"""

from __future__ import annotations

from urllib.parse import quote

from farmtrace.trace.errors import EpcisInputError, InvalidInput
from farmtrace.trace.gs1.digital_link import format_digital_link, validate_domain


def farmtrace_namespace(domain: str) -> str:
    """The JSON-LD namespace of farmtrace's extension fields, declared with prefix `ft`."""
    return f"https://{_domain(domain)}/ns/farmtrace/"


def batch_class_uri(domain: str, batch_id: str, *, gtin: str | None = None, lot: str | None = None) -> str:
    """The EPC class of a batch, for `quantityList` elements.

    With a GTIN: `https://{domain}/01/{gtin14}/10/{lot}` (the lot defaults to `batch_id`);
    otherwise `https://{domain}/batch/{batch_id}`.
    """
    if gtin is not None:
        return _digital_link(domain, gtin, lot=lot if lot is not None else batch_id)
    if not batch_id:
        raise EpcisInputError("batch_id", "batch_id: expected a non-empty identifier, found ''")
    return f"https://{_domain(domain)}/batch/{quote(batch_id, safe='')}"


def item_uri(domain: str, gtin: str, serial: str, *, lot: str | None = None) -> str:
    """An item-level EPC, for `epcList`: `https://{domain}/01/{gtin14}[/10/{lot}]/21/{serial}`."""
    return _digital_link(domain, gtin, lot=lot, serial=serial)


def _digital_link(domain: str, gtin: str, *, lot: str | None = None, serial: str | None = None) -> str:
    try:
        return format_digital_link(domain, gtin, lot, serial)
    except InvalidInput as exc:
        raise EpcisInputError(exc.field, exc.message) from exc


def _domain(domain: str) -> str:
    try:
        return validate_domain(domain)
    except InvalidInput as exc:
        raise EpcisInputError(exc.field, exc.message) from exc
