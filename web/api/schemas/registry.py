"""Response schemas of the registry: organisations, users, tokens, keys, places, products."""

from __future__ import annotations

from marshmallow import Schema, fields

from farmtrace.web.api.schemas.common import Timestamp, nullable_string

STRING_LIST = {"type": "array", "items": {"type": "string"}}


class OrgOut(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = nullable_string()
    place = nullable_string(attribute="place_id")
    parent = nullable_string(attribute="parent_org_id")
    active = fields.Boolean(required=True)
    created_at = Timestamp(required=True)


class UserOut(Schema):
    id = fields.Integer(required=True)
    org = fields.String(required=True, attribute="org_id")
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    roles = fields.Function(lambda user: sorted(user.role_set), required=True, metadata=STRING_LIST)
    active = fields.Boolean(required=True)
    created_at = Timestamp(required=True)


class TokenOut(Schema):
    id = fields.String(required=True)
    org = fields.String(required=True, attribute="org_id")
    user_id = fields.Integer(required=True, allow_none=True)
    name = fields.String(required=True)
    scopes = fields.Function(lambda token: sorted(token.scope_set), required=True, metadata=STRING_LIST)
    created_at = Timestamp(required=True)
    expires_at = Timestamp(required=True, allow_none=True)
    last_used_at = Timestamp(required=True, allow_none=True)
    revoked_at = Timestamp(required=True, allow_none=True)


class IssuedTokenOut(Schema):
    token = fields.Nested(TokenOut, required=True)
    secret = fields.String(
        required=True,
        metadata={"description": "The bearer token. Shown this once; only its SHA-256 is stored."},
    )


class KeyOut(Schema):
    key_id = fields.String(required=True)
    org = fields.String(required=True)
    role = fields.String(required=True, metadata={"description": "root, log or org"})
    public_key = fields.String(required=True, metadata={"description": "Ed25519 public key, base64"})
    valid_from = Timestamp(required=True)
    revoked_at = Timestamp(required=True, allow_none=True)


class PlaceOut(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = nullable_string()
    parent = nullable_string(attribute="parent_id")
    gln = nullable_string()
    latitude = nullable_string()
    longitude = nullable_string()
    created_at = Timestamp(required=True)


class ProductOut(Schema):
    id = fields.String(required=True)
    owner = fields.String(required=True, attribute="owner_org_id")
    name_zh = fields.String(required=True)
    name_en = nullable_string()
    category = fields.String(required=True)
    specification = nullable_string()
    unit = fields.String(required=True)
    gtin = nullable_string()
    created_at = Timestamp(required=True)


class CertificateOut(Schema):
    scheme = fields.String(required=True)
    scheme_name_zh = fields.String(required=True)
    number = fields.String(required=True)
    issuer = fields.String(required=True)
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    valid = fields.Boolean(required=True, metadata={"description": "Valid today"})
