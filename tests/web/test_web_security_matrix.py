"""The authorization matrix (tests/web/web_security_matrix.py) against the app: every route
of the URL map has an entry, and for each one the callers who must be refused are refused
and the least privileged caller who may call it gets through. Then cross-organisation
writes and reads: a token or user of one organisation acting on another's batch, range,
product, tokens, users, keys or complaints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import web_security_county
from flask import Flask
from sqlalchemy import update
from test_web_console_kit import Console
from web_security_kit import OPERATOR, County, bearer, is_problem, issue_token, record_counts, signed_in
from web_security_matrix import MATRIX, Access, path_values, routes_of, url_for_rule
from werkzeug.test import TestResponse

from farmtrace.trace.models.accounts import ApiToken
from farmtrace.trace.tokens import SCOPES
from farmtrace.web.security import CONTENT_SECURITY_POLICY


@pytest.fixture(scope="module")
def county(database_factory: Any) -> County:
    return web_security_county.county(database_factory)


@pytest.fixture(scope="module")
def app(database_factory: Any, tmp_path_factory: pytest.TempPathFactory, county: County) -> Iterator[Flask]:
    app = web_security_county.county_app(database_factory, tmp_path_factory.mktemp("matrix"), county)
    yield app
    app.extensions["farmtrace.engine"].dispose()


class Callers:
    """Tokens and console sessions of every kind the matrix needs, made once and kept."""

    def __init__(self, app: Flask, county: County) -> None:
        self.app = app
        self.client = app.test_client()
        self.county = county
        self.tokens: dict[tuple[str, str, frozenset[str]], str] = {}
        self.consoles: dict[str, Console] = {}
        self.values = path_values(county, self._issue("coop-a", ["admin"])[1])

    def _issue(self, org: str, scopes: list[str], **extra: Any) -> tuple[str, str]:
        return issue_token(self.client, self.county.tokens[OPERATOR], org, scopes, **extra)

    def token(self, state: str, org: str, scopes: tuple[str, ...]) -> str:
        """A token of `org`: "allowed" holds scopes[0]; "other" every scope but `scopes`;
        "revoked" and "expired" hold them all but are no longer valid."""
        key = (state, org, frozenset(scopes))
        if key in self.tokens:
            return self.tokens[key]
        if state == "allowed":
            secret, _ = self._issue(org, [scopes[0]])
        elif state == "other":
            secret, _ = self._issue(org, [s for s in SCOPES if s not in scopes])
        elif state == "revoked":
            secret, token_id = self._issue(org, list(scopes))
            revoked = self.client.delete(
                f"/api/v1/tokens/{token_id}", headers=bearer(self.county.tokens[OPERATOR])
            )
            assert revoked.status_code == 200, revoked.text
        else:
            soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            secret, token_id = self._issue(org, list(scopes), expires_at=soon)
            expire(self.app, token_id)
        self.tokens[key] = secret
        return secret

    def console(self, username: str, fresh: bool = False) -> Console:
        if fresh or username not in self.consoles:
            self.consoles[username] = signed_in(self.app, username)
        return self.consoles[username]


def expire(app: Flask, token_id: str) -> None:
    """Move the token's expiry into the past, as time passing would."""
    with app.extensions["farmtrace.engine"].begin() as connection:
        connection.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


@pytest.fixture(scope="module")
def callers(app: Flask, county: County) -> Callers:
    return Callers(app, county)


def checked(response: TestResponse) -> TestResponse:
    """Every HTML response, refusals and redirects included, carries the strict CSP."""
    if response.mimetype == "text/html":
        assert response.headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, (
            response.request.path
        )
    return response


def test_every_route_has_an_entry(app: Flask) -> None:
    routes = routes_of(app)
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"routes without an entry in web_security_matrix.MATRIX: {missing}"
    assert not stale, f"entries for routes the app no longer has: {stale}"


@pytest.mark.parametrize(("method", "rule"), sorted(MATRIX))
def test_the_matrix_holds(callers: Callers, method: str, rule: str) -> None:
    access = MATRIX[(method, rule)]
    url = url_for_rule(rule, {**callers.values, **access.args})
    check = {"public": _public, "form": _form, "signed": _signed, "api": _api, "console": _console}
    check[access.kind](callers, method, url, access)


def _open(callers: Callers, method: str, url: str, **kwargs: Any) -> TestResponse:
    client = kwargs.pop("client", callers.client)
    return checked(client.open(url, method=method, **kwargs))


def _public(callers: Callers, method: str, url: str, access: Access) -> None:
    response = _open(callers, method, url, client=callers.app.test_client())
    assert response.status_code not in (401, 403) and response.status_code < 500, (url, response.status_code)


def _form(callers: Callers, method: str, url: str, access: Access) -> None:
    visitor = Console(callers.app.test_client())
    visitor.get("/console/login")  # a session with a token, as any page with a form gives
    refused = checked(visitor.client.post(url, data={"csrf_token": "forged"}))
    assert refused.status_code == 400, (url, refused.status_code)
    accepted = checked(visitor.post(url, {}))
    assert accepted.status_code not in (400, 403) and accepted.status_code < 500, (url, accepted.status_code)


