"""Every blueprint of the API, in the order the docs page lists them."""

from __future__ import annotations

from farmtrace.web.api import (
    batches,
    codes,
    complaints,
    documents,
    entries,
    events,
    flows,
    meta,
    orgs,
    registry,
)

BLUEPRINTS = [
    meta.bp,
    orgs.bp,
    registry.bp,
    batches.bp,
    events.bp,
    flows.bp,
    codes.bp,
    complaints.bp,
    documents.bp,
    entries.bp,
]
