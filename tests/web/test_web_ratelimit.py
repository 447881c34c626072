"""Rate limits (farmtrace.web.ratelimit) and request size limits, on the engine under test.

Limits are set small through their environment variables, then each is run past: the
answer must be 429 problem+json naming the limit, with a Retry-After inside the window,
while another token or another client goes on being served.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from flask import Flask
from web_api_kit import bootstrap, make_app, make_settings

from farmtrace.web.app import create_app
from farmtrace.web.ratelimit import RateLimits
from farmtrace.web.settings import ConfigError

PLACE = {"id": "rl-field", "kind": "field", "name_zh": "试验田"}


def app_with(monkeypatch: pytest.MonkeyPatch, url: str, home: Path, **limits: str) -> tuple[Flask, str]:
    for name, value in limits.items():
        monkeypatch.setenv(name, value)
    app = make_app(url, home)
    return app, bootstrap(make_settings(url, home), app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_limited(response, limit: str, what: str, seconds: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= seconds
    body = response.json
    assert body["type"].endswith("#problem-rate-limited") and body["status"] == 429
    assert body["limit"] == limit
    assert body["detail"].startswith(f"{what}: more than ") and body["detail"].endswith(
        f"retry after {retry} s"
    )


def test_writes_are_limited_per_token(monkeypatch, database_url, tmp_path) -> None:
    app, token = app_with(monkeypatch, database_url, tmp_path, FARMTRACE_RATE_LIMIT_WRITE_TOKEN="3/60")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/v1/places", json=PLACE, headers=bearer(token)).status_code != 429
    refused = client.post("/api/v1/places", json=PLACE, headers=bearer(token))
    assert_limited(refused, "write-token", "writes with this token", 60)
    assert refused.json["detail"].startswith("writes with this token: more than 3 per 60 s")
    # Reads are not writes; another token has its own count.
    assert client.get("/api/v1/places", headers=bearer(token)).status_code == 200
    other = client.post("/api/v1/places", json=PLACE, headers=bearer("ft_" + "x" * 43))
    assert other.status_code == 401


def test_writes_are_limited_per_client_whatever_token_is_sent(monkeypatch, database_url, tmp_path) -> None:
    app, _token = app_with(monkeypatch, database_url, tmp_path, FARMTRACE_RATE_LIMIT_WRITE_CLIENT="5/60")
    client = app.test_client()
    for _ in range(5):  # a fresh made-up token every time: each is refused (401) but counted
        answer = client.post("/api/v1/places", json=PLACE, headers=bearer(f"ft_{secrets.token_urlsafe(32)}"))
        assert answer.status_code == 401
    refused = client.post("/api/v1/places", json=PLACE, headers=bearer(f"ft_{secrets.token_urlsafe(32)}"))
    assert_limited(refused, "write-client", "writes from this client", 60)
    elsewhere = client.post(
        "/api/v1/places", json=PLACE, environ_base={"REMOTE_ADDR": "198.51.100.7"}, headers=bearer("x")
    )
    assert elsewhere.status_code == 401


def test_scans_are_limited_per_client(monkeypatch, database_url, tmp_path) -> None:
    app, _token = app_with(monkeypatch, database_url, tmp_path, FARMTRACE_RATE_LIMIT_SCAN_CLIENT="4/60")
    client = app.test_client()
    for _ in range(4):
        assert client.get("/c/ABCDEFGHJK").status_code != 429
    assert_limited(client.get("/c/ABCDEFGHJK"), "scan-client", "scans from this client", 60)
    assert client.get("/c/ABCDEFGHJK", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code != 429


def test_unknown_codes_use_up_a_deployment_wide_allowance(monkeypatch, database_url, tmp_path) -> None:
    app, _token = app_with(monkeypatch, database_url, tmp_path, FARMTRACE_RATE_LIMIT_UNKNOWN_CLIENT="2/3600")
    client = app.test_client()
    assert [client.get(f"/c/UNKNOWN{i}").status_code for i in range(2)] == [404, 404]
    refused = client.get("/c/UNKNOWN9")
    assert_limited(refused, "unknown-client", "lookups of unknown codes from this client", 3600)
    assert client.get("/c/UNKNOWN9", environ_base={"REMOTE_ADDR": "203.0.113.10"}).status_code == 404


def test_counts_are_shared_between_instances_on_postgresql_only(monkeypatch, database_url, tmp_path) -> None:
    """Two apps stand for two gunicorn instances: PostgreSQL shares the count, SQLite does not
    (documented: per process)."""
    first, token = app_with(monkeypatch, database_url, tmp_path, FARMTRACE_RATE_LIMIT_WRITE_TOKEN="2/60")
    second = make_app(database_url, tmp_path)
    statuses = [
        app.test_client().post("/api/v1/places", json=PLACE, headers=bearer(token)).status_code
        for app in (first, second, first, second)
    ]
    if database_url.startswith("postgresql"):
        assert statuses[:2] != [429, 429] and statuses[2:] == [429, 429]
    else:
        assert 429 not in statuses


def test_proxy_hops_tell_clients_apart_by_forwarded_address(monkeypatch, database_url, tmp_path) -> None:
    app, _token = app_with(
        monkeypatch, database_url, tmp_path, FARMTRACE_RATE_LIMIT_SCAN_CLIENT="1/60", FARMTRACE_PROXY_HOPS="1"
    )
    client = app.test_client()
    via = {"X-Forwarded-For": "192.0.2.1"}
    assert client.get("/c/ABCDEFGHJK", headers=via).status_code != 429
    assert client.get("/c/ABCDEFGHJK", headers=via).status_code == 429
    assert client.get("/c/ABCDEFGHJK", headers={"X-Forwarded-For": "192.0.2.2"}).status_code != 429


def test_limits_can_be_switched_off(monkeypatch, database_url, tmp_path) -> None:
    app, _token = app_with(
        monkeypatch,
        database_url,
        tmp_path,
        FARMTRACE_RATE_LIMIT_SCAN_CLIENT="1/60",
        FARMTRACE_RATE_LIMITS="off",
    )
    client = app.test_client()
    assert [client.get("/c/ABCDEFGHJK").status_code == 429 for _ in range(3)] == [False] * 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "lots",
            "FARMTRACE_RATE_LIMIT_SCAN_CLIENT must be COUNT/SECONDS (e.g. 600/60) or 0 for no limit, found 'lots'.",
        ),
        (
            "5/0",
            "FARMTRACE_RATE_LIMIT_SCAN_CLIENT must be COUNT/SECONDS (e.g. 600/60) or 0 for no limit, found '5/0'.",
        ),
    ],
)
def test_a_wrong_limit_is_one_sentence(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RateLimits.from_env({"FARMTRACE_RATE_LIMIT_SCAN_CLIENT": value})
    assert str(caught.value) == message


def test_a_body_over_the_size_limit_is_a_413_problem(database_url, tmp_path) -> None:
    app = create_app(
        make_settings(database_url, tmp_path), test_config={"TESTING": True, "MAX_CONTENT_LENGTH": 1000}
    )
    token = bootstrap(make_settings(database_url, tmp_path), app)
    answer = app.test_client().post(
        "/api/v1/places", json={**PLACE, "name_zh": "田" * 2000}, headers=bearer(token)
    )
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json["type"].endswith("#problem-too-large")
    assert answer.json["detail"] == "body: the request body is larger than the limit of 1000 bytes"