def _signed(callers: Callers, method: str, url: str, access: Access) -> None:
    response = _open(callers, method, url, data=b"not a signed note", content_type="text/plain")
    assert 400 <= response.status_code < 500 and response.status_code not in (401, 403), response.status_code


def _api(callers: Callers, method: str, url: str, access: Access) -> None:
    body: dict[str, Any] = {"json": {}} if method != "GET" else {}
    anonymous = _open(callers, method, url, **body)
    assert anonymous.status_code == 401 and is_problem(anonymous), (url, anonymous.status_code)
    other = _open(
        callers, method, url, headers=bearer(callers.token("other", access.org, access.scopes)), **body
    )
    assert other.status_code == 403 and is_problem(other), (url, other.status_code, other.text)
    assert other.json["type"] == "/api/v1/docs#problem-scope-missing"
    for state in ("revoked", "expired"):
        refused = _open(
            callers, method, url, headers=bearer(callers.token(state, access.org, access.scopes)), **body
        )
        assert refused.status_code == 401 and is_problem(refused), (url, state, refused.status_code)
    allowed = _open(
        callers, method, url, headers=bearer(callers.token("allowed", access.org, access.scopes)), **body
    )
    assert allowed.status_code not in (401, 403) and allowed.status_code < 500, (
        url,
        allowed.status_code,
        allowed.text,
    )


def _console(callers: Callers, method: str, url: str, access: Access) -> None:
    anonymous = Console(callers.app.test_client())
    anonymous.get("/console/login")
    response = checked(anonymous.post(url, {}) if method == "POST" else anonymous.get(url))
    if method == "GET":
        assert response.status_code == 302, (url, response.status_code)
        assert response.headers["Location"].startswith("/console/login"), response.headers["Location"]
    else:
        assert response.status_code == 401, (url, response.status_code)
    for username in access.refused_users:
        console = callers.console(username)
        refused = checked(console.post(url, {}) if method == "POST" else console.get(url))
        assert refused.status_code == 403, (url, username, refused.status_code)
    # "any signed-in user" routes include log out everywhere: sign in afresh each time.
    console = callers.console(access.allowed_user, fresh=access.area is None)
    allowed = checked(console.post(url, {}) if method == "POST" else console.get(url))
    assert allowed.status_code not in (401, 403) and allowed.status_code < 500, (
        url,
        access.allowed_user,
        allowed.status_code,
    )
    if method == "GET" and allowed.status_code in (302, 303):  # a POST's 303 may be to the login (log out)
        assert not allowed.headers["Location"].startswith("/console/login"), (
            url,
            allowed.headers["Location"],
        )


# -- across organisations -----------------------------------------------------------------------


LAB_RESULT = {
    "analyte": "铅",
    "method": "GB 5009.12-2017",
    "value": "0.01",
    "unit": "mg/kg",
    "verdict": "pass",
}


def _cross_org_writes(county: County) -> list[tuple[str, str, dict[str, Any]]]:
    """Writes coop-b's token (holding every scope) must not make on coop-a's things."""
    a, ids = county.ids["batch"], county.ids
    when = datetime.now(UTC).isoformat()
    fertiliser = {"kind": "fertiliser", "product_name": "有机肥", "dose": "1", "dose_unit": "kg/mu"}
    return [
        ("POST", f"/api/v1/batches/{a}/events/farming.input", {"payload": fertiliser}),
        (
            "POST",
            f"/api/v1/batches/{a}/events/farming.harvested",
            {"payload": {"quantity": "1", "unit": "kg"}},
        ),
        (
            "POST",
            f"/api/v1/batches/{a}/events/sale.recorded",
            {"payload": {"channel": "shop", "order_reference": "X1", "quantity": "1", "unit": "kg"}},
        ),
        (
            "POST",
            f"/api/v1/batches/{a}/events/logistics.handed_off",
            {"payload": {"to": "coop-b", "place": "xss-field"}},
        ),
        ("POST", f"/api/v1/batches/{a}/events/processing.recorded", {"payload": {"step": "washing"}}),
        (
            "POST",
            f"/api/v1/batches/{a}/events/lab.tested",
            {
                "payload": {
                    "sample_id": "S",
                    "report_sha256": ids["document"],
                    "results": [LAB_RESULT],
                    "verdict": "pass",
                }
            },
        ),
        (
            "POST",
            f"/api/v1/batches/{a}/events/conformity.decided",
            {"payload": {"decision": "non_conformant", "reason": "x"}},
        ),
        ("POST", f"/api/v1/batches/{a}/codes", {"count": 5}),
        ("POST", f"/api/v1/batches/{a}/recalls", {"reason": "forged recall", "level": 1}),
        ("POST", f"/api/v1/recalls/{ids['recall']}/lift", {"reason": "forged lift"}),
        ("POST", "/api/v1/codes/voids", {"range": ids["range"], "reason": "forged void"}),
        ("POST", "/api/v1/codes/reprints", {"range": ids["range"], "reason": "forged reprint"}),
        ("POST", "/api/v1/lineage/split", {"batch": a, "outputs": [{"quantity": "1"}, {"quantity": "1"}]}),
        (
            "POST",
            "/api/v1/events/bulk",
            {
                "items": [
                    {
                        "batch": a,
                        "type": "farming.harvested",
                        "event_time": when,
                        "payload": {"quantity": "1", "unit": "kg"},
                    }
                ]
            },
        ),
        ("POST", "/api/v1/batches", {"payload": {"product": "xss-product", "lot": "X", "unit": "kg"}}),
        (
            "POST",
            "/api/v1/products/xss-product/certificates",
            {
                "scheme": "organic",
                "certificate_number": "C-1",
                "issuer": "x",
                "valid_from": "2026-01-01",
                "valid_until": "2027-01-01",
            },
        ),
        (
            "POST",
            "/api/v1/products",
            {"id": "stolen", "owner": "coop-a", "name_zh": "冒名", "category": "fruit", "unit": "kg"},
        ),
        ("POST", "/api/v1/orgs", {"id": "rogue", "kind": "cooperative", "name_zh": "冒名"}),
        (
            "POST",
            "/api/v1/places",
            {"id": "wuhua.rogue", "kind": "town", "parent": "wuhua", "name_zh": "冒名"},
        ),
        ("POST", "/api/v1/orgs/coop-a/tokens", {"name": "stolen", "scopes": ["admin"]}),
        (
            "POST",
            "/api/v1/orgs/coop-a/users",
            {"username": "intruder", "display_name": "x", "password": "long enough 123", "roles": ["admin"]},
        ),
        ("POST", "/api/v1/orgs/coop-a/keys/rotate", {}),
        ("POST", "/api/v1/orgs/coop-a/keys", {"public_key": "A" * 43 + "="}),
        ("POST", f"/api/v1/keys/{ids['key']}/revoke", {"reason": "forged"}),
        ("POST", f"/api/v1/complaints/{ids['complaint']}/handle", {"status": "resolved", "notes": "forged"}),
        ("DELETE", "/api/v1/tokens/{coop_token}", {}),
    ]


