"""Bearer-token authentication and scopes.

Tokens are issued by the domain (farmtrace.trace.tokens: shown once, stored as SHA-256);
here a request's `Authorization: Bearer <token>` is checked by TokenService.authenticate
(an indexed lookup of the token's SHA-256, so comparing secrets never happens byte by
byte in Python, and an unknown, revoked or expired token are refused alike). A token acts
for its organisation; what that organisation may record is then decided by the domain's
rules (its kind, ownership, custody), and which operations the token may call by its
scopes (SCOPE_DESCRIPTIONS). Views declare their scope with @requires(scope), which also
documents it in the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest.utils import deepupdate
from sqlalchemy import select

from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import AuthenticationFailed
from farmtrace.trace.models.accounts import ApiToken
from farmtrace.trace.tokens import LAST_USED_RESOLUTION, SCOPES, TokenService, token_hash
from farmtrace.web.api.context import master_key, trace_context
from farmtrace.web.api.errors import ScopeMissing, Unauthenticated
from farmtrace.web.db import SAFE_METHODS, get_session

SECURITY_SCHEME = "bearerAuth"
# What an issued token looks like (farmtrace.trace.tokens): anything else is refused unread.
TOKEN_SHAPE = re.compile(r"ft_[A-Za-z0-9_-]{43}\Z")

# What each scope of farmtrace.trace.tokens.SCOPES lets a token call. The domain's rules
# still apply on top: a lab token with events:write cannot record a harvest.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "batches:read": "Read organisations, places, products, batches, events, lineage, recalls and codes.",
    "batches:write": "Register batches and products; split, merge and transform batches; issue and lift recalls.",
    "events:write": "Record events on batches (farming, processing, packing, logistics, sale) and signed entries.",
    "lab:write": "Record lab results, certifications and conformity decisions; upload lab reports.",
    "codes:write": "Issue, void and look up code ranges for a batch.",
    "export:read": "Export batches as EPCIS 2.0 documents and proof bundles.",
    "admin": "Manage the organisation: users, tokens and keys (the operator's token: every organisation).",
}
for _scope in SCOPES:
    SCOPE_DESCRIPTIONS.setdefault(_scope, _scope)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the organisation behind a token, with the token's scopes."""

    token_id: str
    org_id: str
    user_id: int | None
    scopes: frozenset[str]

    @classmethod
    def of(cls, token: ApiToken) -> Principal:
        return cls(token.id, token.org_id, token.user_id, token.scope_set)


def load_principal() -> None:
    """before_request: authenticate the bearer token if one is sent (a bad one is a 401)."""
    g.api_principal = None
    header = request.headers.get("Authorization")
    if header is None:
        return
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(
            "Authorization: expected 'Bearer <token>' with a farmtrace API token", "Authorization"
        )
    g.api_principal = Principal.of(_authenticate(secret.strip()))


def _authenticate(secret: str) -> ApiToken:
    if not TOKEN_SHAPE.match(secret):
        raise Unauthenticated(
            "Authorization: the API token is not valid (unknown, revoked or expired)", "Authorization"
        )
    try:
        if request.method in SAFE_METHODS and _needs_touch(secret):
            return _authenticate_and_touch(secret)
        return TokenService(trace_context()).authenticate(secret)
    except AuthenticationFailed:
        raise Unauthenticated(
            "Authorization: the API token is not valid (unknown, revoked or expired)", "Authorization"
        ) from None


def _needs_touch(secret: str) -> bool:
    """Whether authenticating will write last_used_at (at most once a minute per token)."""
    row = (
        get_session()
        .execute(select(ApiToken.id, ApiToken.last_used_at).where(ApiToken.token_hash == token_hash(secret)))
        .first()
    )
    if row is None:
        return False  # unknown: refused without any write
    last = row.last_used_at
    if last is None:
        return True
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return datetime.now(UTC) - last >= LAST_USED_RESOLUTION


def _authenticate_and_touch(secret: str) -> ApiToken:
    # A read request's session must not write (on SQLite it holds a read snapshot), so the
    # once-a-minute last_used_at update gets its own short write transaction.
    _readers, writers = current_app.extensions["farmtrace.sessions"]
    with writers() as session:
        token = TokenService(TraceContext(session, KeyStore(session, master_key()))).authenticate(secret)
        session.commit()
        return token


def current_principal() -> Principal:
    principal = g.get("api_principal")
    if principal is None:
        raise Unauthenticated(
            "Authorization: this operation needs a bearer token (Authorization: Bearer ft_...)"
        )
    return principal


def check_scope(*scopes: str) -> Principal:
    """The request's principal, if its token holds one of `scopes`; else 401 or 403."""
    principal = current_principal()
    if not principal.scopes.intersection(scopes):
        wanted = " or ".join(repr(s) for s in scopes)
        raise ScopeMissing(
            f"Authorization: this operation needs a token with the scope {wanted}; "
            f"this token holds {', '.join(sorted(principal.scopes)) or 'none'}",
            scopes[0],
        )
    return principal


def requires(*scopes: str) -> Callable[[F], F]:
    """The view needs a token holding one of `scopes`; documented as the operation's security."""
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; farmtrace.trace.tokens.SCOPES has {SCOPES}")

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_scope(*scopes)
            return func(*args, **kwargs)

        apidoc = deepcopy(getattr(func, "_apidoc", {}))
        apidoc["manual_doc"] = deepupdate(
            deepcopy(apidoc.get("manual_doc", {})),
            {
                "security": [{SECURITY_SCHEME: [scope]} for scope in scopes],
                "responses": {"401": "UNAUTHORIZED", "403": "FORBIDDEN"},
            },
        )
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
