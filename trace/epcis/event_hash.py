"""The EPCIS Event Hash ID (GS1 CBV 2.0 §8.9): `ni:///sha-256;<hex>?ver=CBV2.0`.

An event's pre-hash string concatenates its fields, in a canonical order, as `name=value`
with no separators; the ID is the SHA-256 of that string's UTF-8 bytes in RFC 6920 `ni`
form. The rules are those of the reference implementation's README
(RalphTro/epcis-event-hash-generator), numbered there 1-24; where the README is silent or
vague, the published vectors (shared/reference/epcis-hash, produced by that
implementation, release 1.9.3) decide. In short:

* Order: eventType, eventTime, eventTimeZoneOffset, certificationInfo, the identifier
  lists, action, transformationID, bizStep, disposition, persistentDisposition, readPoint,
  bizLocation, sensorElementList (`_CANONICAL_ORDER`); then everything else (ilmd, the
  bizTransaction/source/destination lists, user extensions) as one sorted block.
  recordTime, eventID and errorDeclaration are left out, so declaring an error later
  does not change an event's ID.
* Values: timestamps in UTC at millisecond precision ending in `Z`; numbers without
  trailing zeros; CBV bare terms and legacy URNs as Web URIs; EPC URIs and Digital Link
  URIs as constrained canonical Digital Link (`epc_uri`); CURIEs expanded; extension
  names as `{namespace}localName`.
* Lists: elements sorted by their own pre-hash strings (code-point order, which is
  UTF-8 byte order).

docs/epcis.md lists where this implementation knowingly differs from the reference one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from farmtrace.trace.epcis import cbv
from farmtrace.trace.epcis.hash_values import canonical_value, expand_bare_terms, normalise_timestamp
from farmtrace.trace.errors import EpcisInputError, EventHashMismatch

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
HASH_ALGORITHM_VERSION = "CBV2.0"

# Prefixes the standard EPCIS 2.0 context defines, for CURIEs a document uses without
# declaring them again (README rule 15).
STANDARD_PREFIXES: Mapping[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": cbv.CBV_WEB_PREFIX,
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": cbv.GS1_VOC_PREFIX,
}

_EPCS = (("epc", None),)
_QUANTITIES = (("quantityElement", (("epcClass", None), ("quantity", None), ("uom", None))),)
_SENSOR_METADATA = tuple(
    (name, None)
    for name in (
        "time",
        "startTime",
        "endTime",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "bizRules",
    )
)
_SENSOR_REPORT = tuple(
    (name, None)
    for name in (
        "type",
        "exception",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "time",
        "microorganism",
        "chemicalSubstance",
        "value",
        "component",
        "stringValue",
        "booleanValue",
        "hexBinaryValue",
        "uriValue",
        "minValue",
        "maxValue",
        "meanValue",
        "sDev",
        "percRank",
        "percValue",
        "uom",
        "coordinateReferenceSystem",
    )
)
# The canonical property order. bizTransactionList, sourceList and destinationList are
# not here on purpose: the vectors put them among the sorted trailing elements.
_CANONICAL_ORDER: tuple[tuple[str, Any], ...] = (
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", _EPCS),
    ("inputEPCList", _EPCS),
    ("childEPCs", _EPCS),
    ("quantityList", _QUANTITIES),
    ("childQuantityList", _QUANTITIES),
    ("inputQuantityList", _QUANTITIES),
    ("outputEPCList", _EPCS),
    ("outputQuantityList", _QUANTITIES),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", (("set", None), ("unset", None))),
    ("readPoint", (("id", None),)),
    ("bizLocation", (("id", None),)),
    (
        "sensorElementList",
        (("sensorElement", (("sensorMetadata", _SENSOR_METADATA), ("sensorReport", _SENSOR_REPORT))),),
    ),
)
_TIMESTAMP_FIELDS = frozenset(("eventTime", "time", "startTime", "endTime"))
_NOT_HASHED = frozenset(("recordTime", "eventID", "type", "errorDeclaration"))
# Keys dropped wherever they appear: JSON renderings of XML comments.
_IGNORED_KEYS = frozenset(("#text", "comment", "rdfs:comment", "@context"))
# In these list elements the type comes first and the order is kept (rule 13).
_TYPED_ELEMENTS = {"bizTransactionList", "sourceList", "destinationList"}
_KEEP_ORDER_NAMES = frozenset(("bizTransaction", "source", "destination"))
# JSON list names whose elements the XML binding names differently.
_ELEMENT_NAMES = {
    "inputEPC": "epc",
    "outputEPC": "epc",
    "inputQuantity": "quantityElement",
    "outputQuantity": "quantityElement",
    "childQuantity": "quantityElement",
    "quantity": "quantityElement",
}


@dataclass(eq=False)
class _Node:
    """One element of the event in the XML data model: a name, a text value, children."""

    name: str
    text: str = ""
    children: list[_Node] = field(default_factory=list)
    keep_order: bool = False


def namespaces_of_context(context: object) -> dict[str, str]:
    """Prefix -> IRI from a JSON-LD `@context` value (string, object or array of them).

    Only simple `prefix: IRI` entries count; remote contexts named by URL add nothing
    beyond STANDARD_PREFIXES.
    """
    namespaces = dict(STANDARD_PREFIXES)
    entries = context if isinstance(context, list) else [context]
    for entry in entries:
        if isinstance(entry, Mapping):
            for prefix, iri in entry.items():
                if isinstance(iri, str) and not prefix.startswith("@") and not iri.startswith("@"):
                    namespaces[prefix] = iri
    return namespaces


def prehash_string(event: Mapping[str, Any], context: object = EPCIS_CONTEXT_URL) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON(-LD) event (CBV 2.0 §8.9).

    `context` is the `@context` of the document the event sits in: it defines the prefixes
    of the event's extension fields.
    """
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EpcisInputError("type", f"EPCIS event type: expected a string, found {event_type!r}")
    namespaces = namespaces_of_context(context)
    if "@context" in event:
        namespaces.update(namespaces_of_context(event["@context"]))
    root = _dict_node("event", expand_bare_terms(event), namespaces)
    ordered = _ordered(root.children, _CANONICAL_ORDER, top_level=True)
    rest = [n for n in root.children if n.name not in _NOT_HASHED]
    return f"eventType={event_type}{ordered}{_generic(rest)}"


