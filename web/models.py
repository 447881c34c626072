"""Imports every module that defines tables, so that `farmtrace.ledger.db.metadata` is complete.

Alembic's env.py and the schema-drift test import this; add each new model module here.
"""

import farmtrace.ledger.models
import farmtrace.trace.codes.models
import farmtrace.trace.models.accounts
import farmtrace.trace.models.complaints
import farmtrace.trace.models.printing
import farmtrace.trace.models.projection
import farmtrace.trace.models.registry
import farmtrace.trace.reports.indexes
import farmtrace.web.api.models
import farmtrace.web.console.models
import farmtrace.web.ratelimit  # noqa: F401
from farmtrace.ledger.db import metadata

__all__ = ["metadata"]
