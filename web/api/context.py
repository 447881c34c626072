"""The request's TraceContext: its session, the key store under the master key, a clock.

The master key file is read once per application (it never changes while running); the
session is the request's own (farmtrace.web.db), so the request owns the transaction.
"""

from __future__ import annotations

from flask import current_app, g

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.context import TraceContext
from farmtrace.web.db import get_session
from farmtrace.web.settings import Settings

MASTER_KEY_FILE = "master.key"


def master_key() -> MasterKey:
    cached = current_app.extensions.get("farmtrace.master_key")
    if cached is None:
        settings: Settings = current_app.config["FARMTRACE"]
        cached = MasterKey.load_or_create(settings.keys_dir / MASTER_KEY_FILE)
        current_app.extensions["farmtrace.master_key"] = cached
    return cached


def trace_context() -> TraceContext:
    """One TraceContext per request, over the request's session."""
    if "trace_context" not in g:
        session = get_session()
        g.trace_context = TraceContext(session=session, keystore=KeyStore(session, master_key()))
    return g.trace_context
