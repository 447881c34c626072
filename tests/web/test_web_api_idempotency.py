"""Idempotency-Key and bulk writes, through the Flask test client on the engine under test."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from web_api_kit import Api, bootstrap, make_app, make_settings, new_key, register_batch, seed_county

from farmtrace.web.api.models import IdempotencyRecord

HARVEST = {"payload": {"quantity": "120", "unit": "kg"}}


@pytest.fixture
def app(database_url: str, tmp_path: Path):
    return make_app(database_url, tmp_path)


@pytest.fixture
def operator(app, database_url: str, tmp_path: Path) -> Api:
    return Api(app.test_client(), bootstrap(make_settings(database_url, tmp_path), app))


@pytest.fixture
def county(operator: Api) -> dict[str, str]:
    return seed_county(operator)


@pytest.fixture
def coop(operator: Api, county: dict[str, str]) -> Api:
    return operator.as_token(county["coop-longcun"])


def entry_count(api: Api, batch: str) -> int:
    return len(api.ok(api.get(f"/api/v1/batches/{batch}/entries"), 200)["items"])


def test_retry_returns_the_original_response_byte_for_byte_and_records_once(coop: Api) -> None:
    key = new_key()
    first = coop.post("/api/v1/batches", {"payload": {"product": "plum", "unit": "kg"}}, key=key)
    assert first.status_code == 201
    again = coop.post("/api/v1/batches", {"payload": {"product": "plum", "unit": "kg"}}, key=key)
    assert again.status_code == 201
    assert again.data == first.data
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    batch = first.json["batch"]
    listed = coop.ok(coop.get("/api/v1/batches"), 200)["items"]
    assert [b["id"] for b in listed] == [batch]

    path = f"/api/v1/batches/{batch}/events/farming.harvested"
    key = new_key()
    first = coop.post(path, HARVEST, key=key)
    assert first.status_code == 201
    # the same JSON with other whitespace and key order is the same request
    reordered = json.dumps({"payload": {"unit": "kg", "quantity": "120"}}, indent=2)
    again = coop.client.post(
        path, data=reordered, headers={**coop.headers(key), "Content-Type": "application/json"}
    )
    assert again.status_code == 201 and again.data == first.data
    assert entry_count(coop, batch) == 2


def test_same_key_with_another_body_or_path_is_409(coop: Api) -> None:
    batch = register_batch(coop)["batch"]
    key = new_key()
    path = f"/api/v1/batches/{batch}/events/farming.harvested"
    assert coop.post(path, HARVEST, key=key).status_code == 201
    response = coop.post(path, {"payload": {"quantity": "121", "unit": "kg"}}, key=key)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "/api/v1/docs#problem-idempotency-key-reused"
    assert response.json["errors"][0]["field"] == "Idempotency-Key"
    assert f"for POST {path} with a different body" in response.json["detail"]
    response = coop.post("/api/v1/batches", {"payload": {"product": "plum", "unit": "kg"}}, key=key)
    assert response.status_code == 409
    assert entry_count(coop, batch) == 2


def test_a_failed_request_stores_nothing_and_can_be_fixed_under_the_same_key(coop: Api) -> None:
    batch = register_batch(coop)["batch"]
    key = new_key()
    path = f"/api/v1/batches/{batch}/events/farming.harvested"
    assert coop.post(path, {"payload": {"quantity": "-5", "unit": "kg"}}, key=key).status_code == 422
    assert coop.post(path, HARVEST, key=key).status_code == 201
    assert entry_count(coop, batch) == 2


def test_malformed_key_is_400(coop: Api) -> None:
    response = coop.post("/api/v1/batches", {"payload": {"product": "plum", "unit": "kg"}}, key="bad key/")
    assert response.status_code == 400
    assert response.json["type"] == "/api/v1/docs#problem-idempotency-key-invalid"
    assert response.json["errors"][0]["field"] == "Idempotency-Key"


def test_keys_are_scoped_per_organisation(operator: Api, county: dict[str, str], coop: Api) -> None:
    key = new_key()
    assert (
        coop.post(
            "/api/v1/places", {"id": "coop-store", "kind": "warehouse", "name_zh": "仓"}, key=key
        ).status_code
        == 201
    )
    carrier = operator.as_token(county["carrier-sf"])
    response = carrier.post(
        "/api/v1/places", {"id": "sf-store", "kind": "warehouse", "name_zh": "仓"}, key=key
    )
    assert response.status_code == 201


def test_expired_key_runs_again_and_the_ledger_still_records_once(app, coop: Api) -> None:
    batch = register_batch(coop)["batch"]
    key = new_key()
    path = f"/api/v1/batches/{batch}/events/farming.harvested"
    first = coop.post(path, HARVEST, key=key)
    assert first.status_code == 201 and first.json["created"] is True
    _readers, writers = app.extensions["farmtrace.sessions"]
    with writers() as session:
        session.execute(update(IdempotencyRecord).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    again = coop.post(path, HARVEST, key=key)
    # The stored response is gone, so the request runs; the ledger's entry id (derived from
    # the key) finds the entry recorded before: 200, created false, same hash.
    assert again.status_code == 200
    assert again.json["created"] is False and again.json["hash"] == first.json["hash"]
    assert "Idempotent-Replayed" not in again.headers
    assert entry_count(coop, batch) == 2


def test_concurrent_duplicates_execute_once(app, coop: Api) -> None:
    batch = register_batch(coop)["batch"]
    key = new_key()
    path = f"/api/v1/batches/{batch}/events/farming.harvested"
    results: list = [None] * 4
    start = threading.Barrier(len(results))

    def send(index: int) -> None:
        client = app.test_client()
        start.wait()
        response = client.post(path, json=HARVEST, headers=coop.headers(key))
        results[index] = (response.status_code, response.data)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * len(results), results
    assert len({body for _, body in results}) == 1
    assert entry_count(coop, batch) == 2


def test_bulk_mix_of_good_and_bad_items(operator: Api, county: dict[str, str], coop: Api) -> None:
    good = register_batch(coop)["batch"]
    doomed = register_batch(coop)["batch"]
    items = [
        {
            "batch": good,
            "type": "farming.input",
            "payload": {"kind": "fertiliser", "product_name": "有机肥", "dose": "300", "dose_unit": "kg/mu"},
        },
        {
            "batch": good,
            "type": "farming.input",
            "payload": {"kind": "fertiliser", "product_name": "x", "dose": "-3", "dose_unit": "kg/mu"},
        },
        {"batch": doomed, "type": "farming.harvested", "payload": {"quantity": "50", "unit": "kg"}},
        {"batch": good, "type": "farming.harvested", "payload": {"quantity": "900", "unit": "kg"}},
        {"batch": doomed, "type": "logistics.warehouse_in", "payload": {"place": "no-such-store"}},
        {"batch": good, "type": "no.such_type", "payload": {}},
        {"batch": "B000000000000", "type": "farming.harvested", "payload": {"quantity": "1", "unit": "kg"}},
        "not an object",
    ]
    key = new_key()
    response = coop.post("/api/v1/events/bulk", {"items": items}, key=key)
    assert response.status_code == 200, response.text
    body = response.json
    statuses = [item["status"] for item in body["items"]]
    assert statuses == [201, 422, 424, 201, 422, 422, 422, 422], body
    assert body["recorded"] == 2 and body["refused"] == 6
    assert body["items"][1]["problem"]["errors"][0]["field"] == "payload.dose"
    assert body["items"][1]["problem"]["instance"] == "#/items/1"
    assert body["items"][4]["problem"]["errors"][0]["field"] == "payload.place"
    assert "items[4]" in body["items"][2]["problem"]["detail"]
    assert body["items"][0]["hash"] and body["items"][3]["seq"] == 2
    assert entry_count(coop, good) == 3
    assert entry_count(coop, doomed) == 1  # all or none per batch: the harvest was not kept

    again = coop.post("/api/v1/events/bulk", {"items": items}, key=key)
    assert again.data == response.data and again.headers["Idempotent-Replayed"] == "true"
    assert entry_count(coop, good) == 3


def test_bulk_checks_each_items_scope(operator: Api, county: dict[str, str], coop: Api) -> None:
    batch = register_batch(coop)["batch"]
    limited = operator.ok(
        coop.post("/api/v1/orgs/coop-longcun/tokens", {"name": "field phone", "scopes": ["events:write"]})
    )
    phone = coop.as_token(limited["secret"])
    items = [
        {"batch": batch, "type": "farming.harvested", "payload": {"quantity": "5", "unit": "kg"}},
        {"batch": batch, "type": "conformity.decided", "payload": {"decision": "conformant"}},
    ]
    body = phone.ok(phone.post("/api/v1/events/bulk", {"items": items}), 200)
    assert [i["status"] for i in body["items"]] == [201, 403]
    assert body["items"][1]["problem"]["scope"] == "lab:write"


def test_bulk_refuses_more_than_1000_items(coop: Api) -> None:
    item = {"batch": "B000000000000", "type": "farming.harvested", "payload": {"quantity": "1", "unit": "kg"}}
    response = coop.post("/api/v1/events/bulk", {"items": [item] * 1001})
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "items"


def test_bulk_checks_each_item_against_what_the_items_before_it_recorded(coop: Api) -> None:
    a = register_batch(coop)["batch"]
    b = register_batch(coop)["batch"]

    def sale(kg: str, item_id: str) -> dict[str, object]:
        body = {"channel": "market", "order_reference": "M-1", "quantity": kg, "unit": "kg"}
        return {"batch": a, "type": "sale.recorded", "payload": body, "id": item_id}

    harvest_a = {
        "batch": a,
        "type": "farming.harvested",
        "payload": {"quantity": "100", "unit": "kg"},
        "id": "a-h",
    }
    harvest_b = {
        "batch": b,
        "type": "farming.harvested",
        "payload": {"quantity": "10", "unit": "kg"},
        "id": "b-h",
    }
    items = [harvest_a, sale("80", "a-s1"), harvest_b, sale("30", "a-s2"), {**harvest_a, "id": "a-h2"}]
    body = coop.ok(coop.post("/api/v1/events/bulk", {"items": items}, key=new_key()), 200)
    assert [i["status"] for i in body["items"]] == [424, 424, 201, 409, 424]
    refused = body["items"][3]["problem"]
    assert refused["rule"] == "quantity_exceeded"
    # 100 harvested by items[0] and 80 sold by items[1]: the state the group itself made.
    assert "30 kg is more than" in refused["detail"] and "20 kg available" in refused["detail"]
    assert entry_count(coop, a) == 1 and entry_count(coop, b) == 2

    # The client fixes the sale and sends the upload again under a new key: the items whose
    # entries exist answer 200 (created false) with the same hash; nothing is recorded twice.
    items[3] = sale("20", "a-s2")
    again = coop.ok(coop.post("/api/v1/events/bulk", {"items": items}, key=new_key()), 200)
    assert [i["status"] for i in again["items"]] == [201, 201, 200, 201, 201]
    assert again["items"][2]["hash"] == body["items"][2]["hash"]
    assert again["items"][2]["created"] is False and again["items"][2]["flags"] == []
    assert [i["seq"] for i in again["items"]] == [1, 2, 1, 3, 4]
    assert entry_count(coop, a) == 5 and entry_count(coop, b) == 2
    batch = coop.ok(coop.get(f"/api/v1/batches/{a}"), 200)
    assert (batch["quantity_in"], batch["quantity_out"], batch["head_seq"]) == ("200", "100", 4)