def test_one_organisations_token_cannot_write_to_anothers_things(callers: Callers, county: County) -> None:
    engine = callers.app.extensions["farmtrace.engine"]
    _, coop_token = issue_token(callers.client, county.tokens[OPERATOR], "coop-a", ["batches:read"])
    intruder = bearer(county.tokens["coop-b"])  # every scope, of the other cooperative
    before = record_counts(engine)
    for method, path, body in _cross_org_writes(county):
        path = path.replace("{coop_token}", coop_token)
        response = checked(callers.client.open(path, method=method, json=body, headers=intruder))
        if path == "/api/v1/events/bulk":  # each item answers for itself
            assert response.status_code < 500, response.text
            assert [item["status"] for item in response.json["items"]] == [403], response.text
            continue
        assert response.status_code == 403 and is_problem(response), (
            method,
            path,
            response.status_code,
            response.text,
        )
    assert record_counts(engine) == before


def test_one_organisations_token_cannot_read_anothers_complaints_or_tokens(
    callers: Callers, county: County
) -> None:
    intruder = bearer(county.tokens["coop-b"])
    complaint = county.ids["complaint"]
    assert callers.client.get(f"/api/v1/complaints/{complaint}", headers=intruder).status_code == 404
    assert callers.client.get("/api/v1/complaints", headers=intruder).json["items"] == []
    assert callers.client.get("/api/v1/orgs/coop-a/tokens", headers=intruder).status_code == 403
    assert callers.client.get("/api/v1/orgs/coop-a/users", headers=intruder).status_code == 403
    owner = callers.client.get(f"/api/v1/complaints/{complaint}", headers=bearer(county.tokens["coop-a"]))
    assert owner.status_code == 200 and owner.json.get("phone") is None  # the phone is the operator's to see
    operator = callers.client.get(f"/api/v1/complaints/{complaint}", headers=bearer(county.tokens[OPERATOR]))
    assert operator.json["phone"] == "13800138000"


def test_one_cooperatives_console_user_cannot_touch_anothers_batch(callers: Callers, county: County) -> None:
    engine = callers.app.extensions["farmtrace.engine"]
    other = callers.console("coop2-user")
    a = county.ids["batch"]
    before = record_counts(engine)
    assert other.get(f"/console/coop/batches/{a}").status_code in (403, 404)
    for form in ("input", "harvest"):
        assert other.get(f"/console/coop/batches/{a}/{form}").status_code in (403, 404)
        response = other.post(f"/console/coop/batches/{a}/{form}", {"quantity": "1", "unit": "kg"})
        assert response.status_code in (403, 404), (form, response.status_code)
    assert other.get(f"/console/coop/batches/{a}/phi.json").status_code in (403, 404)
    # Not the custodian: the logistics page shows who holds it, and a hand-off is refused.
    refused = other.post(f"/console/logistics/batches/{a}/handoff", {"to": "coop-b", "place": "xss-field"})
    assert refused.status_code in (403, 409, 422), refused.status_code
    assert record_counts(engine) == before
