"""Console sign-in: cookies, the session key file, slowdown and lockout, log out (here and
everywhere), and CSRF refused on every state-changing console route."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import test_web_console_kit as kit
from flask import Flask
from test_web_console_kit import PASSWORD, Clock, Console, make_app, seeded_app, signed_in

from farmtrace.web.console.throttle import CLIENT_POLICY, USER_POLICY

# Fixtures shared by the console tests.
app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")


def test_login_sets_a_protected_cookie_and_lands_on_the_home_page(app: Flask) -> None:
    console = Console(app.test_client())
    page = console.get("/console/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "登录工作台" in page.text
    response = console.login("coop-user")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("ft_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http for local development
    home = console.get("/console/")
    assert home.status_code == 200
    assert "coop-user" in home.text and "长布红薯合作社" in home.text
    assert home.headers["Cache-Control"] == "no-store"
    assert "unsafe-inline" not in home.headers["Content-Security-Policy"]


def test_https_base_url_makes_the_cookie_secure_with_the_host_prefix(
    database_factory: object, tmp_path: Path
) -> None:
    app = seeded_app(database_factory, tmp_path, base_url="https://trace.example.org")
    request_dispose(app)
    console = Console(app.test_client())
    page = console.get("/console/login", base_url="https://trace.example.org")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    assert page.headers["Set-Cookie"].startswith("__Host-ft_session=")
    response = console.client.post(
        "/console/login",
        data={"username": "coop-user", "password": PASSWORD, "csrf_token": token.group(1)},
        base_url="https://trace.example.org",
    )
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie


def test_the_session_key_is_made_once_private_and_only_when_needed(app: Flask, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "session.key"
    app.test_client().get("/healthz")
    assert not key_file.exists()  # no session touched: no key made
    signed_in(app, "coop-user")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    assert len(key) == 32
    signed_in(app, "lab-user")
    assert key_file.read_bytes() == key
    assert key.hex() not in (tmp_path / "keys").parent.joinpath("keys").as_posix()


def test_a_session_signed_with_another_key_is_not_accepted(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    console = signed_in(app, "coop-user")
    other = make_app(database_url, tmp_path / "elsewhere")
    request_dispose(other)
    foreign = other.test_client()
    cookie = console.client.get_cookie("ft_session")
    assert cookie is not None
    foreign.set_cookie("ft_session", cookie.value)
    response = foreign.get("/console/coop/")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_wrong_password_is_refused_and_says_nothing_more(app: Flask) -> None:
    console = Console(app.test_client())
    wrong = console.login("coop-user", "not the password")
    unknown = console.login("nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text
    assert 'value="coop-user"' in wrong.text  # the name typed is kept
    assert console.get("/console/coop/").status_code == 302


def test_repeated_failures_slow_down_then_lock_the_user(app: Flask, clock: Clock) -> None:
    console = Console(app.test_client())
    for _ in range(USER_POLICY.free):
        assert console.login("coop-user", "wrong password").status_code == 401
    # Now each further attempt must wait: even the right password is not checked.
    waiting = console.login("coop-user", PASSWORD)
    assert waiting.status_code == 429
    assert waiting.headers["Retry-After"] == "1"
    assert "请等待 1 秒" in waiting.text
    delays = []
    for _ in range(USER_POLICY.free, USER_POLICY.lock_after):
        refused = console.login("coop-user", "wrong password")
        assert refused.status_code == 429
        delays.append(int(refused.headers["Retry-After"]))
        clock.advance(seconds=delays[-1])
        assert console.login("coop-user", "wrong password").status_code == 401
    assert delays == [min(2**n, 60) for n in range(len(delays))]  # 1, 2, 4, ... seconds
    locked = console.login("coop-user", PASSWORD)
    assert locked.status_code == 429
    assert "已暂时锁定" in locked.text
    clock.advance(minutes=10)
    assert console.login("coop-user", PASSWORD).status_code == 429
    clock.advance(minutes=6)
    assert console.login("coop-user", PASSWORD).status_code == 303


def test_a_lockout_of_one_name_leaves_others_alone_and_success_clears_it(app: Flask, clock: Clock) -> None:
    console = Console(app.test_client())
    for _ in range(USER_POLICY.free):
        console.login("coop-user", "wrong password")
    assert console.login("coop-user", PASSWORD).status_code == 429
    assert console.login("lab-user", PASSWORD).status_code == 303
    clock.advance(seconds=1)
    assert Console(app.test_client()).login("coop-user", PASSWORD).status_code == 303
    # A success forgets the failures: the next typo costs nothing again.
    again = Console(app.test_client())
    assert again.login("coop-user", "wrong password").status_code == 401
    assert again.login("coop-user", PASSWORD).status_code == 303


def test_one_client_guessing_many_names_is_slowed_down(app: Flask, clock: Clock) -> None:
    console = Console(app.test_client())
    for n in range(CLIENT_POLICY.free):
        assert console.login(f"guess-{n:03d}", "wrong password").status_code == 401
    refused = console.login("coop-user", PASSWORD)
    assert refused.status_code == 429
    clock.advance(seconds=1)
    assert console.login("coop-user", PASSWORD).status_code == 303


def test_the_operator_sees_and_lifts_a_lock(app: Flask, clock: Clock) -> None:
    victim = Console(app.test_client())
    for _ in range(USER_POLICY.lock_after):
        victim.login("coop-user", "wrong password")
        clock.advance(seconds=61)
    assert victim.login("coop-user", PASSWORD).status_code == 429
    operator = signed_in(app, "op-admin")
    page = operator.get("/console/operator/orgs/coop-changbu")
    assert "登录锁定至" in page.text
    user_id = re.search(r"/console/operator/users/(\d+)/unlock", page.text)
    assert user_id is not None
    assert operator.post(f"/console/operator/users/{user_id.group(1)}/unlock").status_code == 303
    assert victim.login("coop-user", PASSWORD).status_code == 303


def test_log_out_ends_this_session(app: Flask) -> None:
    console = signed_in(app, "coop-user")
    assert console.get("/console/coop/").status_code == 200
    response = console.post("/console/logout")
    assert response.status_code == 303
    assert console.get("/console/coop/").status_code == 302


def test_log_out_everywhere_ends_every_session_of_the_user(app: Flask) -> None:
    phone = signed_in(app, "coop-user")
    office = signed_in(app, "coop-user")
    stolen = Console(app.test_client())
    cookie = office.client.get_cookie("ft_session")
    assert cookie is not None
    stolen.client.set_cookie("ft_session", cookie.value)  # a copied cookie
    assert stolen.get("/console/coop/").status_code == 200
    other_user = signed_in(app, "lab-user")
    assert phone.post("/console/logout-everywhere").status_code == 303
    for ended in (phone, office, stolen):
        response = ended.get("/console/coop/")
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    assert other_user.get("/console/lab/").status_code == 200
    assert signed_in(app, "coop-user").get("/console/coop/").status_code == 200


def test_deactivating_or_resetting_a_user_ends_their_sessions(app: Flask) -> None:
    member = signed_in(app, "coop-user")
    operator = signed_in(app, "op-admin")
    page = operator.get("/console/operator/orgs/coop-changbu")
    user_id = re.search(r"/console/operator/users/(\d+)/deactivate", page.text)
    assert user_id is not None
    assert operator.post(f"/console/operator/users/{user_id.group(1)}/deactivate").status_code == 303
    assert member.get("/console/coop/").status_code == 302
    assert Console(app.test_client()).login("coop-user").status_code == 401
    operator.post(f"/console/operator/users/{user_id.group(1)}/activate")
    member = signed_in(app, "coop-user")
    reset = operator.post(
        f"/console/operator/users/{user_id.group(1)}/password", {"new_password": "another password 2"}
    )
    assert reset.status_code == 303
    assert member.get("/console/coop/").status_code == 302
    assert Console(app.test_client()).login("coop-user", "another password 2").status_code == 303


def test_changing_ones_password_keeps_this_session_and_ends_the_others(app: Flask) -> None:
    here = signed_in(app, "coop-user")
    there = signed_in(app, "coop-user")
    bad = here.post(
        "/console/account/password",
        {"current_password": "wrong", "new_password": "short", "repeat_password": "other"},
    )
    assert bad.status_code == 422
    assert "当前密码不正确" in bad.text and "两次输入的新密码不一致" in bad.text
    good = here.post(
        "/console/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "a new password 3",
            "repeat_password": "a new password 3",
        },
    )
    assert good.status_code == 303
    assert here.get("/console/coop/").status_code == 200
    assert there.get("/console/coop/").status_code == 302


def test_next_only_returns_inside_the_console(app: Flask) -> None:
    page = app.test_client().get("/console/coop/batches/new")
    assert page.status_code == 302
    assert page.headers["Location"] == "/console/login?next=/console/coop/batches/new"
    for target, expected in (
        ("/console/lab/", "/console/lab/"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console/\\evil", "/console/"),
    ):
        console = Console(app.test_client())
        login_page = console.get("/console/login", query_string={"next": target})
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text)
        assert token is not None
        response = console.client.post(
            "/console/login",
            data={"username": "lab-user", "password": PASSWORD, "csrf_token": token.group(1), "next": target},
        )
        assert response.headers["Location"] == expected


_OPEN_APPS: list[Flask] = []


def request_dispose(app: Flask) -> None:
    _OPEN_APPS.append(app)


@pytest.fixture(autouse=True)
def _dispose_extra_apps() -> object:
    yield
    while _OPEN_APPS:
        _OPEN_APPS.pop().extensions["farmtrace.engine"].dispose()


# -- CSRF on every state-changing console route ------------------------------------------------

DUMMY_VALUES = {
    "batch_id": "B0000000000AB",
    "form_name": "handoff",
    "range_id": 1,
    "kind": "void",
    "org_id": "coop-changbu",
    "user_id": 1,
    "action": "unlock",
    "token_id": "tok_0000000000000000",
    "key_id": "k0",
    "product_id": "changbu-potato",
    "recall_id": "R000000000000",
    "complaint_id": 1,
    "code": "zh",
}


def console_post_urls(app: Flask) -> list[str]:
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/console") or not (rule.methods or set()) & {
                "POST",
                "PUT",
                "PATCH",
                "DELETE",
            }:
                continue
            urls.append(url_for(rule.endpoint, **{a: DUMMY_VALUES.get(a, "1") for a in rule.arguments}))
    return sorted(urls)


def test_every_console_form_route_is_known(app: Flask) -> None:
    urls = console_post_urls(app)
    assert "/console/login" in urls and "/console/logout" in urls
    assert "/console/coop/batches/new" in urls and "/console/lab/batches/B0000000000AB/test" in urls
    assert len(urls) >= 25


@pytest.mark.parametrize("token", [None, "", "forged-token-value", "x" * 43])
def test_every_console_post_refuses_a_missing_or_wrong_csrf_token(app: Flask, token: str | None) -> None:
    console = signed_in(app, "op-admin")
    real = console.token()
    data = {} if token is None else {"csrf_token": token}
    for url in console_post_urls(app):
        response = console.post(url, data, csrf=False)
        assert response.status_code == 400, (url, response.status_code)
        assert "csrf_token" in response.text and "重新" in response.text, url
        assert "<html" in response.text  # a readable page, not a bare error
    assert console.token() == real
    # Still signed in, and the right token still works.
    assert console.post("/console/logout", {"csrf_token": real}).status_code == 303


def test_csrf_is_checked_before_sign_in_and_the_login_form_itself(app: Flask) -> None:
    anonymous = Console(app.test_client())
    anonymous.get("/console/login")
    response = anonymous.client.post("/console/login", data={"username": "coop-user", "password": PASSWORD})
    assert response.status_code == 400
    assert anonymous.get("/console/coop/").status_code == 302
    fresh = app.test_client()  # no session at all
    assert fresh.post("/console/coop/batches/new", data={"csrf_token": "abc"}).status_code == 400


def test_the_csrf_token_changes_at_login(app: Flask) -> None:
    console = Console(app.test_client())
    console.get("/console/login")
    before = console.token()
    console.login("coop-user")
    assert console.token() != before


def test_the_api_is_not_subject_to_console_csrf(app: Flask) -> None:
    response = app.test_client().post("/api/v1/batches", json={})
    assert response.status_code == 401  # bearer auth answers, not CSRF
