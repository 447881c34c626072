"""The API's machinery through the Flask test client: the OpenAPI document, the docs page,
authentication and scopes, problem bodies for each kind of error, idempotent retries, bulk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from web_api_kit import (
    OPERATOR,
    PDF,
    Api,
    bootstrap,
    make_app,
    make_settings,
    new_key,
    register_batch,
    seed_county,
)

from farmtrace.ledger.entry import format_recorded_at
from farmtrace.web.security import CONTENT_SECURITY_POLICY


@pytest.fixture
def app(database_url: str, tmp_path: Path):
    return make_app(database_url, tmp_path)


@pytest.fixture
def operator(app, database_url: str, tmp_path: Path) -> Api:
    token = bootstrap(make_settings(database_url, tmp_path), app)
    return Api(app.test_client(), token)


@pytest.fixture
def county(operator: Api) -> dict[str, str]:
    return seed_county(operator)


def test_openapi_document_is_valid_3_1_and_lists_every_route(app) -> None:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"] == "3.1.0"
    validate(spec)
    documented = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule
        for converter in ("int:", "string:", "path:"):
            path = path.replace("<" + converter, "<")
        path = path.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method))
    assert routed, "no API routes found"
    assert routed == documented


def test_every_write_documents_its_scope_and_every_error_is_problem_json(app) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").json
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            if method != "get":
                assert op.get("security"), f"{method} {path} documents no scope"
            assert "default" in op["responses"], f"{method} {path}"
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == ["application/problem+json"]


def test_docs_page_renders_from_our_origin_under_the_csp(app) -> None:
    client = app.test_client()
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = response.text
    assert "<script" not in page and "style=" not in page and "<style" not in page
    assert 'href="/api/v1/docs.css"' in page and "http://" not in page and "https://" not in page
    assert "/api/v1/batches/{batch}/events/lab.tested" in page
    assert 'id="problem-idempotency-key-reused"' in page
    assert "lab:write" in page
    css = client.get("/api/v1/docs.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_missing_and_bad_tokens_are_401_with_bearer_challenge(operator: Api) -> None:
    anonymous = operator.as_token(None)
    response = anonymous.get("/api/v1/batches")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="farmtrace"'
    assert response.json["type"] == "/api/v1/docs#problem-unauthenticated"
    assert "needs a bearer token" in response.json["detail"]

    wrong = operator.as_token("ft_" + "A" * 43)
    response = wrong.get("/api/v1/batches")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json["errors"] == [
        {"field": "Authorization", "message": "the API token is not valid (unknown, revoked or expired)"}
    ]

    response = operator.client.get("/api/v1/batches", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert response.json["detail"].startswith("Authorization: expected 'Bearer <token>'")


def test_scope_missing_is_403_naming_the_scope(operator: Api, county: dict[str, str]) -> None:
    reader = operator.ok(
        operator.post(f"/api/v1/orgs/{OPERATOR}/tokens", {"name": "reader", "scopes": ["batches:read"]})
    )
    api = operator.as_token(reader["secret"])
    assert api.get("/api/v1/batches").status_code == 200
    response = api.post("/api/v1/places", {"id": "x-place", "kind": "field", "name_zh": "田"})
    assert response.status_code == 403
    assert response.json["type"] == "/api/v1/docs#problem-scope-missing"
    assert response.json["scope"] == "batches:write"
    assert 'error="insufficient_scope", scope="batches:write"' in response.headers["WWW-Authenticate"]


def test_revoked_token_is_refused(operator: Api, county: dict[str, str]) -> None:
    issued = operator.ok(operator.post(f"/api/v1/orgs/{OPERATOR}/tokens", {"name": "t", "scopes": ["admin"]}))
    api = operator.as_token(issued["secret"])
    assert api.get(f"/api/v1/orgs/{OPERATOR}/tokens").status_code == 200
    operator.ok(operator.delete(f"/api/v1/tokens/{issued['token']['id']}"), 200)
    assert api.get(f"/api/v1/orgs/{OPERATOR}/tokens").status_code == 401


def test_problem_bodies_name_the_field(operator: Api, county: dict[str, str]) -> None:
    coop = operator.as_token(county["coop-longcun"])
    batch = register_batch(coop)["batch"]

    # marshmallow schema errors: 422 listing every field
    response = coop.post(
        f"/api/v1/batches/{batch}/events/farming.input",
        {"payload": {"kind": "pesticide", "product_name": "x", "dose": "-1", "dose_unit": "bushel"}},
    )
    assert response.status_code == 422
    body = response.json
    assert body["type"] == "/api/v1/docs#problem-validation"
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields["payload.dose"] == "must be greater than 0, found '-1'"
    assert fields["payload.dose_unit"].startswith("expected one of g/mu")
    assert body["detail"] == "payload.dose: must be greater than 0, found '-1' (and 1 more)"
    assert body["instance"] == f"/api/v1/batches/{batch}/events/farming.input"

    # an unknown top-level field in the envelope
    response = coop.post(f"/api/v1/batches/{batch}/events/farming.harvested", {"payload": {}, "when": "now"})
    assert response.status_code == 422
    assert {"field": "when", "message": "is not a known field", "in": "body"} in response.json["errors"]

    # webargs-parsed query: 422 naming the query parameter
    response = coop.get("/api/v1/batches?limit=0")
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "limit"
    assert response.json["errors"][0]["in"] == "query"

    # NotFound in the path: 404; a reference in the body: 422
    response = coop.get("/api/v1/batches/B000000000000")
    assert response.status_code == 404
    assert response.json["errors"][0]["field"] == "batch"
    response = coop.post(
        f"/api/v1/batches/{batch}/events/farming.harvested",
        {"payload": {"quantity": "10", "unit": "kg", "place": "no-such-field"}},
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "payload.place"

    # a rule violation: 409 with the rule's code
    response = coop.post("/api/v1/places", {"id": "field-a", "kind": "field", "name_zh": "重复"})
    assert response.status_code == 409
    assert response.json["type"] == "/api/v1/docs#problem-rule-violation"
    assert response.json["rule"] == "exists"
    assert response.json["errors"] == [{"field": "id", "message": "place field-a already exists"}]

    # NotPermitted: 403 with the rule's code
    lab = operator.as_token(county["lab-gd"])
    response = lab.post(
        f"/api/v1/batches/{batch}/events/farming.harvested", {"payload": {"quantity": "10", "unit": "kg"}}
    )
    assert response.status_code == 403
    assert response.json["type"] == "/api/v1/docs#problem-not-permitted"
    assert response.json["rule"]

    # malformed JSON: 400; a JSON body that is not an object: 422
    response = coop.client.post(
        "/api/v1/places", data=b"{", headers={**coop.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    response = coop.post("/api/v1/places", [1, 2])
    assert response.status_code == 422

    # unknown route and wrong method
    assert coop.get("/api/v1/no-such-thing").status_code == 404
    response = coop.client.put("/api/v1/batches", headers=coop.headers())
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_ledger_errors_map_to_their_statuses(operator: Api, county: dict[str, str]) -> None:
    coop = operator.as_token(county["coop-longcun"])
    batch = register_batch(coop)["batch"]
    head = coop.ok(coop.get(f"/api/v1/batches/{batch}/head"), 200)
    now = datetime.now(UTC)
    entry = {
        "v": 1,
        "batch": batch,
        "seq": head["seq"] + 5,
        "prev": head["hash"],
        "type": "farming.harvested",
        "event_time": now.isoformat(),
        "recorded_at": format_recorded_at(now),
        "author": "coop-longcun",
        "key": "k0000000000000000",
        "id": "self-1",
        "payload": {"quantity": "10", "unit": "kg"},
    }
    # FormatError: 400 naming the entry field
    response = coop.post("/api/v1/entries", {"entry": {**entry, "v": 2}, "signature": "AA=="})
    assert response.status_code == 400
    assert response.json["type"] == "/api/v1/docs#problem-malformed"
    assert response.json["errors"][0]["field"] == "entry.v"
    # author mismatch: 403
    response = coop.post(
        "/api/v1/entries", {"entry": {**entry, "author": "lab-gd"}, "signature": "A" * 86 + "=="}
    )
    assert response.status_code == 403
    # unknown key: KeyNotUsable 403 (checked after the rules and the chain head)
    response = coop.post(
        "/api/v1/entries", {"entry": {**entry, "seq": head["seq"] + 1}, "signature": "A" * 86 + "=="}
    )
    assert response.status_code == 403, response.json
    assert response.json["type"] == "/api/v1/docs#problem-key-not-usable"
    assert response.json["errors"][0]["field"] == "entry.key"
    # chain conflict: seq does not continue the head
    response = coop.post("/api/v1/entries", {"entry": entry, "signature": "A" * 86 + "=="})
    assert response.status_code == 409
    assert response.json["type"] == "/api/v1/docs#problem-chain-conflict"


def test_unexpected_errors_are_500_without_internals(app, operator: Api) -> None:
    @app.get("/api/v1/_boom")
    def _boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    response = operator.get("/api/v1/_boom")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret" not in response.text and "passwd" not in response.text
    assert response.json["type"] == "/api/v1/docs#problem-internal"


def test_request_too_large_is_413(app, operator: Api) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = operator.post(
        "/api/v1/places", {"id": "x" * 2000, "kind": "field", "name_zh": "田"}, key=new_key()
    )
    assert response.status_code == 413
    assert response.json["type"] == "/api/v1/docs#problem-too-large"
    assert "1000 bytes" in response.json["detail"]


def test_document_upload_is_content_addressed(operator: Api, county: dict[str, str]) -> None:
    lab = operator.as_token(county["lab-gd"])
    headers = {**lab.headers(), "Content-Type": "application/pdf"}
    response = lab.client.post("/api/v1/documents?filename=report.pdf", data=PDF, headers=headers)
    body = lab.ok(response)
    import hashlib

    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    download = lab.client.get(body["url"])
    assert download.status_code == 200 and download.data == PDF and download.mimetype == "application/pdf"
    fake = lab.client.post("/api/v1/documents", data=b"MZ\x90\x00", headers=headers)
    assert fake.status_code == 422
    assert fake.json["errors"][0]["field"] == "content"


def test_every_operation_refuses_a_token_without_its_scope(
    app, operator: Api, county: dict[str, str]
) -> None:
    """The scope matrix, read from the document: for each operation that names scopes, a
    token holding every other scope gets 403 scope-missing, whatever the body."""
    from farmtrace.trace.tokens import SCOPES

    spec = app.test_client().get("/api/v1/openapi.json").json
    tokens: dict[frozenset[str], str] = {}
    checked = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters" or not op.get("security"):
                continue
            needed = frozenset(scope for requirement in op["security"] for scope in requirement["bearerAuth"])
            if needed not in tokens:
                others = [s for s in SCOPES if s not in needed]
                tokens[needed] = operator.ok(
                    operator.post(f"/api/v1/orgs/{OPERATOR}/tokens", {"name": "matrix", "scopes": others})
                )["secret"]
            url = path
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                if param.get("in") == "path":
                    number = param.get("schema", {}).get("type") == "integer"
                    url = url.replace("{" + param["name"] + "}", "1" if number else param["name"])
            response = operator.client.open(
                url, method=method.upper(), json={}, headers={"Authorization": f"Bearer {tokens[needed]}"}
            )
            assert response.status_code == 403, (method, path, response.text)
            assert response.json["type"] == "/api/v1/docs#problem-scope-missing"
            assert response.json["scope"] in needed
            checked += 1
    assert checked >= 40


def test_inputs_no_database_can_hold_are_refused_before_the_query(
    operator: Api, county: dict[str, str]
) -> None:
    response = operator.get("/api/v1/orgs/a%00b")
    assert response.status_code == 400 and response.json["errors"][0]["field"] == "path"
    response = operator.get("/api/v1/orgs?kind=lab%00")
    assert response.status_code == 400 and response.json["errors"][0]["field"] == "kind"
    response = operator.client.get("/api/v1/batches", headers={"Authorization": "Bearer ft_é"})
    assert response.status_code == 401
    response = operator.get("/api/v1/codes/ranges/47942031968")
    assert response.status_code == 404 and response.json["errors"][0]["field"] == "range"
    response = operator.post(
        f"/api/v1/orgs/{OPERATOR}/tokens", {"name": "x", "scopes": ["admin"], "user_id": 2**40}
    )
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "user_id"


def test_complaints_forwarded_listed_and_handled(operator: Api, county: dict[str, str]) -> None:
    coop = operator.as_token(county["coop-longcun"])
    batch = register_batch(coop)["batch"]
    complaint = coop.ok(
        coop.post(
            f"/api/v1/batches/{batch}/complaints",
            {"problem_type": "quality", "text": "果子有异味", "phone": "138 0013 8000"},
            key=new_key(),
        )
    )
    assert complaint["status"] == "new" and complaint["phone"] is None
    seen_by_operator = operator.ok(operator.get("/api/v1/complaints?status=new"), 200)["items"]
    assert [c["phone"] for c in seen_by_operator] == ["13800138000"]
    seen_by_coop = coop.ok(coop.get("/api/v1/complaints"), 200)["items"]
    assert [c["id"] for c in seen_by_coop] == [complaint["id"]] and seen_by_coop[0]["phone"] is None
    lab = operator.as_token(county["lab-gd"])
    assert lab.ok(lab.get("/api/v1/complaints"), 200)["items"] == []
    assert lab.get(f"/api/v1/complaints/{complaint['id']}").status_code == 404
    refused = coop.post(f"/api/v1/complaints/{complaint['id']}/handle", {"status": "resolved"})
    assert refused.status_code == 403 and refused.json["rule"] == "operator_only"
    handled = operator.ok(
        operator.post(
            f"/api/v1/complaints/{complaint['id']}/handle", {"status": "resolved", "notes": "已退款"}
        ),
        200,
    )
    assert handled["status"] == "resolved" and handled["notes"] == "已退款"
