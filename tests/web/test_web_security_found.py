"""Bugs the security tests found, each pinned by a small test of its own (the wider
security tests are tests/web/test_web_security_*.py; docs/security.md describes them)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from web_api_kit import Api, bootstrap, make_app, make_settings, seed_county

from farmtrace.ledger.db import create_db_engine


@pytest.fixture
def county(database_url: str, tmp_path: Path) -> tuple[Api, dict[str, str]]:
    app = make_app(database_url, tmp_path)
    operator = Api(app.test_client(), bootstrap(make_settings(database_url, tmp_path), app))
    return operator, seed_county(operator)


def test_a_products_certificates_are_recorded_and_listed_through_the_api(
    county: tuple[Api, dict[str, str]],
) -> None:
    # Both operations answered 500: the views' dates were already text when the response
    # schema formatted them as dates.
    operator, tokens = county
    coop = operator.as_token(tokens["coop-longcun"])
    today = date.today()
    body = {
        "scheme": "green_food",
        "certificate_number": "LB-45-1234567890",
        "issuer": "中国绿色食品发展中心",
        "valid_from": (today - timedelta(days=1)).isoformat(),
        "valid_until": (today + timedelta(days=365)).isoformat(),
    }
    created = coop.ok(coop.post("/api/v1/products/plum/certificates", body))
    assert created["number"] == "LB-45-1234567890" and created["valid"] is True
    assert created["valid_from"] == body["valid_from"] and created["valid_until"] == body["valid_until"]
    listed = coop.ok(coop.get("/api/v1/products/plum/certificates"), 200)["items"]
    assert listed == [created]


def test_a_retried_token_issue_neither_issues_twice_nor_keeps_the_secret(
    county: tuple[Api, dict[str, str]], database_url: str
) -> None:
    # The idempotency store kept the first response, secret and all, for 24 hours.
    operator, _tokens = county
    body = {"name": "lab software", "scopes": ["batches:read"]}
    first = operator.post("/api/v1/orgs/lab-gd/tokens", body, key="issue-once")
    assert first.status_code == 201
    secret, token_id = first.json["secret"], first.json["token"]["id"]
    retry = operator.post("/api/v1/orgs/lab-gd/tokens", body, key="issue-once")
    assert retry.status_code == 409 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json["type"] == "/api/v1/docs#problem-secret-shown-once"
    assert token_id in retry.json["detail"] and secret not in retry.text
    listed = [t["id"] for t in operator.get("/api/v1/orgs/lab-gd/tokens").json["items"]]
    assert len(listed) == 2 and token_id in listed  # seed_county's token and this one, once
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            bodies = connection.execute(text("SELECT body FROM api_idempotency")).scalars().all()
    finally:
        engine.dispose()
    assert bodies and not any(secret.encode() in bytes(stored) for stored in bodies)
