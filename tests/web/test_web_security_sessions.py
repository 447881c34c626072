"""Tokens and console sessions: API token secrets kept only as their SHA-256 (looked for in
every column of every table) and never logged, revocation and expiry on the very next
request, a token bound to a user ending with the user; console cookies' flags, a new
session at sign-in (no fixation), sign-out ending even a copy of the cookie, password
changes ending other sessions, idle and absolute lifetimes, and the login throttle shared
by every worker. The older console tests (test_web_console_auth.py) cover the rest of
sign-in: slowdown and lockout, log out everywhere, the session key file."""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import web_security_county
from flask import Flask
from sqlalchemy import Engine, MetaData, select, update
from test_web_console_kit import Clock, Console
from web_security_kit import OPERATOR, PASSWORD, County, bearer, issue_token, make_app, signed_in

from farmtrace.trace.models.accounts import ApiToken
from farmtrace.web.console.throttle import USER_POLICY
from farmtrace.web.logging import configure_logging


@pytest.fixture(scope="module")
def county(database_factory: Any) -> County:
    return web_security_county.county(database_factory)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_factory: Any, tmp_path: Any, county: County, clock: Clock) -> Iterator[Flask]:
    """A county of its own, for a test that moves the clock, counts failures or changes a password."""
    app = web_security_county.county_app(database_factory, tmp_path, county, CONSOLE_CLOCK=clock)
    yield app
    app.extensions["farmtrace.engine"].dispose()


@pytest.fixture(scope="module")
def shared(
    database_factory: Any, tmp_path_factory: pytest.TempPathFactory, county: County
) -> Iterator[Flask]:
    """One county for the tests that leave what others use as they found it."""
    app = web_security_county.county_app(database_factory, tmp_path_factory.mktemp("sessions"), county)
    yield app
    app.extensions["farmtrace.engine"].dispose()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(stream)
    yield stream
    configure_logging()  # back to stderr for the tests that follow


def database_text(engine: Engine) -> str:
    """Every value of every row of every table, as text (bytes as hex and as latin-1)."""
    metadata = MetaData()
    metadata.reflect(engine)
    parts = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        data = bytes(value)
                        parts += [data.hex(), data.decode("latin-1")]
                    elif value is not None:
                        parts.append(str(value))
    return "\n".join(parts)


def console_token(console: Console, org: str) -> str:
    """A token issued on the operator's organisation page; the page shows its secret once."""
    page = console.post(f"/console/operator/orgs/{org}/tokens", {"name": "console", "scopes": "batches:read"})
    if page.status_code == 303:
        page = console.get(page.headers["Location"])
    found = re.search(r"ft_[A-Za-z0-9_-]{43}", page.text)
    assert found is not None, page.text[:2000]
    return found.group(0)


# -- API tokens ---------------------------------------------------------------------------------


def test_token_secrets_and_passwords_are_kept_only_as_hashes(shared: Flask, county: County) -> None:
    client = shared.test_client()
    admin = bearer(county.tokens[OPERATOR])
    tokens = len(client.get("/api/v1/orgs/coop-a/tokens", headers=admin).json["items"])
    # Issued with an Idempotency-Key, as a careful client would: the response is not kept with its secret.
    response = client.post(
        "/api/v1/orgs/coop-a/tokens",
        json={"name": "lab software", "scopes": ["batches:read"]},
        headers={**admin, "Idempotency-Key": "issue-1"},
    )
    assert response.status_code == 201
    secret, token_id = response.json["secret"], response.json["token"]["id"]
    retry = client.post(
        "/api/v1/orgs/coop-a/tokens",
        json={"name": "lab software", "scopes": ["batches:read"]},
        headers={**admin, "Idempotency-Key": "issue-1"},
    )
    assert secret not in retry.text  # shown once: a retry says which token it made, not its secret
    assert retry.status_code == 409 and token_id in retry.json["detail"], retry.text
    assert (
        len(client.get("/api/v1/orgs/coop-a/tokens", headers=admin).json["items"]) == tokens + 1
    )  # issued once
    from_console = console_token(signed_in(shared, "op-admin"), "coop-b")
    password = "a brand new password 9"
    body = {"username": "new-user", "display_name": "新用户", "password": password, "roles": ["recorder"]}
    assert client.post("/api/v1/orgs/coop-a/users", json=body, headers=admin).status_code == 201
    changed = "a changed password 10"
    member = signed_in(shared, "spare-user")
    form = {"current_password": PASSWORD, "new_password": changed, "repeat_password": changed}
    assert member.post("/console/account/password", form).status_code == 303

    engine = shared.extensions["farmtrace.engine"]
    stored = database_text(engine)
    for value in (secret, from_console, *county.tokens.values(), password, changed, PASSWORD):
        assert value not in stored
    with engine.connect() as connection:
        row = connection.execute(select(ApiToken.token_hash).where(ApiToken.id == token_id)).one()
    assert bytes(row.token_hash) == hashlib.sha256(secret.encode()).digest()
    assert client.get("/api/v1/batches", headers=bearer(secret)).status_code == 200