def hash_id_of_prehash(prehash: str) -> str:
    """RFC 6920 `ni` URI of a pre-hash string with SHA-256, as CBV 2.0 §8.9 rule 22 writes it."""
    digest = hashlib.sha256(prehash.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_ALGORITHM_VERSION}"


def event_hash_id(event: Mapping[str, Any], context: object = EPCIS_CONTEXT_URL) -> str:
    """The EPCIS Event Hash ID of an event: `ni:///sha-256;<hex>?ver=CBV2.0`."""
    return hash_id_of_prehash(prehash_string(event, context))


def verify_event_hash_id(event: Mapping[str, Any], context: object = EPCIS_CONTEXT_URL) -> None:
    """Raise EventHashMismatch unless the event's eventID is its own Event Hash ID."""
    want = event_hash_id(event, context)
    found = event.get("eventID")
    if found != want:
        raise EventHashMismatch(
            f"eventID of {event.get('type')} at {event.get('eventTime')}: expected {want}, found {found!r}"
        )


# --- JSON -> element tree -------------------------------------------------------------


def _nodes(name: str, value: Any, namespaces: Mapping[str, str]) -> list[_Node]:
    if isinstance(value, list):
        if any(isinstance(item, list) for item in value):
            raise EpcisInputError(
                name, f"{name}: expected a value or an object in each list item, found a list"
            )
        return [n for item in value for n in _nodes(name, item, namespaces)]
    if isinstance(value, Mapping):
        return [_dict_node(name, value, namespaces)]
    return [_Node(name, _scalar_text(name, value, namespaces))]


def _dict_node(name: str, value: Mapping[str, Any], namespaces: Mapping[str, str]) -> _Node:
    children: list[_Node] = []
    for key, item in value.items():
        if key not in _IGNORED_KEYS:
            children.extend(_nodes(_expand_name(key, namespaces), item, namespaces))
    text = value.get("#text", "")
    node = _Node(name, _scalar_text(name, text, namespaces), _xml_shaped(children))
    node.keep_order = any(c.name in _KEEP_ORDER_NAMES for c in node.children)
    return node


