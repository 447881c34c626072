"""Every blueprint of the API, in the order the docs page lists them."""

from __future__ import annotations

from farmtrace.web.api import meta

BLUEPRINTS = [meta.bp]
