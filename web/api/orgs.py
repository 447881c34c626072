"""Organisations, their users and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from farmtrace.trace.accounts import UserSchema
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.models.accounts import User
from farmtrace.trace.models.registry import Org
from farmtrace.trace.orgs import ORG_KINDS, OrgSchema
from farmtrace.trace.tokens import SCOPES
from farmtrace.web.api import idempotency
from farmtrace.web.api.auth import requires
from farmtrace.web.api.common import MAX_ROW_NUMBER, actor, body_is, json_object, request_body
from farmtrace.web.api.context import services
from farmtrace.web.api.pagination import keyset_page, page, time_filters
from farmtrace.web.api.schemas.common import TimeRangeQuerySchema, page_schema
from farmtrace.web.api.schemas.registry import IssuedTokenOut, OrgOut, TokenOut, UserOut
from farmtrace.web.db import get_session

bp = Blueprint(
    "organisations", __name__, url_prefix="/api/v1", description="Organisations, users and API tokens."
)


class OrgQuery(TimeRangeQuerySchema):
    kind = fields.String(
        validate=validate.OneOf(tuple(ORG_KINDS)), metadata={"description": "Only this kind"}
    )


class TokenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1, max=len(SCOPES)),
    )
    user_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ROW_NUMBER),
        metadata={"description": "The user the token acts for"},
    )
    expires_at = fields.AwareDateTime(metadata={"description": "RFC 3339; without it, valid until revoked"})


OrgPage = page_schema(OrgOut, "OrgPage")
UserList = Schema.from_dict({"items": fields.List(fields.Nested(UserOut), required=True)}, name="UserList")
TokenList = Schema.from_dict({"items": fields.List(fields.Nested(TokenOut), required=True)}, name="TokenList")


@bp.route("/orgs", methods=["GET"])
@requires("batches:read")
@bp.arguments(OrgQuery, location="query")
@bp.response(200, OrgPage)
def list_orgs(args: dict[str, Any]) -> Any:
    """Organisations, newest first; filter by kind and registration time."""
    session = get_session()
    query = time_filters(session, select(Org), Org.created_at, args)
    if "kind" in args:
        query = query.where(Org.kind == args["kind"])
    rows, cursor = keyset_page(
        session,
        query,
        (Org.created_at, Org.id),
        (datetime, str),
        args["limit"],
        args.get("cursor"),
        lambda org: (org.created_at, org.id),
    )
    return page(rows, cursor)


@bp.route("/orgs", methods=["POST"])
@requires("admin")
@request_body(OrgSchema)
@bp.response(201, OrgOut)
def register_org() -> Any:
    """Register an organisation (the county operator only); creates its custodial key."""
    body_is("org")
    org = services().orgs.register(actor(), json_object())
    return org, 201, {"Location": f"/api/v1/orgs/{org.id}"}


@bp.route("/orgs/<org>", methods=["GET"])
@requires("batches:read")
@bp.response(200, OrgOut)
def get_org(org: str) -> Any:
    """One organisation."""
    return services().orgs.get(org)


@bp.route("/orgs/<org>/users", methods=["GET"])
@requires("admin")
@bp.response(200, UserList)
def list_users(org: str) -> Any:
    """The organisation's users (its own admin, or the operator)."""
    svc = services()
    _own_or_operator(org)
    return {"items": svc.accounts.users(org)}


@bp.route("/orgs/<org>/users", methods=["POST"])
@requires("admin")
@request_body(UserSchema(exclude=("org",)))
@bp.response(201, UserOut)
def add_user(org: str) -> Any:
    """Add a user to the organisation (its own admin, or the operator)."""
    body_is("user")
    data = json_object()
    if data.setdefault("org", org) != org:
        raise InvalidInput(
            "org", f"org: the path names {org}, the body {data['org']!r}; leave it out of the body"
        )
    user: User = services().accounts.add_user(actor(), data)
    return user, 201, {"Location": f"/api/v1/orgs/{org}/users/{user.id}"}


@bp.route("/orgs/<org>/tokens", methods=["GET"])
@requires("admin")
@bp.response(200, TokenList)
def list_tokens(org: str) -> Any:
    """The organisation's API tokens (never their secrets)."""
    _own_or_operator(org)
    return {"items": services().tokens.list(org)}


@bp.route("/orgs/<org>/tokens", methods=["POST"])
@requires("admin")
@bp.arguments(TokenIn)
@bp.response(201, IssuedTokenOut)
def issue_token(args: dict[str, Any], org: str) -> Any:
    """Issue a token for the organisation; the response shows its secret, this once."""
    issued = services().tokens.issue(
        actor(),
        org,
        args["name"],
        args["scopes"],
        user_id=args.get("user_id"),
        expires_at=args.get("expires_at"),
    )
    idempotency.shows_secret(f"token {issued.token.id}")
    return (
        {"token": issued.token, "secret": issued.secret},
        201,
        {"Location": f"/api/v1/tokens/{issued.token.id}"},
    )


@bp.route("/tokens/<token>", methods=["DELETE"])
@requires("admin")
@bp.response(200, TokenOut)
def revoke_token(token: str) -> Any:
    """Revoke a token at once (its organisation's admin, or the operator)."""
    return services().tokens.revoke(actor(), token)


def _own_or_operator(org: str) -> None:
    svc = services()
    svc.orgs.get(org)
    if org != actor():
        svc.orgs.require_operator(actor())
