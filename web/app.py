"""The application factory: the only place that calls Flask(...)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import Engine

from farmtrace.ledger.db import create_db_engine
from farmtrace.web import api, console, datawall, health, public, stats_feed, transparency, witnessing
from farmtrace.web.db import init_db
from farmtrace.web.i18n import init_i18n
from farmtrace.web.logging import init_request_logging
from farmtrace.web.metrics import init_metrics
from farmtrace.web.problems import register_error_handlers
from farmtrace.web.ratelimit import init_rate_limits
from farmtrace.web.security import refuse_nul_in_pages, register_security_headers
from farmtrace.web.settings import Settings

MAX_REQUEST_BYTES = 12 * 1024 * 1024  # a lab report PDF plus headroom


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        JSON_AS_ASCII=False,
        FARMTRACE=settings,
    )
    # Console sessions (docs/console.md): signed with a key from keys_dir/session.key, made
    # on first use; the cookie is Secure whenever the public URL is https.
    app.config.update(
        SESSION_COOKIE_NAME="__Host-ft_session" if settings.secure_cookies else "ft_session",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=console.SESSION_IDLE_LIFETIME,
    )
    app.session_interface = console.KeyFileSessionInterface(settings.session_key_file)
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    init_request_logging(app)  # first: its after_request hook then runs last
    init_metrics(app, settings)
    init_db(app, engine or create_db_engine(settings.database_url))
    init_rate_limits(app)  # before the API's hooks: limits are checked before authentication
    init_i18n(app)
    register_error_handlers(app)
    register_security_headers(app)
    refuse_nul_in_pages(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(public.bp)
    api.init_app(app)
    app.register_blueprint(console.bp)
    app.register_blueprint(transparency.bp)
    app.register_blueprint(witnessing.bp)
    app.register_blueprint(stats_feed.bp)
    app.register_blueprint(datawall.bp)
    return app
