"""People: users belong to one organisation and hold roles; passwords are hashed with scrypt.

Roles: `admin` manages the organisation's users and tokens, `recorder` records events,
`viewer` reads. What an organisation may record is decided by its kind (trace.rules);
roles decide which of its people may act for it. The console calls `authenticate`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import AuthenticationFailed, InvalidInput, NotPermitted, RuleViolation
from farmtrace.trace.events.fields import Pattern, Slug, Text
from farmtrace.trace.events.schema import PayloadSchema, load_payload
from farmtrace.trace.models.accounts import User

ROLES = ("admin", "recorder", "viewer")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,31}\Z")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
# scrypt cost: 2**14 x 8 x 1 takes ~50 ms and 16 MiB, the interactive-login setting of RFC 7914 §2.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_DUMMY_HASH = None  # computed on first use, to spend as long on unknown users as on known ones


class UserSchema(PayloadSchema):
    org = Slug(required=True)
    username = Pattern(USERNAME, "3-32 lower-case letters, digits, '.', '_' or '-'", required=True)
    display_name = Text(100, required=True)
    password = fields.String(required=True)
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES, error="expected one of {choices}, found {input!r}")),
        required=True,
        validate=validate.Length(min=1, max=len(ROLES), error="expected 1 to 3 roles"),
    )


def hash_password(password: str, field: str = "password") -> str:
    """scrypt$N$r$p$salt$hash, salt and hash in base64."""
    _check_password(password, field)
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        found = _scrypt(password[:MAX_PASSWORD], base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, found)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_password(password: object, field: str) -> None:
    if not isinstance(password, str):
        raise InvalidInput(field, f"{field}: expected text")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            field, f"{field}: expected at least {MIN_PASSWORD} characters, found {len(password)}"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            field, f"{field}: expected at most {MAX_PASSWORD} characters, found {len(password)}"
        )


class AccountService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def add_user(self, actor: str, data: dict[str, Any]) -> User:
        """Add a user to an organisation: the operator may add to any, others only to their own."""
        actor_org = self.ctx.active_org(actor)
        values = load_payload(UserSchema(), data, prefix="user")
        password_hash = hash_password(values["password"], "user.password")
        if values["org"] != actor and actor_org.kind != "operator":
            raise NotPermitted("user.org", f"user.org: {actor} may add users only to itself", "own_org_only")
        self.ctx.active_org(values["org"], "user.org")
        if self.session.scalars(select(User).where(User.username == values["username"])).first() is not None:
            raise RuleViolation("user.username", f"user.username: {values['username']} is taken", "exists")
        user = User(
            org_id=values["org"],
            username=values["username"],
            display_name=values["display_name"],
            password_hash=password_hash,
            roles=" ".join(r for r in ROLES if r in values["roles"]),
            active=True,
            created_at=self.ctx.now(),
        )
        self.session.add(user)
        self.session.flush()
        return user

    def set_password(self, username: str, password: str) -> User:
        user = self._user(username)
        user.password_hash = hash_password(password)
        self.session.flush()
        return user

    def set_active(self, username: str, active: bool) -> User:
        user = self._user(username)
        user.active = active
        self.session.flush()
        return user

    def users(self, org: str) -> list[User]:
        return list(self.session.scalars(select(User).where(User.org_id == org).order_by(User.username)))

    def _user(self, username: str) -> User:
        user = self.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise InvalidInput("username", f"username: no user {username!r}")
        return user

    def authenticate(self, username: str, password: str) -> User:
        return authenticate(self.ctx, username, password)


def authenticate(ctx: TraceContext, username: str, password: str) -> User:
    """The active user with this name and password; AuthenticationFailed (saying only that) otherwise.

    An unknown name costs the same scrypt work as a wrong password, so timing does not tell
    which names exist. The caller commits (last_login_at is updated).
    """
    global _DUMMY_HASH
    failure = AuthenticationFailed("the user name or password is not correct")
    if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64:
        raise failure
    user = ctx.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("x" * MIN_PASSWORD)
        verify_password(_DUMMY_HASH, password)
        raise failure
    if not verify_password(user.password_hash, password):
        raise failure
    org = ctx.org(user.org_id, "user.org")
    if not user.active or not org.active:
        raise failure
    user.last_login_at = ctx.now()
    ctx.session.flush()
    return user
