"""Imports every module that defines tables, so that `farmtrace.ledger.db.metadata` is complete.

Alembic's env.py and the schema-drift test import this; add each new model module here.
"""

import farmtrace.ledger.models  # noqa: F401
import farmtrace.trace.codes.models  # noqa: F401
import farmtrace.trace.models.accounts  # noqa: F401
import farmtrace.trace.models.complaints  # noqa: F401
import farmtrace.trace.models.printing  # noqa: F401
import farmtrace.trace.models.projection  # noqa: F401
import farmtrace.trace.models.registry  # noqa: F401
import farmtrace.trace.reports.indexes  # noqa: F401
import farmtrace.web.api.models  # noqa: F401
import farmtrace.web.console.models  # noqa: F401
import farmtrace.web.ratelimit  # noqa: F401
from farmtrace.ledger.db import metadata

__all__ = ["metadata"]
