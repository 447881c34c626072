"""Who is signed in, and which console areas their organisation and roles open.

Areas follow the organisation's kind (docs/domain.md): producers see the cooperative
pages, labs the lab pages, packing stations the packing pages, the county operator the
operator pages; every kind that can hold custody of a batch (all but labs) sees the
logistics pages, because the custodian is who records a hand-off. Within an area, a user's
roles decide what they may change: `viewer` only reads; `recorder` and `admin` record;
the operator's people, organisations, tokens and keys need `admin`.

A session is valid only while its generation matches the user's row in
console_session_generation: "log out everywhere" (and a password reset, or deactivating
the user) bumps it, and every cookie signed before is refused on its next request. Each
sign-in also gets a random session id; signing out records it in console_ended_session,
so that a copy of the cookie taken before is refused too (the cookie itself is only
cleared in the browser that signed out).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from farmtrace.trace.models.accounts import User
from farmtrace.trace.models.registry import Org
from farmtrace.trace.orgs import ORG_KINDS, PRODUCER_KINDS
from farmtrace.web.console.models import EndedSession, SessionGeneration
from farmtrace.web.console.sessions import SESSION_ABSOLUTE_LIFETIME
from farmtrace.web.db import get_session

F = TypeVar("F", bound=Callable[..., Any])

# area -> organisation kinds that may open it, in the order the navigation lists them.
AREAS: dict[str, tuple[str, ...]] = {
    "coop": PRODUCER_KINDS,
    "lab": ("lab",),
    "logistics": tuple(kind for kind in ORG_KINDS if kind != "lab"),
    "packing": ("packing_station", "operator"),
    "operator": ("operator",),
}
WRITER_ROLES = frozenset({"recorder", "admin"})


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    org_id: str
    org_kind: str
    org_name: str

    @property
    def areas(self) -> tuple[str, ...]:
        return tuple(area for area, kinds in AREAS.items() if self.org_kind in kinds)

    def may_open(self, area: str) -> bool:
        return self.org_kind in AREAS[area]

    @property
    def may_record(self) -> bool:
        return bool(self.roles & WRITER_ROLES)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def now() -> datetime:
    """The console's clock (tests set CONSOLE_CLOCK to move it)."""
    clock = current_app.config.get("CONSOLE_CLOCK")
    return clock() if clock is not None else datetime.now(UTC)


def current_user() -> ConsoleUser | None:
    return g.get("console_user")


def user() -> ConsoleUser:
    """The signed-in user of a view behind @require."""
    found = current_user()
    assert found is not None, "view not behind @require"
    return found


def generation(db: Session, user_id: int) -> int:
    row = db.get(SessionGeneration, user_id)
    return 0 if row is None else row.generation


def bump_generation(db: Session, user_id: int) -> int:
    """End every session of the user (log out everywhere); returns the new generation."""
    row = db.get(SessionGeneration, user_id)
    if row is None:
        db.add(SessionGeneration(user_id=user_id, generation=1))
        db.flush()
        return 1
    db.execute(
        update(SessionGeneration)
        .where(SessionGeneration.user_id == user_id)
        .values(generation=SessionGeneration.generation + 1)
    )
    db.refresh(row)
    return row.generation


def start_session(db: Session, account: User) -> None:
    """Sign `account` in on this browser: a fresh session, bound to the current generation."""
    session.clear()
    session.permanent = True
    session["uid"] = account.id
    session["gen"] = generation(db, account.id)
    session["auth_at"] = int(now().timestamp())
    session["sid"] = secrets.token_urlsafe(16)


def end_session(db: Session) -> None:
    """Sign this session out for good: its id is refused from now on, by every worker, even
    in a copy of the cookie. Ids of sessions that have reached their absolute lifetime are
    forgotten here (they are refused by age anyway)."""
    sid, auth_at = session.get("sid"), session.get("auth_at")
    session.clear()
    if not isinstance(sid, str) or not isinstance(auth_at, int):
        return
    db.execute(delete(EndedSession).where(EndedSession.expires_at < now()))
    if db.get(EndedSession, sid) is None:
        expires = datetime.fromtimestamp(auth_at, UTC) + SESSION_ABSOLUTE_LIFETIME
        db.add(EndedSession(session_id=sid, expires_at=expires))
    db.flush()


def load_user() -> None:
    """before_request: the signed-in user, or None when the session is absent or no longer valid."""
    g.console_user = None
    uid = session.get("uid")
    if uid is None:
        return
    db = get_session()
    account = db.get(User, uid) if isinstance(uid, int) else None
    org = None if account is None else db.get(Org, account.org_id)
    auth_at = session.get("auth_at")
    fresh = (
        isinstance(auth_at, int) and now().timestamp() - auth_at < SESSION_ABSOLUTE_LIFETIME.total_seconds()
    )
    sid = session.get("sid")
    if (
        account is None
        or org is None
        or not account.active
        or not org.active
        or not fresh
        or session.get("gen") != generation(db, account.id)
        or not isinstance(sid, str)
        or db.get(EndedSession, sid) is not None
    ):
        session.clear()
        return
    g.console_user = ConsoleUser(
        id=account.id,
        username=account.username,
        display_name=account.display_name,
        roles=account.role_set,
        org_id=org.id,
        org_kind=org.kind,
        org_name=org.name_zh,
    )


def require(area: str | None = None, *, write: bool = False, admin: bool = False) -> Callable[[F], F]:
    """Sign-in, the area's organisation kinds, and (for writes) a recording or admin role.

    Not signed in: to the login page (GET) or 401. Signed in but not allowed: 403.
    """
    if area is not None and area not in AREAS:
        raise ValueError(f"unknown console area {area!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            found = current_user()
            if found is None:
                if request.method == "GET":
                    return redirect(url_for("console.auth.login", next=request.full_path.rstrip("?")))
                abort(401)
            if area is not None and not found.may_open(area):
                abort(403)
            if admin and not found.is_admin:
                abort(403)
            if write and not found.may_record:
                abort(403)
            return view(*args, **kwargs)

        guarded.console_area = area  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def safe_next(target: str | None) -> str | None:
    """A path inside the console to return to after login; anything else (other sites) is dropped."""
    if not target or not target.startswith("/console/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 0x20 for char in target):
        return None
    return target