def _xml_shaped(children: list[_Node]) -> list[_Node]:
    """Regroup JSON lists the way the XML binding nests them (one wrapper, named items).

    A JSON `xList` array is one `<xList>` holding `<x>` items in XML (EPCIS 2.0 §9),
    `childEPCs` holds `<epc>` items, and a list element of a typed list (bizTransaction,
    source, destination) is its type followed by its value.
    """
    shaped: list[_Node] = []
    lists: dict[str, _Node] = {}
    child_epcs: _Node | None = None
    for child in children:
        if child.name.endswith("List"):
            wrapper = lists.get(child.name)
            if wrapper is None:
                wrapper = lists[child.name] = _Node(child.name)
                shaped.append(wrapper)
            wrapper.children.append(_list_item(child))
        elif child.name == "childEPCs":
            if child_epcs is None:
                child_epcs = _Node("childEPCs")
                shaped.append(child_epcs)
            child_epcs.children.append(_Node("epc", child.text))
        else:
            shaped.append(child)
    return shaped


def _list_item(child: _Node) -> _Node:
    if child.name in _TYPED_ELEMENTS:
        types = [c for c in child.children if c.name == "type"]
        others = [c for c in child.children if c.name != "type"]
        return _Node("", "", types + others, keep_order=True)
    item_name = child.name[: -len("List")]
    if item_name == "quantity" and not child.children:
        return _Node(item_name, child.text)
    return _Node(_ELEMENT_NAMES.get(item_name, item_name), child.text, child.children)


def _expand_name(key: str, namespaces: Mapping[str, str]) -> str:
    """Rules 19-20: an extension key `prefix:local` is written `{namespace}local`."""
    prefix, colon, local = key.partition(":")
    if colon and prefix in namespaces:
        return "{" + namespaces[prefix] + "}" + local
    return key


def _scalar_text(name: str, value: Any, namespaces: Mapping[str, str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        prefix, colon, rest = value.partition(":")
        if colon and prefix in namespaces:
            return namespaces[prefix] + rest
        return value
    raise EpcisInputError(name, f"{name}: expected a string, number or boolean, found {value!r}")


# --- element tree -> pre-hash string --------------------------------------------------


def _is_extension(name: str) -> bool:
    # The reference implementation recognises an extension inside a standard field by
    # a namespace ending in '/'; the vectors are made with it, so we do the same.
    return "{" in name and "/}" in name


def _ordered(children: list[_Node], order: tuple[tuple[str, Any], ...], top_level: bool) -> str:
    """Emit `children` in `order`, consuming what is emitted; same-named siblings sorted.

    Inside a standard field (readPoint, sensorReport, ...) its extensions follow its own
    fields (rule 21). What remains unconsumed is emitted later by `_generic`.
    """
    extensions: list[_Node] = []
    if not top_level and len(children) > 1:
        extensions = [c for c in children if _is_extension(c.name)]
        children[:] = [c for c in children if not _is_extension(c.name)]
    out: list[str] = []
    for name, sub_order in order:
        rendered = []
        for child in [c for c in children if c.name == name]:
            text = _ordered_element(child, sub_order)
            if text:
                rendered.append(text)
            if not child.children:
                children.remove(child)
        out.extend(sorted(rendered))
    if extensions:
        out.append(_generic(extensions))
    return "".join(out)


def _ordered_element(node: _Node, sub_order: tuple[tuple[str, Any], ...] | None) -> str:
    inner = _ordered(node.children, sub_order, top_level=False) if sub_order else ""
    text = node.text.strip()
    if text:
        value = (
            normalise_timestamp(node.name, text) if node.name in _TIMESTAMP_FIELDS else canonical_value(text)
        )
        text = "=" + value
    return node.name + text + inner if text or inner else ""


def _generic(nodes: list[_Node], keep_order: bool = False) -> str:
    """Rules 19-20: `name=value` plus children, siblings in code-point order."""
    parts = []
    for node in nodes:
        text = node.text.strip()
        value = "=" + canonical_value(text) if text else ""
        parts.append(node.name + value + _generic(node.children, node.keep_order))
    if not keep_order:
        parts.sort()
    return "".join(parts)
