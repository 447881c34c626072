from __future__ import annotations

import pytest

from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings


@pytest.fixture
def client(database_url, tmp_path):
    settings = Settings.from_env({"FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": database_url})
    return create_app(settings).test_client()


def test_healthz_checks_the_database(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_reports_a_dead_database(tmp_path) -> None:
    settings = Settings.from_env(
        {"FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": "postgresql://x@127.0.0.1:1/none"}
    )
    response = create_app(settings).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["title"] == "Database unavailable"


def test_api_errors_are_problem_json(client) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404
    assert response.json["title"] == "Not Found"


def test_pages_default_to_chinese_with_english_on_request(client) -> None:
    zh = client.get("/")
    assert '<html lang="zh-CN">' in zh.text
    assert "扫码溯源" in zh.text
    en = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in en.text
    assert "Scan to trace" in en.text
    assert "Scan to trace" in client.get("/?lang=en").text


def test_strict_security_headers(client) -> None:
    headers = client.get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