def test_secrets_never_reach_the_logs(shared: Flask, county: County, log_stream: io.StringIO) -> None:
    client = shared.test_client()
    secret, _ = issue_token(client, county.tokens[OPERATOR], "coop-a", ["batches:read"])
    assert client.get("/api/v1/batches?limit=1", headers=bearer(secret)).status_code == 200
    unknown = "ft_" + "Q" * 43
    assert client.get("/api/v1/batches", headers=bearer(unknown)).status_code == 401
    wrong_password = "not my password 77"
    console = Console(shared.test_client())
    assert console.login("coop-user", wrong_password).status_code == 401
    member = signed_in(shared, "coop-user")
    cookie = member.client.get_cookie("ft_session")
    assert cookie is not None
    from_console = console_token(signed_in(shared, "op-admin"), "coop-b")
    logged = log_stream.getvalue()
    assert '"logger": "farmtrace.request"' in logged  # the requests were logged...
    for value in (
        secret,
        unknown,
        county.tokens[OPERATOR],
        PASSWORD,
        wrong_password,
        cookie.value,
        from_console,
    ):
        assert value not in logged  # ...without any secret
    assert member.token() not in logged  # nor a CSRF token


def test_revocation_and_expiry_refuse_a_token_on_its_next_request(shared: Flask, county: County) -> None:
    client = shared.test_client()
    admin = county.tokens[OPERATOR]
    for how in ("api", "console", "expiry"):
        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        secret, token_id = issue_token(client, admin, "coop-a", ["batches:read"], expires_at=soon)
        # Used (and so its last use recorded) just before: nothing about it may be cached.
        assert client.get("/api/v1/batches", headers=bearer(secret)).status_code == 200
        if how == "api":
            assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin)).status_code == 200
        elif how == "console":
            assert (
                signed_in(shared, "op-admin").post(f"/console/operator/tokens/{token_id}/revoke").status_code
                == 303
            )
        else:
            with shared.extensions["farmtrace.engine"].begin() as connection:
                connection.execute(
                    update(ApiToken)
                    .where(ApiToken.id == token_id)
                    .values(expires_at=datetime.now(UTC) - timedelta(milliseconds=1))
                )
        refused = client.get("/api/v1/batches", headers=bearer(secret))
        assert refused.status_code == 401, how
        assert (
            refused.json["errors"][0]["message"] == "the API token is not valid (unknown, revoked or expired)"
        )


def test_a_token_bound_to_a_user_ends_with_the_user(shared: Flask, county: County) -> None:
    client = shared.test_client()
    user_id = county.ids["user:spare-user"]
    secret, _ = issue_token(client, county.tokens[OPERATOR], "coop-a", ["batches:read"], user_id=user_id)
    assert client.get("/api/v1/batches", headers=bearer(secret)).status_code == 200
    operator = signed_in(shared, "op-admin")
    assert operator.post(f"/console/operator/users/{user_id}/deactivate").status_code == 303
    assert client.get("/api/v1/batches", headers=bearer(secret)).status_code == 401
    assert operator.post(f"/console/operator/users/{user_id}/activate").status_code == 303
    assert client.get("/api/v1/batches", headers=bearer(secret)).status_code == 200


# -- console sessions ---------------------------------------------------------------------------


def test_every_cookie_the_console_sets_is_http_only_and_same_site(shared: Flask) -> None:
    console = Console(shared.test_client())
    responses = [console.get("/console/login"), console.login("coop-user")]
    responses += [
        console.get(path) for path in ("/console/", "/console/coop/", "/console/lang/en", "/console/account")
    ]
    responses.append(console.post("/console/logout"))
    cookies = [value for r in responses for value in r.headers.getlist("Set-Cookie")]
    assert any(c.startswith("ft_session=") for c in cookies) and any(c.startswith("lang=") for c in cookies)
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie, cookie
        assert "Domain=" not in cookie, cookie  # this host only


