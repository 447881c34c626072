"""The county operator's people pages: organisations, their users, API tokens (shown once)
and signing keys (issue, rotate, revoke). Every change here needs the `admin` role."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask import Blueprint, abort, request, url_for
from sqlalchemy import select

from farmtrace.ledger.models import SealedKey
from farmtrace.trace.accounts import ROLES, UserSchema
from farmtrace.trace.complaints import ComplaintService
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.models.accounts import User
from farmtrace.trace.models.registry import Org, Place
from farmtrace.trace.orgs import ORG_KINDS, OrgSchema
from farmtrace.trace.text import clean_text
from farmtrace.trace.tokens import SCOPES
from farmtrace.web.console import queries, throttle
from farmtrace.web.console.access import bump_generation, now, require, user
from farmtrace.web.console.forms import CST, Field, bind, choices, describe
from farmtrace.web.console.pages import attempt, done, page, svc
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("operator", __name__, url_prefix="/operator")
ADMIN = {"write": True, "admin": True}


@bp.get("/")
@require("operator")
def index() -> tuple[str, int]:
    from farmtrace.web.console import _public_links

    db = get_session()
    counts = queries.counts(db)
    counts["complaints"] = ComplaintService(svc().ctx).count_open()
    return page("operator/index.html", counts=counts, links=_public_links())


# -- organisations ---------------------------------------------------------------------------


def _org_fields() -> list[Field]:
    places = get_session().scalars(select(Place).order_by(Place.id))
    orgs = svc().orgs.list()
    return describe(
        OrgSchema(),
        ["id", "kind", "name_zh", "name_en", "place", "parent", "poverty_household"],
        overrides={
            "kind": {"choices": tuple((k, v[0]) for k, v in ORG_KINDS.items() if k != "operator")},
            "place": {"widget": "select", "choices": tuple((p.id, f"{p.name_zh}（{p.id}）") for p in places)},
            "parent": {"widget": "select", "choices": tuple((o.id, o.name_zh) for o in orgs)},
            "id": {"help": translate("operator.org_id_help")},
        },
    )


@bp.get("/orgs")
@require("operator")
def orgs() -> tuple[str, int]:
    return _orgs_page(bind(_org_fields()), [])


def _orgs_page(fields: list[Field], general: list[str], status: int = 200) -> tuple[str, int]:
    return page(
        "operator/orgs.html", status, orgs=svc().orgs.list(), kinds=ORG_KINDS, fields=fields, general=general
    )


@bp.post("/orgs")
@require("operator", **ADMIN)
def register_org() -> Any:
    outcome = attempt(_org_fields(), lambda data: svc().orgs.register(user().org_id, data), prefix="org")
    if not outcome.ok:
        return _orgs_page(outcome.fields, outcome.general, 422)
    org = outcome.value
    return done(
        translate("operator.org_registered", org=org.id), url_for("console.operator.org", org_id=org.id)
    )


# -- one organisation: users, tokens, keys -----------------------------------------------------


def _user_fields() -> list[Field]:
    return describe(
        UserSchema(),
        ["username", "display_name", "password", "roles"],
        overrides={
            "password": {"widget": "password", "help": translate("operator.password_help")},
            "roles": {"choices": choices(ROLES)},
        },
    )


def _token_fields() -> list[Field]:
    return [
        Field("name", translate("field.token_name"), "text", required=True, max_length=100),
        Field("scopes", translate("field.scopes"), "checkboxes", required=True, choices=choices(SCOPES)),
        Field("expires_at", translate("field.expires_at"), "date", help=translate("operator.expires_help")),
    ]


def _key_reason_fields() -> list[Field]:
    return [Field("reason", translate("field.reason"), "text", required=True, max_length=200)]


def _org_or_404(org_id: str) -> Org:
    org = get_session().get(Org, org_id) if len(org_id) <= 48 else None
    if org is None:
        abort(404)
    return org


def _org_page(
    org: Org, status: int = 200, active: str | None = None, outcome: Any = None, secret: str | None = None
) -> tuple[str, int]:
    db = get_session()
    services = svc()
    users = services.accounts.users(org.id)
    moment = now()
    locks = {u.id: throttle.locked_until(db, throttle.user_key(u.username), moment) for u in users}
    keys = services.ctx.keystore.public_keys(org.id)
    custodial = set(db.scalars(select(SealedKey.key_id).where(SealedKey.org == org.id)))
    forms = {
        "user": bind(_user_fields(), {"roles": ["recorder"]}),
        "token": bind(_token_fields()),
        "key_revoke": bind(_key_reason_fields()),
    }
    if outcome is not None and active in forms:
        forms[active] = outcome.fields
    return page(
        "operator/org.html",
        status,
        org=org,
        kind=ORG_KINDS[org.kind],
        users=users,
        locks=locks,
        tokens=services.tokens.list(org.id),
        keys=keys,
        custodial=custodial,
        forms=forms,
        active=active,
        general=[] if outcome is None else outcome.general,
        secret=secret,
        password_fields=bind(
            [Field("new_password", translate("field.new_password"), "password", required=True)]
        ),
    )


@bp.get("/orgs/<org_id>")
@require("operator")
def org(org_id: str) -> tuple[str, int]:
    return _org_page(_org_or_404(org_id))


@bp.post("/orgs/<org_id>/users")
@require("operator", **ADMIN)
def add_user(org_id: str) -> Any:
    target = _org_or_404(org_id)

    def action(data: dict[str, Any]) -> Any:
        return svc().accounts.add_user(user().org_id, {**data, "org": target.id})

    outcome = attempt(_user_fields(), action, prefix="user")
    if not outcome.ok:
        return _org_page(target, 422, "user", outcome)
    return done(
        translate("operator.user_added", user=outcome.value.username),
        url_for("console.operator.org", org_id=org_id),
    )


@bp.post("/users/<int:user_id>/<action>")
@require("operator", **ADMIN)
def user_action(user_id: int, action: str) -> Any:
    db = get_session()
    account = db.get(User, user_id)
    if account is None or action not in ("activate", "deactivate", "password", "unlock", "logout"):
        abort(404)
    accounts = svc().accounts
    if action == "password":
        try:
            accounts.set_password(account.username, request.form.get("new_password", ""))
        except InvalidInput as exc:
            target = _org_or_404(account.org_id)
            return _org_page(target, 422, None, _Failed([exc.message]))
    if action in ("activate", "deactivate"):
        accounts.set_active(account.username, action == "activate")
    if action == "unlock":
        throttle.clear(db, throttle.user_key(account.username))
    if action in ("deactivate", "password", "logout"):
        bump_generation(db, account.id)
    message = translate(f"operator.user_{action}", user=account.username)
    return done(message, url_for("console.operator.org", org_id=account.org_id))


class _Failed:
    def __init__(self, general: list[str]) -> None:
        self.general = general
        self.fields: list[Field] = []


@bp.post("/orgs/<org_id>/tokens")
@require("operator", **ADMIN)
def issue_token(org_id: str) -> Any:
    target = _org_or_404(org_id)

    def action(data: dict[str, Any]) -> Any:
        expires = data.get("expires_at")
        if expires is not None:
            try:
                day = datetime.fromisoformat(expires).date()
            except ValueError:
                raise InvalidInput(
                    "expires_at", f"expires_at: expected a date like 2027-06-30, found {expires!r}"
                ) from None
            expires = datetime.combine(day, time(23, 59, 59), CST)
        return svc().tokens.issue(
            user().org_id, target.id, data.get("name", ""), data.get("scopes", []), expires_at=expires
        )

    outcome = attempt(_token_fields(), action, prefix="")
    if not outcome.ok:
        return _org_page(target, 422, "token", outcome)
    # Shown on this response only: it is not stored, and the page is not cached (no-store).
    return _org_page(target, 201, None, None, secret=outcome.value.secret)


@bp.post("/tokens/<token_id>/revoke")
@require("operator", **ADMIN)
def revoke_token(token_id: str) -> Any:
    token = svc().tokens.revoke(user().org_id, token_id)
    return done(
        translate("operator.token_revoked", token=token.id),
        url_for("console.operator.org", org_id=token.org_id),
    )


@bp.post("/orgs/<org_id>/keys/<action>")
@require("operator", **ADMIN)
def key_action(org_id: str, action: str) -> Any:
    target = _org_or_404(org_id)
    keystore = svc().ctx.keystore
    if action == "rotate":
        key = keystore.rotate(target.id)
    elif action == "issue":
        key = keystore.create_org_key(target.id)
    else:
        abort(404)
    return done(
        translate(f"operator.key_{action}", key=key.key_id), url_for("console.operator.org", org_id=org_id)
    )


@bp.post("/keys/<key_id>/revoke")
@require("operator", **ADMIN)
def revoke_key(key_id: str) -> Any:
    record = svc().ctx.ledger.key(key_id) if len(key_id) <= 64 else None
    if record is None:
        abort(404)
    if record.role != "org":
        abort(403)  # the root and log keys are managed with `farmtrace keys`, not a click
    target = _org_or_404(record.org)

    def action(data: dict[str, Any]) -> Any:
        reason = clean_text("reason", data.get("reason", ""), max_length=200)
        return svc().ctx.keystore.revoke(key_id, reason)

    outcome = attempt(_key_reason_fields(), action, prefix="")
    if not outcome.ok:
        return _org_page(target, 422, "key_revoke", outcome)
    return done(
        translate("operator.key_revoked", key=key_id), url_for("console.operator.org", org_id=target.id)
    )
