"""Who may call each route of the app: the authorization matrix, declared by hand (this module
holds no tests; test_web_security_matrix.py checks it against the app, and the XSS and SQL
injection tests use it to know which user or token may open each page).

Every route of the URL map, and every method of it, has an entry; a route added without one
fails test_every_route_has_an_entry. Kinds:

- public: anyone, without credentials.
- form: anyone, but a POST must carry the session's CSRF token (the consumer's report form).
- signed: anyone; the body itself is signed (witness cosignatures).
- api(scopes, org): a bearer token of `org` holding one of `scopes`.
- console(area, write, admin): a signed-in console user whose organisation opens `area`
  (web/console/access.AREAS), with a recording role for `write` and admin for `admin`;
  area None means any signed-in user.

`args` names the values of the route's path arguments where the defaults (path_values) do
not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from web_security_kit import GTIN, LOT_BREAKOUT, OPERATOR, County


@dataclass(frozen=True)
class Access:
    kind: str
    scopes: tuple[str, ...] = ()
    org: str = OPERATOR  # the API caller allowed
    area: str | None = None
    write: bool = False
    admin: bool = False
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed_user(self) -> str:
        """The least privileged console user who may call the route."""
        if self.area is None:
            return "spare-user"
        if self.admin:
            return "op-admin"
        return (WRITERS if self.write else READERS)[self.area]

    @property
    def refused_users(self) -> list[str]:
        """Console users who must be refused: outside the area, without the role, without admin."""
        if self.area is None:
            return []
        users = [OUTSIDERS[self.area]]
        if self.write or self.admin:
            users.append(READERS[self.area] if self.area != "operator" else "op-viewer")
        if self.admin:
            users.append("op-recorder")
        return users


READERS = {
    "coop": "coop-viewer",
    "lab": "lab-viewer",
    "logistics": "coop-viewer",
    "packing": "packer-viewer",
    "operator": "op-viewer",
}
WRITERS = {
    "coop": "coop-user",
    "lab": "lab-user",
    "logistics": "station-user",  # batch A's custodian at the end of the season
    "packing": "packer-user",
    "operator": "op-recorder",
}
OUTSIDERS = {
    "coop": "lab-user",
    "lab": "coop-user",
    "logistics": "lab-user",
    "packing": "coop-user",
    "operator": "packer-user",
}


def public(**args: Any) -> Access:
    return Access("public", args=args)


def form(**args: Any) -> Access:
    return Access("form", args=args)


def signed(**args: Any) -> Access:
    return Access("signed", args=args)


def api(*scopes: str, org: str = OPERATOR, **args: Any) -> Access:
    return Access("api", scopes=scopes, org=org, args=args)


def console(area: str | None = None, *, write: bool = False, admin: bool = False, **args: Any) -> Access:
    return Access("console", area=area, write=write, admin=admin, args=args)


READ = "batches:read"
COOP, LAB, PACKER, STATION = "coop-a", "lab-a", "packer-a", "station-a"

MATRIX: dict[tuple[str, str], Access] = {
    # -- public pages and files ---------------------------------------------------------
    ("GET", "/"): public(),
    ("GET", "/01/<path:_rest>"): public(),
    ("GET", "/C/<path:_serial>"): public(),
    ("GET", "/c/<path:_serial>"): public(),
    ("GET", "/batch/<batch_id>"): public(),
    ("GET", "/batch/<batch_id>/report"): public(),
    ("POST", "/batch/<batch_id>/report"): form(),
    ("GET", "/bundle/<batch>.json"): public(),
    ("GET", "/checkpoint"): public(),
    ("GET", "/disclosure"): public(),
    ("GET", "/disclosure/docs/<name>"): public(),
    ("GET", "/documents/<sha256>"): public(),
    ("GET", "/healthz"): public(),
    ("GET", "/readyz"): public(),
    ("GET", "/metrics"): public(),  # restricted at the proxy (docs/operations.md)
    ("GET", "/receipt/<int:leaf_index>"): public(),
    ("GET", "/static/<path:filename>"): public(),
    ("GET", "/tile/<path:rest>"): public(),
    ("GET", "/wall"): public(),
    ("POST", "/witness/cosignature"): signed(),
    # -- the API: public reads -------------------------------------------------------------
    ("GET", "/api/v1/"): public(),
    ("GET", "/api/v1/docs"): public(),
    ("GET", "/api/v1/docs.css"): public(),
    ("GET", "/api/v1/openapi.json"): public(),
    ("GET", "/api/v1/batches/<batch>/head"): public(),
    ("GET", "/api/v1/documents/<sha256>"): public(),
    ("GET", "/api/v1/keys"): public(),
    ("GET", "/api/v1/stats/<kind>"): public(kind="daily"),
    # -- the API: token reads ------------------------------------------------------------------
    ("GET", "/api/v1/batches"): api(READ, org=COOP),
    ("GET", "/api/v1/batches/<batch>"): api(READ, org=COOP),
    ("GET", "/api/v1/batches/<batch>/codes"): api(READ, org=COOP),
    ("GET", "/api/v1/batches/<batch>/entries"): api(READ, org=COOP),
    ("GET", "/api/v1/batches/<batch>/entries/<int:seq>"): api(READ, org=COOP),
    ("GET", "/api/v1/batches/<batch>/epcis"): api("export:read", org=COOP),
    ("GET", "/api/v1/batches/<batch>/lineage"): api(READ, org=COOP),
    ("GET", "/api/v1/batches/<batch>/recalls"): api(READ, org=COOP),
    ("GET", "/api/v1/codes/ranges/<int:range>"): api(READ, org=PACKER),
    ("GET", "/api/v1/complaints"): api(READ, org=COOP),
    ("GET", "/api/v1/complaints/<int:complaint>"): api(READ, org=COOP),
    ("GET", "/api/v1/events"): api(READ, org=COOP),
    ("GET", "/api/v1/orgs"): api(READ, org=COOP),
    ("GET", "/api/v1/orgs/<org>"): api(READ, org=COOP),
    ("GET", "/api/v1/places"): api(READ, org=COOP),
    ("GET", "/api/v1/places/<place>"): api(READ, org=COOP),
    ("GET", "/api/v1/products"): api(READ, org=COOP),
    ("GET", "/api/v1/products/<product>"): api(READ, org=COOP),
    ("GET", "/api/v1/products/<product>/certificates"): api(READ, org=COOP),
    ("GET", "/api/v1/recalls/<recall_id>"): api(READ, org=COOP),
    # -- the API: writes -----------------------------------------------------------------------
    ("POST", "/api/v1/batches"): api("batches:write", org=COOP),
    ("POST", "/api/v1/batches/<batch>/codes"): api("codes:write", org=PACKER),
    ("POST", "/api/v1/batches/<batch>/complaints"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/corrections"): api("events:write", "lab:write", org=COOP),
    ("POST", "/api/v1/batches/<batch>/events/certification.attached"): api("lab:write"),
    ("POST", "/api/v1/batches/<batch>/events/conformity.decided"): api("lab:write"),
    ("POST", "/api/v1/batches/<batch>/events/lab.tested"): api("lab:write", org=LAB),
    ("POST", "/api/v1/batches/<batch>/events/farming.harvested"): api("events:write", org=COOP),
    ("POST", "/api/v1/batches/<batch>/events/farming.input"): api("events:write", org=COOP),
    ("POST", "/api/v1/batches/<batch>/events/processing.recorded"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/packing.packed"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/logistics.picked_up"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/logistics.warehouse_in"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/logistics.warehouse_out"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/logistics.handed_off"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/logistics.delivered"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/logistics.temperature"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/events/sale.recorded"): api("events:write", org=STATION),
    ("POST", "/api/v1/batches/<batch>/recalls"): api("batches:write"),
    ("POST", "/api/v1/codes/reprints"): api("codes:write", org=PACKER),
    ("POST", "/api/v1/codes/voids"): api("codes:write", org=PACKER),
    ("POST", "/api/v1/complaints/<int:complaint>/handle"): api("admin"),
    ("POST", "/api/v1/documents"): api("lab:write", "events:write", org=LAB),
    ("POST", "/api/v1/entries"): api("events:write", "lab:write", org=LAB),
    ("POST", "/api/v1/events/bulk"): api("events:write", "lab:write", org=COOP),
    ("POST", "/api/v1/keys/<key_id>/revoke"): api("admin"),
    ("POST", "/api/v1/lineage/merge"): api("batches:write", org=COOP),
    ("POST", "/api/v1/lineage/split"): api("batches:write", org=COOP),
    ("POST", "/api/v1/lineage/transform"): api("batches:write", org=COOP),
    ("POST", "/api/v1/orgs"): api("admin"),
    ("POST", "/api/v1/orgs/<org>/keys"): api("admin", org=COOP),
    ("POST", "/api/v1/orgs/<org>/keys/rotate"): api("admin"),  # the operator rotates custodial keys
    ("GET", "/api/v1/orgs/<org>/tokens"): api("admin", org=COOP),
    ("POST", "/api/v1/orgs/<org>/tokens"): api("admin", org=COOP),
    ("GET", "/api/v1/orgs/<org>/users"): api("admin", org=COOP),
    ("POST", "/api/v1/orgs/<org>/users"): api("admin", org=COOP),
    ("POST", "/api/v1/places"): api("batches:write"),
    ("POST", "/api/v1/products"): api("batches:write", org=COOP),
    ("POST", "/api/v1/products/<product>/certificates"): api("batches:write", org=COOP),
    ("POST", "/api/v1/recalls/<recall_id>/lift"): api("batches:write"),
    ("DELETE", "/api/v1/tokens/<token>"): api("admin", org=COOP),
    # -- the console: signing in and the account --------------------------------------------
    ("GET", "/console/"): console(),
    ("GET", "/console/login"): public(),
    ("POST", "/console/login"): form(),
    ("POST", "/console/logout"): form(),
    ("POST", "/console/logout-everywhere"): console(),
    ("GET", "/console/account"): console(),
    ("POST", "/console/account/password"): console(),
    ("GET", "/console/lang/<code>"): public(code="en"),
    # -- the console: areas -----------------------------------------------------------------
    ("GET", "/console/coop/"): console("coop"),
    ("GET", "/console/coop/batches/new"): console("coop", write=True),
    ("POST", "/console/coop/batches/new"): console("coop", write=True),
    ("GET", "/console/coop/batches/<batch_id>"): console("coop"),
    ("GET", "/console/coop/batches/<batch_id>/input"): console("coop", write=True),
    ("POST", "/console/coop/batches/<batch_id>/input"): console("coop", write=True),
    ("GET", "/console/coop/batches/<batch_id>/harvest"): console("coop", write=True),
    ("POST", "/console/coop/batches/<batch_id>/harvest"): console("coop", write=True),
    ("GET", "/console/coop/batches/<batch_id>/phi.json"): console("coop"),
    ("GET", "/console/lab/"): console("lab"),
    ("GET", "/console/lab/find"): console("lab"),
    ("GET", "/console/lab/batches/<batch_id>/test"): console("lab"),
    ("POST", "/console/lab/batches/<batch_id>/test"): console("lab", write=True),
    ("GET", "/console/logistics/"): console("logistics"),
    ("GET", "/console/logistics/find"): console("logistics"),
    ("GET", "/console/logistics/batches/<batch_id>"): console("logistics"),
    ("POST", "/console/logistics/batches/<batch_id>/<form_name>"): console("logistics", write=True),
    ("GET", "/console/packing/"): console("packing"),
    ("GET", "/console/packing/find"): console("packing"),
    ("GET", "/console/packing/batches/<batch_id>"): console("packing"),
    ("POST", "/console/packing/batches/<batch_id>/pack"): console("packing", write=True),
    ("POST", "/console/packing/batches/<batch_id>/issue"): console("packing", write=True),
    ("POST", "/console/packing/batches/<batch_id>/void-code"): console("packing", write=True),
    ("POST", "/console/packing/ranges/<int:range_id>/<kind>"): console("packing", write=True, kind="void"),
    ("GET", "/console/packing/ranges/<int:range_id>/codes.csv"): console("packing"),
    ("GET", "/console/printing/"): console("packing"),
    ("GET", "/console/printing/batches/<batch_id>/new"): console("packing"),
    ("POST", "/console/printing/batches/<batch_id>/new"): console("packing", write=True),
    ("GET", "/console/printing/jobs/<int:job_id>"): console("packing"),
    ("POST", "/console/printing/jobs/<int:job_id>/<action>"): console("packing", write=True, action="pause"),
    ("GET", "/console/operator/"): console("operator"),
    ("GET", "/console/operator/orgs"): console("operator"),
    ("POST", "/console/operator/orgs"): console("operator", admin=True),
    ("GET", "/console/operator/orgs/<org_id>"): console("operator"),
    ("POST", "/console/operator/orgs/<org_id>/users"): console("operator", admin=True),
    ("POST", "/console/operator/users/<int:user_id>/<action>"): console(
        "operator", admin=True, action="unlock"
    ),
    ("POST", "/console/operator/orgs/<org_id>/tokens"): console("operator", admin=True),
    ("POST", "/console/operator/tokens/<token_id>/revoke"): console("operator", admin=True),
    ("POST", "/console/operator/orgs/<org_id>/keys/<action>"): console(
        "operator", admin=True, action="rotate"
    ),
    ("POST", "/console/operator/keys/<key_id>/revoke"): console("operator", admin=True),
    ("GET", "/console/operator/products"): console("operator"),
    ("POST", "/console/operator/products"): console("operator", write=True),
    ("POST", "/console/operator/products/<product_id>/certificates"): console("operator", write=True),
    ("GET", "/console/operator/places"): console("operator"),
    ("POST", "/console/operator/places"): console("operator", write=True),
    ("GET", "/console/operator/recalls"): console("operator"),
    ("GET", "/console/operator/recalls/new"): console("operator", write=True),
    ("POST", "/console/operator/recalls/new"): console("operator", write=True),
    ("POST", "/console/operator/recalls/<recall_id>/lift"): console("operator", write=True),
    ("GET", "/console/operator/complaints"): console("operator"),
    ("GET", "/console/operator/complaints/<int:complaint_id>"): console("operator"),
    ("POST", "/console/operator/complaints/<int:complaint_id>"): console("operator", write=True),
    ("GET", "/console/operator/checkpoints"): console("operator"),
    ("GET", "/console/stats/"): console("operator"),
    ("GET", "/console/stats/download"): console("operator"),
}


def routes_of(app: Any) -> set[tuple[str, str]]:
    """(method, rule) of every route of the app, without the HEAD and OPTIONS Flask adds."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def path_values(county: County, throwaway_token: str) -> dict[str, Any]:
    """The default value of each path argument: the county's objects that hold payloads."""
    ids = county.ids
    return {
        "batch": ids["batch"],
        "batch_id": ids["batch"],
        "seq": 0,
        "range": ids["range"],
        "range_id": ids["range"],
        "complaint": ids["complaint"],
        "complaint_id": ids["complaint"],
        "sha256": ids["document"],
        "key_id": ids["key"],
        "org": COOP,
        "org_id": COOP,
        "place": "xss-field",
        "product": "xss-product",
        "product_id": "xss-product",
        "recall_id": ids["recall"],
        "token": throwaway_token,
        "token_id": throwaway_token,
        "user_id": ids["user:spare-user"],
        "job_id": ids["print_job"],
        "leaf_index": 0,
        "name": "verification.md",
        "filename": "site.css",
        "_rest": f"{GTIN}/10/{quote(LOT_BREAKOUT, safe='')}/21/{ids['serial']}",
        "_serial": ids["serial"],
        "rest": "0/000",
        "form_name": "handoff",
    }


def url_for_rule(rule: str, values: dict[str, Any]) -> str:
    """`rule` with each <converter:name> replaced by values[name] (already URL-safe)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = str(values[name])
        return value if name in ("_rest", "rest", "filename") else quote(value, safe="")

    return re.sub(r"<(?:[a-z]+:)?(\w+)>", replace, rule)
