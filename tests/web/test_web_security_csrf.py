"""Cross-site request forgery, over every route of the URL map (through the matrix in
web_security_matrix.py): no state-changing route is open to a cookie alone. Console forms
and the public report form need the session's CSRF token (a missing, forged or another
session's token is refused and changes nothing); the API answers a signed-in console
cookie with 401, because only a bearer token counts there; the witness endpoint takes a
signed note, not a session; and no GET changes anything, since SameSite=Lax cookies still
ride along on a top-level GET from another site.

test_web_console_auth.py checks the console's own routes with missing and forged tokens;
this file adds the other kinds of routes and the other ways a token can be wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import web_security_county
from flask import Flask
from test_web_console_kit import Console
from web_security_kit import County, record_counts, signed_in
from web_security_matrix import MATRIX, path_values, url_for_rule

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def county(database_factory: Any) -> County:
    return web_security_county.county(database_factory)


@pytest.fixture(scope="module")
def app(database_factory: Any, tmp_path_factory: pytest.TempPathFactory, county: County) -> Iterator[Flask]:
    app = web_security_county.county_app(database_factory, tmp_path_factory.mktemp("csrf"), county)
    yield app
    app.extensions["farmtrace.engine"].dispose()


def unsafe_routes(county: County) -> list[tuple[str, str, str]]:
    """(method, rule, url) of every state-changing route."""
    values = path_values(county, "tok_0000000000000000")
    return [
        (method, rule, url_for_rule(rule, {**values, **access.args}))
        for (method, rule), access in sorted(MATRIX.items())
        if method in UNSAFE
    ]


def test_no_state_changing_route_is_open_to_a_cookie_alone() -> None:
    # "public" is for reads only: a public POST would be a form anyone's browser can be made to send.
    kinds = {(method, rule): access.kind for (method, rule), access in MATRIX.items() if method in UNSAFE}
    assert kinds and set(kinds.values()) <= {"console", "form", "api", "signed"}, kinds
    for (_method, rule), kind in kinds.items():
        assert (kind == "api") == rule.startswith("/api/"), rule  # bearer tokens only under /api/
        assert kind != "console" or rule.startswith("/console/"), rule  # csrf.protect covers /console


@pytest.mark.parametrize("how", ["missing", "forged", "another session's"])
def test_forms_refuse_a_wrong_token_and_change_nothing(app: Flask, county: County, how: str) -> None:
    engine = app.extensions["farmtrace.engine"]
    victim = signed_in(app, "op-admin")
    other = signed_in(app, "coop-user")
    token = {"missing": None, "forged": "A" * 43, "another session's": other.token()}[how]
    before = record_counts(engine)
    checked = 0
    for method, rule, url in unsafe_routes(county):
        if MATRIX[(method, rule)].kind not in ("console", "form"):
            continue
        data = {} if token is None else {"csrf_token": token}
        response = victim.client.open(url, method=method, data=data)
        assert response.status_code == 400, (url, response.status_code)
        checked += 1
    assert checked >= 25
    assert record_counts(engine) == before
    assert victim.get("/console/operator/").status_code == 200  # still signed in: a refusal is not a sign-out


def test_the_report_form_refuses_a_token_of_another_visitor(app: Flask, county: County) -> None:
    engine = app.extensions["farmtrace.engine"]
    batch = county.ids["batch"]
    attacker, consumer = Console(app.test_client()), Console(app.test_client())
    attacker.get(f"/batch/{batch}/report")
    consumer.get(f"/batch/{batch}/report")
    before = record_counts(engine)
    form = {"problem_type": "other", "text": "forged report"}
    for token in (None, "A" * 43, attacker.token()):
        data = form if token is None else {**form, "csrf_token": token}
        response = consumer.client.post(f"/batch/{batch}/report", data=data)
        assert response.status_code == 400 and "forged report" in response.text  # refused, the text kept
    assert record_counts(engine) == before
    assert consumer.post(f"/batch/{batch}/report", form).status_code == 200


def test_the_api_gives_a_console_cookie_nothing(app: Flask, county: County) -> None:
    engine = app.extensions["farmtrace.engine"]
    operator = signed_in(app, "op-admin")  # the most powerful console user
    before = record_counts(engine)
    for method, rule, url in unsafe_routes(county):
        if MATRIX[(method, rule)].kind != "api":
            continue
        response = operator.client.open(
            url, method=method, json={}, headers={"X-CSRF-Token": operator.token()}
        )
        assert response.status_code == 401, (url, response.status_code)
    assert operator.client.get("/api/v1/orgs/coop-a/tokens").status_code == 401
    assert record_counts(engine) == before


def test_the_witness_endpoint_takes_a_signed_note_not_a_session(app: Flask) -> None:
    engine = app.extensions["farmtrace.engine"]
    operator = signed_in(app, "op-admin")
    before = record_counts(engine)
    response = operator.post("/witness/cosignature", {"note": "not signed"})
    assert 400 <= response.status_code < 500 and response.status_code not in (401, 403)
    assert record_counts(engine) == before


def test_no_get_changes_anything(app: Flask, county: County) -> None:
    """Every GET of the matrix, as its allowed caller: no row is added or removed (scans
    and rate-limit counts aside: web_security_kit.TRAFFIC_TABLES)."""
    engine = app.extensions["farmtrace.engine"]
    values = path_values(county, "tok_0000000000000000")
    gets = [(rule, access) for (method, rule), access in sorted(MATRIX.items()) if method == "GET"]
    users = {access.allowed_user for _rule, access in gets if access.kind == "console"}
    consoles = {user: signed_in(app, user) for user in users}  # signing in writes: do it first
    before = record_counts(engine)
    for rule, access in gets:
        url = url_for_rule(rule, {**values, **access.args})
        client = consoles[access.allowed_user].client if access.kind == "console" else app.test_client()
        headers = {"Authorization": f"Bearer {county.tokens[access.org]}"} if access.kind == "api" else {}
        assert client.get(url, headers=headers).status_code < 500, url
    after = record_counts(engine)
    assert after == before