def test_signing_in_starts_a_new_session_so_a_planted_cookie_stays_anonymous(shared: Flask) -> None:
    attacker = Console(shared.test_client())
    attacker.get("/console/login")
    planted = attacker.client.get_cookie("ft_session")
    assert planted is not None
    victim = Console(shared.test_client())
    victim.client.set_cookie("ft_session", planted.value)  # fixed by the attacker (a shared PC)
    before = victim.token()
    assert victim.login("coop-user").status_code == 303
    after = victim.client.get_cookie("ft_session")
    assert after is not None and after.value != planted.value
    assert victim.token() != before  # the CSRF token is replaced too
    assert victim.get("/console/coop/").status_code == 200
    response = attacker.get("/console/coop/")  # the attacker's copy of the planted cookie
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(shared: Flask) -> None:
    member = signed_in(shared, "coop-user")
    other_device = signed_in(shared, "coop-user")
    copied = member.client.get_cookie("ft_session")
    assert copied is not None
    assert member.post("/console/logout").status_code == 303
    thief = Console(shared.test_client())
    thief.client.set_cookie("ft_session", copied.value)  # taken before the sign-out
    response = thief.get("/console/coop/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")
    assert thief.client.post("/console/coop/batches/new", data={"csrf_token": "x"}).status_code == 400
    assert other_device.get("/console/coop/").status_code == 200  # only that session ended
    assert signed_in(shared, "coop-user").get("/console/coop/").status_code == 200


def test_a_password_change_ends_every_other_session_and_copies_of_this_ones_old_cookie(app: Flask) -> None:
    here = signed_in(app, "coop-user")
    there = signed_in(app, "coop-user")
    old = here.client.get_cookie("ft_session")
    assert old is not None
    new = "another password 11"
    form = {"current_password": PASSWORD, "new_password": new, "repeat_password": new}
    assert here.post("/console/account/password", form).status_code == 303
    assert here.get("/console/coop/").status_code == 200
    assert there.get("/console/coop/").status_code == 302
    thief = Console(app.test_client())
    thief.client.set_cookie("ft_session", old.value)
    assert thief.get("/console/coop/").status_code == 302
    assert Console(app.test_client()).login("coop-user", PASSWORD).status_code == 401
    assert Console(app.test_client()).login("coop-user", new).status_code == 303


def test_a_session_ends_after_12_idle_hours_and_7_days_after_sign_in(app: Flask, clock: Clock) -> None:
    member = signed_in(app, "coop-user")
    cookie = member.client.get_cookie("ft_session")
    assert cookie is not None
    # Idle: the cookie's signature carries its time; one 13 hours old is refused.
    interface = app.session_interface
    serializer = interface.get_signing_serializer(app)
    data = serializer.loads(cookie.value)
    with mock.patch("time.time", return_value=time.time() - 13 * 3600):
        stale = serializer.dumps(data)
    idle = Console(app.test_client())
    idle.client.set_cookie("ft_session", stale)
    assert idle.get("/console/coop/").status_code == 302
    # Absolute: a week after the password was typed, however busy the session.
    for _ in range(7):
        clock.advance(hours=23)
        assert member.get("/console/coop/").status_code == 200
    clock.advance(hours=8)
    assert member.get("/console/coop/").status_code == 302


def test_the_login_throttle_is_shared_by_every_worker(app: Flask, clock: Clock) -> None:
    # Two apps on one database and one home: two gunicorn workers.
    settings = app.config["FARMTRACE"]
    other = make_app(settings.database_url, settings.home, CONSOLE_CLOCK=clock)
    try:
        workers = [Console(app.test_client()), Console(other.test_client())]
        for attempt in range(USER_POLICY.free):
            assert workers[attempt % 2].login("coop-user", "wrong guess").status_code == 401
        refused = workers[USER_POLICY.free % 2].login("coop-user", PASSWORD)
        assert refused.status_code == 429  # the failures through both workers added up
        clock.advance(seconds=int(refused.headers["Retry-After"]))
        assert workers[1].login("coop-user", PASSWORD).status_code == 303
    finally:
        other.extensions["farmtrace.engine"].dispose()
