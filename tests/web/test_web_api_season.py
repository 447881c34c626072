"""A season through HTTP only (after the operator's bootstrap): register, farm, harvest, test,
hand off, pack, issue codes, split, sign an entry in self-custody, recall; then read it back
through lists with cursors, the batch view, lineage, entries and the EPCIS export."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from web_api_kit import OPERATOR, PDF, Api, bootstrap, make_app, make_settings, new_key, seed_county

from farmtrace.web.cli import main as cli
from farmtrace.web.cli.sign import complete_entry, load_key_file, sign_entry

FERTILISER = {"kind": "fertiliser", "product_name": "有机肥", "dose": "300", "dose_unit": "kg/mu"}
PESTICIDE = {
    "kind": "pesticide",
    "product_name": "吡虫啉 10% 可湿性粉剂",
    "registration_number": "PD20080123",
    "active_ingredient": "imidacloprid",
    "dose": "20",
    "dose_unit": "g/mu",
    "pre_harvest_interval_days": 0,
    "place": "field-a",
}


@pytest.fixture
def season(database_url: str, tmp_path: Path) -> tuple[Api, dict[str, str]]:
    app = make_app(database_url, tmp_path)
    operator = Api(app.test_client(), bootstrap(make_settings(database_url, tmp_path), app))
    return operator, seed_county(operator)


def test_a_season_through_http(season: tuple[Api, dict[str, str]], tmp_path: Path) -> None:
    operator, tokens = season
    coop, lab = operator.as_token(tokens["coop-longcun"]), operator.as_token(tokens["lab-gd"])
    carrier, packer = operator.as_token(tokens["carrier-sf"]), operator.as_token(tokens["pack-wuhua"])

    key = new_key()
    body = {
        "payload": {
            "product": "plum",
            "lot": "HP2026-01",
            "unit": "kg",
            "expected_quantity": "1000",
            "origin_place": "field-a",
        }
    }
    registered = coop.ok(coop.post("/api/v1/batches", body, key=key))
    batch = registered["batch"]
    assert (
        coop.post("/api/v1/batches", body, key=key).data == coop.post("/api/v1/batches", body, key=key).data
    )

    def record(api: Api, event_type: str, payload: dict, status: int = 201) -> dict:
        return api.ok(
            api.post(f"/api/v1/batches/{batch}/events/{event_type}", {"payload": payload}, key=new_key()),
            status,
        )

    record(coop, "farming.input", FERTILISER)
    record(coop, "farming.input", PESTICIDE)
    record(coop, "farming.harvested", {"quantity": "900", "unit": "kg", "place": "field-a"})

    upload = lab.client.post(
        "/api/v1/documents?filename=report.pdf",
        data=PDF,
        headers={**lab.headers(), "Content-Type": "application/pdf"},
    )
    report = lab.ok(upload)["sha256"]
    result = {
        "analyte": "吡虫啉",
        "method": "GB/T 20769-2008",
        "value": "0.01",
        "limit": "0.5",
        "unit": "mg/kg",
        "verdict": "pass",
    }
    tested = record(
        lab,
        "lab.tested",
        {"sample_id": "S-1", "report_sha256": report, "results": [result], "verdict": "pass"},
    )
    assert tested["entry"]["payload"]["report_sha256"] == hashlib.sha256(PDF).hexdigest()

    record(coop, "logistics.picked_up", {"carrier": "carrier-sf", "place": "field-a"})
    record(carrier, "logistics.handed_off", {"to": "pack-wuhua", "place": "wh-county"})
    packed = record(
        packer, "packing.packed", {"packages": 100, "package": "box", "net_quantity": "5", "net_unit": "kg"}
    )
    assert packed["seq"] == 7

    codes = packer.ok(packer.post(f"/api/v1/batches/{batch}/codes", {"count": 100}, key=new_key()))
    assert codes["count"] == 100 and codes["first_serial"]
    ranges = packer.ok(packer.get(f"/api/v1/batches/{batch}/codes"), 200)["items"]
    assert [r["range"] for r in ranges] == [codes["range"]]

    # self-custody: the lab registers its own key and signs a result itself
    key_file = tmp_path / "lab.key"
    generated = CliRunner().invoke(cli, ["sign", "--generate-key", "--key", str(key_file)])
    assert generated.exit_code == 0, generated.output
    public = json.loads(generated.output)
    assert (key_file.stat().st_mode & 0o777) == 0o600
    registered_key = lab.ok(lab.post("/api/v1/orgs/lab-gd/keys", {"public_key": public["public_key"]}))
    assert registered_key["key_id"] == public["key_id"]
    head = coop.ok(coop.get(f"/api/v1/batches/{batch}/head"), 200)
    signing_key = load_key_file(key_file)
    fields = {
        "batch": batch,
        "type": "lab.tested",
        "event_time": datetime.now(UTC).isoformat(),
        "author": "lab-gd",
        "payload": {"sample_id": "S-2", "report_sha256": report, "results": [result], "verdict": "pass"},
    }
    signed = sign_entry(complete_entry(fields, signing_key, head, datetime.now(UTC)), signing_key)
    posted = lab.ok(lab.post("/api/v1/entries", signed, key=new_key()))
    assert posted["seq"] == head["seq"] + 1 and posted["entry"]["key"] == public["key_id"]
    replay = lab.post("/api/v1/entries", signed)
    assert replay.status_code == 200 and replay.json["created"] is False
    # a stale head is a chain conflict; a signature that does not verify is refused
    stale = sign_entry(
        complete_entry({**fields, "id": "lab-2"}, signing_key, head, datetime.now(UTC)), signing_key
    )
    response = lab.post("/api/v1/entries", stale)
    assert response.status_code == 409 and response.json["type"] == "/api/v1/docs#problem-chain-conflict"
    head = coop.ok(coop.get(f"/api/v1/batches/{batch}/head"), 200)
    fresh = sign_entry(
        complete_entry({**fields, "id": "lab-3"}, signing_key, head, datetime.now(UTC)), signing_key
    )
    other = sign_entry({**fresh["entry"], "id": "lab-4"}, signing_key)["signature"]
    response = lab.post("/api/v1/entries", {"entry": fresh["entry"], "signature": other})
    assert response.status_code == 422 and response.json["type"] == "/api/v1/docs#problem-verification-failed"

    # split in the packing station's custody, then recall the origin: it reaches the parts
    split = packer.ok(
        packer.post(
            "/api/v1/lineage/split",
            {"batch": batch, "outputs": [{"quantity": "200"}, {"quantity": "300"}]},
            key=new_key(),
        )
    )
    parts = split["outputs"]
    assert len(parts) == 2
    recall = operator.ok(
        operator.post(f"/api/v1/batches/{batch}/recalls", {"reason": "吡虫啉超标", "level": 1}, key=new_key())
    )
    assert recall["batches"][0] == batch and set(recall["batches"][1:]) == set(parts)
    view = coop.ok(coop.get(f"/api/v1/batches/{parts[0]}"), 200)
    assert view["recalled"] is True and view["origin"] == "split"
    assert view["proof_bundle"] == f"/bundle/{parts[0]}.json"
    graph = coop.ok(coop.get(f"/api/v1/batches/{batch}/lineage"), 200)
    assert set(graph["nodes"]) == {batch, *parts}
    recalls = coop.ok(coop.get(f"/api/v1/recalls/{recall['recall_id']}"), 200)["items"]
    assert {r["batch"] for r in recalls} == {batch, *parts}

    # reading back: cursor pages with Link headers, filters by type and time
    first = coop.get("/api/v1/events?type=farming.input&limit=1")
    assert first.status_code == 200
    assert len(first.json["items"]) == 1 and first.json["next"]
    assert first.headers["Link"] == f'<{first.json["next"]}>; rel="next"'
    second = coop.get(first.json["next"])
    assert len(second.json["items"]) == 1 and second.json["next"] is None and "Link" not in second.headers
    types = {page["items"][0]["entry"]["payload"]["kind"] for page in (first.json, second.json)}
    assert types == {"fertiliser", "pesticide"}
    assert coop.get("/api/v1/events?type=farming.input&since=2999-01-01T00:00:00Z").json["items"] == []
    assert coop.get("/api/v1/events?limit=10&cursor=bm9wZQ").status_code == 400

    seen: list[str] = []
    url = "/api/v1/batches?limit=2"
    while url:
        page = coop.ok(coop.get(url), 200)
        seen += [b["id"] for b in page["items"]]
        url = page["next"]
    assert sorted(seen) == sorted([batch, *parts]) and len(seen) == 3
    mine = coop.ok(coop.get("/api/v1/batches?recalled=true&product=plum"), 200)["items"]
    assert {b["id"] for b in mine} == {batch, *parts}

    entries = coop.ok(coop.get(f"/api/v1/batches/{batch}/entries"), 200)["items"]
    assert [e["entry"]["seq"] for e in entries] == list(range(len(entries)))
    assert coop.ok(coop.get(f"/api/v1/batches/{batch}/entries/4"), 200)["entry"]["type"] == "lab.tested"

    epcis = operator.get(f"/api/v1/batches/{batch}/epcis")
    assert epcis.status_code == 200 and epcis.mimetype == "application/ld+json"
    document = json.loads(epcis.data)
    assert document["type"] == "EPCISDocument" and document["epcisBody"]["eventList"]

    orgs = operator.ok(operator.get("/api/v1/orgs?kind=lab"), 200)["items"]
    assert [o["id"] for o in orgs] == ["lab-gd"]
    keys = operator.ok(operator.as_token(None).get("/api/v1/keys?org=lab-gd"), 200)["items"]
    assert public["key_id"] in {k["key_id"] for k in keys}
    assert operator.ok(operator.get(f"/api/v1/orgs/{OPERATOR}"), 200)["kind"] == "operator"
