"""API tokens for machine clients (lab software, scripts): shown once, stored as SHA-256,
scoped, revocable, with the time they were last used. A token issued for a user (user_id)
is refused while that user is deactivated.

A token is "ft_" and 43 URL-safe characters (256 random bits), so it needs no slow hash:
SHA-256 of a secret that long cannot be brute-forced, and lookup is one indexed query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import AuthenticationFailed, InvalidInput, NotFound, NotPermitted
from farmtrace.trace.models.accounts import ApiToken, User
from farmtrace.trace.text import clean_text

SCOPES = ("batches:read", "batches:write", "events:write", "lab:write", "codes:write", "export:read", "admin")
TOKEN_PREFIX = "ft_"  # noqa: S105 - a public prefix, not a secret
_TOKEN = re.compile(r"ft_[A-Za-z0-9_-]{43}\Z")
# last_used_at is refreshed at most this often, so a busy client is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # show it once; it is not stored


def token_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


class TokenService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def issue(
        self,
        actor: str,
        org_id: str,
        name: str,
        scopes: list[str],
        *,
        user_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedToken:
        actor_org = self.ctx.active_org(actor)
        if org_id != actor and actor_org.kind != "operator":
            raise NotPermitted("org", f"org: {actor} may issue tokens only for itself", "own_org_only")
        self.ctx.active_org(org_id, "org")
        label = clean_text("name", name, max_length=100)
        if not scopes:
            raise InvalidInput("scopes", f"scopes: expected at least one of {', '.join(SCOPES)}")
        for scope in scopes:
            if scope not in SCOPES:
                raise InvalidInput("scopes", f"scopes: expected one of {', '.join(SCOPES)}, found {scope!r}")
        if user_id is not None:
            user = self.session.get(User, user_id)
            if user is None or user.org_id != org_id:
                raise InvalidInput("user_id", f"user_id: no user {user_id} in {org_id}")
        now = self.ctx.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires_at", "expires_at: must be in the future")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            id="tok_" + secrets.token_hex(8),
            org_id=org_id,
            user_id=user_id,
            name=label,
            token_hash=token_hash(secret),
            scopes=" ".join(s for s in SCOPES if s in scopes),
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(token)
        self.session.flush()
        return IssuedToken(token, secret)

    def authenticate(self, secret: str, scope: str | None = None) -> ApiToken:
        """The live token for `secret`, holding `scope` if given; AuthenticationFailed otherwise."""
        if not isinstance(secret, str) or not _TOKEN.match(secret):
            raise AuthenticationFailed("the API token is not valid")
        token = self.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == token_hash(secret))
        ).first()
        now = self.ctx.now()
        if token is None or token.revoked_at is not None or _expired(token, now):
            raise AuthenticationFailed("the API token is not valid")
        org = self.ctx.org(token.org_id, "org")
        if not org.active:
            raise AuthenticationFailed("the API token is not valid")
        # A token issued for a user stops with the user, as their console sessions do.
        user = None if token.user_id is None else self.session.get(User, token.user_id)
        if token.user_id is not None and (user is None or not user.active):
            raise AuthenticationFailed("the API token is not valid")
        if scope is not None and scope not in token.scope_set:
            raise NotPermitted("scope", f"scope: this token does not hold {scope!r}", "scope")
        last = _aware(token.last_used_at)
        if last is None or now - last >= LAST_USED_RESOLUTION:
            token.last_used_at = now
            self.session.flush()
        return token

    def revoke(self, actor: str, token_id: str) -> ApiToken:
        token = self.session.get(ApiToken, token_id) if isinstance(token_id, str) else None
        if token is None:
            raise NotFound("token", f"token: no token {token_id!r}")
        actor_org = self.ctx.active_org(actor)
        if token.org_id != actor and actor_org.kind != "operator":
            raise NotPermitted("token", f"token: {token_id} belongs to {token.org_id}", "own_org_only")
        if token.revoked_at is None:
            token.revoked_at = self.ctx.now()
            self.session.flush()
        return token

    def list(self, org_id: str) -> list[ApiToken]:
        return list(
            self.session.scalars(
                select(ApiToken).where(ApiToken.org_id == org_id).order_by(ApiToken.created_at)
            )
        )


def _aware(moment: datetime | None) -> datetime | None:
    from datetime import UTC

    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _expired(token: ApiToken, now: datetime) -> bool:
    expires = _aware(token.expires_at)
    return expires is not None and now >= expires
