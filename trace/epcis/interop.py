"""Keep built documents hashable alike by the reference EPCIS Event Hash ID implementation.

The reference implementation (RalphTro/epcis-event-hash-generator 1.9.3, which made the
published vectors) expands bare CBV terms by JSON-LD-expanding the whole document and
then replacing *every* string anywhere in it that is the last segment of exactly one
expanded CBV/GS1 vocabulary URI (`https://ref.gs1.org/cbv/Disp-recalled` ends in
`-recalled`). So an extension value "recalled" in a document whose events use the
disposition `recalled` is hashed there as `https://ref.gs1.org/cbv/Disp-recalled`, and
here (which expands terms only where the JSON-LD context says they are vocabulary) as
"recalled". The builder refuses such a document rather than publish eventIDs a third
party cannot recompute.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from farmtrace.trace.epcis import cbv
from farmtrace.trace.epcis.hash_values import expand_bare_terms
from farmtrace.trace.errors import EpcisInputError

_VOCABULARY_PREFIXES = (cbv.CBV_WEB_PREFIX, cbv.GS1_VOC_PREFIX)


def check_reference_hash_agreement(events: Sequence[Mapping[str, Any]]) -> None:
    """Raise EpcisInputError naming the first text value the reference would rewrite."""
    expanded = [expand_bare_terms(event) for event in events]
    vocabulary = {
        value
        for event in expanded
        for _, value in _leaves(event, "")
        if isinstance(value, str) and value.startswith(_VOCABULARY_PREFIXES)
    }
    for event, expanded_event in zip(events, expanded, strict=True):
        expanded_leaves = dict(_leaves(expanded_event, ""))
        for path, value in _leaves(event, ""):
            if not isinstance(value, str) or expanded_leaves.get(path) != value:
                continue  # a term we expand ourselves
            matches = [uri for uri in vocabulary if uri.endswith(("-" + value, "/" + value))]
            if len(matches) == 1:
                raise EpcisInputError(
                    path,
                    f"{path}: the text {value!r} is also a vocabulary term of this document "
                    f"({matches[0]}); the reference Event Hash ID implementation would hash it "
                    "as that URI, so write it differently",
                )


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value
