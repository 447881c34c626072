"""The request's trace services (farmtrace.trace.services) over the request's session.

The master key file is read once per application (it never changes while running); the
session is the request's own (farmtrace.web.db), so the request owns the transaction.
"""

from __future__ import annotations

from flask import current_app, g

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.context import TraceContext
from farmtrace.trace.services import TraceServices, trace_services
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


def services() -> TraceServices:
    """Every trace service, over the request's session; one set per request."""
    if "trace_services" not in g:
        session = get_session()
        g.trace_services = trace_services(session, KeyStore(session, master_key()))
    return g.trace_services


def trace_context() -> TraceContext:
    return services().ctx


def settings() -> Settings:
    return current_app.config["FARMTRACE"]
