"""Cross-site request forgery protection: the synchronizer-token pattern (OWASP CSRF cheat sheet).

Each session holds one random token (32 bytes from `secrets`); every form carries it in a
hidden field, and every state-changing request must send it back, compared in constant
time. A missing session token, a missing field or a mismatch is refused with 400 before
the view runs. The token is replaced at login and logout, so a token seen before login is
useless after it. SameSite=Lax cookies are a second line, not the defence.

Only blueprints that call `protect(bp)` are checked: the console does; the JSON API (bearer
tokens, no cookies) and the witness endpoints (signed notes) do not need it. Other pages
that post forms with the session (the scan page's report form) may call `verify()` and use
`csrf_field()` in their templates.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, request, session
from markupsafe import Markup, escape
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRejected(BadRequest):
    """The form's CSRF token is missing or does not match the session's."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"csrf_token: {reason}")
        self.reason = reason


def token() -> str:
    """The session's token, made on first use."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        session[SESSION_KEY] = value
    return value


def rotate() -> str:
    """A new token for the session (at login and logout)."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


def csrf_field() -> Markup:
    # The token is URL-safe base64 and escaped all the same; FIELD is a constant.
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(token())}">')  # noqa: S704


def verify() -> None:
    """Raise CsrfRejected unless the request carries the session's token."""
    expected = session.get(SESSION_KEY)
    given = request.form.get(FIELD) or request.headers.get(HEADER)
    if not isinstance(expected, str) or not expected:
        raise CsrfRejected("this form has expired (no token in the session); reload the page and try again")
    if not given:
        raise CsrfRejected("the form carries no token; reload the page and try again")
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        raise CsrfRejected("the form's token does not match this session; reload the page and try again")


def protect(bp: Blueprint) -> None:
    """Check the token on every state-changing request to `bp` (and its nested blueprints)."""

    @bp.before_request
    def _check_csrf() -> None:
        if request.method not in SAFE_METHODS:
            verify()
