"""Console flows past the farm: hand-offs and temperatures, codes (issue, export, void,
reprint, scanning a code back to its batch), the operator's people, tokens and keys,
recalls with their preview, and the complaints inbox (where alone a phone is shown)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import test_web_console_kit as kit
from flask import Flask
from test_web_console_kit import field_error, field_value, local, register_batch, signed_in

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.complaints import ComplaintService
from farmtrace.trace.services import trace_services
from farmtrace.web.api.context import MASTER_KEY_FILE

app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")


def batch_with_goods(app: Flask, quantity: str = "500") -> str:
    return register_batch(signed_in(app, "coop-user"), days_ago=5, quantity=quantity)


def hand_off(
    console: kit.Console, batch: str, to: str, movement: str = "handed_off", place: str = "county-warehouse"
) -> object:
    path = f"/console/logistics/batches/{batch}"
    return console.post(
        f"{path}/handoff",
        {"movement": movement, "to": to, "place": place, "client_id": "console-" + secrets.token_hex(12)},
    )


def test_hand_off_moves_custody_and_only_the_custodian_records(app: Flask) -> None:
    batch = batch_with_goods(app)
    coop = signed_in(app, "coop-user")
    packer = signed_in(app, "packer-user")
    # The packing station cannot record a move of a batch it does not hold.
    page = packer.get(f"/console/logistics/batches/{batch}")
    assert 'id="not-custodian"' in page.text and "长布红薯合作社" in page.text
    refused = hand_off(packer, batch, "carrier-wuhua", "picked_up")
    assert refused.status_code == 422 and "custodian" in refused.text
    # A pickup to something that is not a carrier: the error lands on the "to" field.
    wrong = hand_off(coop, batch, "lab-meizhou", "picked_up")
    assert wrong.status_code == 422
    assert field_error(wrong.text, "to") is not None
    assert 'id="section-handoff" open' in wrong.text
    assert hand_off(coop, batch, "packer-wuhua").status_code == 303
    assert batch in packer.get("/console/logistics/").text
    page = packer.get(f"/console/logistics/batches/{batch}")
    assert 'id="not-custodian"' not in page.text and "五华包装站" in page.text


def test_temperatures_are_typed_as_lines_and_bad_lines_are_named(app: Flask) -> None:
    batch = batch_with_goods(app)
    coop = signed_in(app, "coop-user")
    path = f"/console/logistics/batches/{batch}"
    today = datetime.now(UTC) - timedelta(hours=3)
    bad = coop.post(
        f"{path}/temperature",
        {
            "min_celsius": "2",
            "max_celsius": "8",
            "readings": f"{local(today).replace('T', ' ')} 4.5\n99:99 5\nwarm",
            "event_time": local(today),
            "client_id": coop.form_client_id(path),
        },
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "readings").startswith("第 3 行：")
    assert "99:99 5" in field_value(bad.text, "readings")
    hour = today.astimezone(kit.CST)
    lines = "\n".join(
        f"{(hour + timedelta(minutes=10 * n)).strftime('%H:%M')} {c}"
        for n, c in enumerate(("4.5", "9.5", "3"))
    )
    good = coop.post(
        f"{path}/temperature",
        {
            "min_celsius": "2",
            "max_celsius": "8",
            "readings": lines,
            "event_time": local(today),
            "client_id": coop.form_client_id(path),
        },
    )
    assert good.status_code == 303, good.text
    assert "温度超出范围" in coop.get(f"/console/coop/batches/{batch}").text


def test_a_station_receives_a_delivery_and_a_warehouse_takes_it_in(app: Flask) -> None:
    batch = batch_with_goods(app)
    coop = signed_in(app, "coop-user")
    assert hand_off(coop, batch, "carrier-wuhua", "picked_up", "changbu-field").status_code == 303
    carrier = signed_in(app, "carrier-user")
    assert (
        hand_off(carrier, batch, "station-yuanqiao", "delivered", "wuhua.changbu.yuanqiao").status_code == 303
    )
    station = signed_in(app, "station-user")
    assert batch in station.get("/console/logistics/").text
    path = f"/console/logistics/batches/{batch}"
    wrong_place = station.post(
        f"{path}/warehouse_in", {"place": "changbu-field", "client_id": station.form_client_id(path)}
    )
    assert wrong_place.status_code == 422  # not a warehouse: refused by the domain, by field
    assert field_error(wrong_place.text, "place") is not None


def issue_codes(console: kit.Console, batch: str, count: str) -> object:
    path = f"/console/packing/batches/{batch}"
    return console.post(f"{path}/issue", {"count": count, "client_id": console.form_client_id(path)})


def test_codes_are_issued_exported_scanned_back_voided_and_reprinted(app: Flask) -> None:
    batch = batch_with_goods(app)
    packer = signed_in(app, "packer-user")
    refused = issue_codes(packer, batch, "0")
    assert refused.status_code == 422
    assert "expected 1 to" in field_error(refused.text, "count")
    assert field_value(refused.text, "count") == "0"
    issued = issue_codes(packer, batch, "5")
    assert issued.status_code == 303
    page = packer.get(f"/console/packing/batches/{batch}")
    assert "已签发 5 个码" in page.text
    assert 'id="print-note"' in page.text or "开始打印任务" in page.text
    range_id = re.search(r'id="range-(\d+)"', page.text).group(1)
    export = packer.get(f"/console/packing/ranges/{range_id}/codes.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.headers["Cache-Control"] == "no-store"
    assert "attachment" in export.headers["Content-Disposition"]
    lines = export.text.splitlines()
    assert lines[0] == "serial,uri" and len(lines) == 6
    serial, uri = lines[1].split(",")
    # QR alphanumeric mode: the URI is upper case (docs/codes.md).
    assert uri.startswith("HTTPS://127.0.0.1:8000/01/06901234567892/10/") and uri.endswith(serial)
    # A scanned label finds its batch, on the logistics and the packing pages alike.
    for area in ("logistics", "packing"):
        found = packer.get(f"/console/{area}/find", query_string={"code": uri})
        assert found.status_code == 302 and found.headers["Location"].endswith(f"/batches/{batch}")
    typo = packer.get(
        "/console/logistics/find", query_string={"code": serial[:-1] + ("0" if serial[-1] != "0" else "1")}
    )
    assert typo.status_code == 422 and field_error(typo.text, "code") is not None
    # Void one code, record a reprint of the range, then void the whole range.
    path = f"/console/packing/batches/{batch}"
    no_reason = packer.post(f"{path}/void-code", {"code": serial, "reason": ""})
    assert no_reason.status_code == 422 and field_value(no_reason.text, "code") == serial
    assert packer.post(f"{path}/void-code", {"code": serial, "reason": "标签破损"}).status_code == 303
    assert len(packer.get(f"/console/packing/ranges/{range_id}/codes.csv").text.splitlines()) == 5
    assert (
        packer.post(f"/console/packing/ranges/{range_id}/reprint", {"reason": "卷纸卡纸"}).status_code == 303
    )
    assert packer.post(f"/console/packing/ranges/{range_id}/void", {"reason": "整卷印错"}).status_code == 303
    page = packer.get(f"/console/packing/batches/{batch}").text
    assert "标签破损" in page and "卷纸卡纸" in page and "整卷印错" in page
    assert packer.get(f"/console/packing/ranges/{range_id}/codes.csv").status_code == 409


def test_another_station_cannot_export_or_void_a_stations_codes(app: Flask) -> None:
    batch = batch_with_goods(app)
    packer = signed_in(app, "packer-user")
    issue_codes(packer, batch, "3")
    range_id = re.search(r'id="range-(\d+)"', packer.get(f"/console/packing/batches/{batch}").text).group(1)
    operator = signed_in(app, "op-admin")
    assert operator.get(f"/console/packing/ranges/{range_id}/codes.csv").status_code == 200
    lab = signed_in(app, "lab-user")
    assert lab.get(f"/console/packing/ranges/{range_id}/codes.csv").status_code == 403


def test_the_operator_registers_an_organisation_and_its_people(app: Flask) -> None:
    operator = signed_in(app, "op-admin")
    bad = operator.post(
        "/console/operator/orgs", {"id": "Bad Id", "kind": "village_station", "name_zh": "测试服务站"}
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "id") is not None
    assert field_value(bad.text, "name_zh") == "测试服务站"
    no_place = operator.post(
        "/console/operator/orgs", {"id": "station-test", "kind": "village_station", "name_zh": "测试服务站"}
    )
    assert no_place.status_code == 422
    assert "is required for a village" in field_error(no_place.text, "place")  # a station needs its village
    good = operator.post(
        "/console/operator/orgs",
        {
            "id": "station-test",
            "kind": "village_station",
            "name_zh": "测试服务站",
            "place": "wuhua.changbu.yuanqiao",
        },
    )
    assert good.status_code == 303 and good.headers["Location"].endswith(
        "/console/operator/orgs/station-test"
    )
    page = operator.get("/console/operator/orgs/station-test").text
    assert "托管" in page  # its custodial key was made
    short = operator.post(
        "/console/operator/orgs/station-test/users",
        {"username": "st", "display_name": "站长", "password": "short", "roles": "recorder"},
    )
    assert short.status_code == 422
    assert field_error(short.text, "username") is not None
    assert field_value(short.text, "display_name") == "站长"
    short = operator.post(
        "/console/operator/orgs/station-test/users",
        {"username": "station-test-1", "display_name": "站长", "password": "short", "roles": "recorder"},
    )
    assert "at least 10 characters" in field_error(short.text, "password")
    assert field_value(short.text, "username") == "station-test-1"
    assert "short" not in re.findall(r'name="password"[^>]*>', short.text)[0]  # never echoed
    added = operator.post(
        "/console/operator/orgs/station-test/users",
        {"username": "station-test-1", "display_name": "站长", "password": kit.PASSWORD, "roles": "recorder"},
    )
    assert added.status_code == 303
    assert signed_in(app, "station-test-1").get("/console/logistics/").status_code == 200


def test_a_token_is_shown_once_and_works_until_revoked(app: Flask) -> None:
    operator = signed_in(app, "op-admin")
    path = "/console/operator/orgs/lab-meizhou"
    missing = operator.post(f"{path}/tokens", {"name": "LIMS"})
    assert missing.status_code == 422 and field_error(missing.text, "scopes") is not None
    issued = operator.post(f"{path}/tokens", {"name": "LIMS", "scopes": ["batches:read", "lab:write"]})
    assert issued.status_code == 201
    assert issued.headers["Cache-Control"] == "no-store"
    secret = re.search(
        r'<code id="token-secret" class="mono">(ft_[A-Za-z0-9_-]{43})</code>', issued.text
    ).group(1)
    assert secret not in operator.get(path).text
    api = app.test_client()
    assert api.get("/api/v1/orgs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    token_id = re.search(r"/console/operator/tokens/(tok_[0-9a-f]+)/revoke", operator.get(path).text).group(1)
    assert operator.post(f"/console/operator/tokens/{token_id}/revoke").status_code == 303
    assert api.get("/api/v1/orgs", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_keys_are_rotated_issued_and_revoked(app: Flask) -> None:
    operator = signed_in(app, "op-admin")
    path = "/console/operator/orgs/lab-meizhou"
    before = set(
        re.findall(r'<span class="mono">([A-Za-z0-9+/=_-]{8,})</span> · org', operator.get(path).text)
    )
    assert len(before) == 1
    assert operator.post(f"{path}/keys/rotate").status_code == 303
    page = operator.get(path).text
    keys = re.findall(r'<span class="mono">([^<]+)</span> · org · ([^<]+?) ·', page)
    assert len(keys) == 2
    assert page.count('<span class="bad">已吊销') == 1
    live = next(k for k, _ in keys if k not in before)
    no_reason = operator.post(f"/console/operator/keys/{live}/revoke", {"reason": ""})
    assert no_reason.status_code == 422
    assert operator.post(f"/console/operator/keys/{live}/revoke", {"reason": "离职"}).status_code == 303
    assert operator.get(path).text.count('<span class="bad">已吊销') == 2
    assert operator.post(f"{path}/keys/issue").status_code == 303
    page = operator.get(path).text
    assert page.count('<span class="bad">已吊销') == 2 and page.count(" · org · 托管") == 3


def split(app: Flask, batch: str) -> list[str]:
    """Split the batch in two (through the domain: the console has no lineage pages)."""
    settings = app.config["FARMTRACE"]
    _readers, writers = app.extensions["farmtrace.sessions"]
    with writers() as session:
        services = trace_services(
            session, KeyStore(session, MasterKey.load(settings.keys_dir / MASTER_KEY_FILE))
        )
        result = services.lineage.split("coop-changbu", batch, [{"quantity": "200"}, {"quantity": "300"}])
        session.commit()
        return list(result.outputs)


def test_a_recall_shows_every_batch_it_reaches_before_it_is_issued(app: Flask) -> None:
    batch = batch_with_goods(app)
    children = split(app, batch)
    assert len(children) == 2
    operator = signed_in(app, "op-admin")
    client_id = operator.form_client_id("/console/operator/recalls/new")
    empty = operator.post(
        "/console/operator/recalls/new", {"batch": batch, "level": "2", "reason": "", "client_id": client_id}
    )
    assert empty.status_code == 422 and field_error(empty.text, "reason") is not None
    preview = operator.post(
        "/console/operator/recalls/new",
        {"batch": batch, "level": "1", "reason": "农残超标", "client_id": client_id},
    )
    assert preview.status_code == 200
    assert "此召回将涉及以下 3 个批次" in preview.text
    for child in [batch, *children]:
        assert child in preview.text
    assert "召回中的批次</dt><dd>0" in operator.get("/console/operator/").text.replace("\n", "")
    confirmed = operator.post(
        "/console/operator/recalls/new",
        {
            "batch": batch,
            "level": "1",
            "reason": "农残超标",
            "client_id": client_id,
            "previewed": batch,
            "confirm": "1",
        },
    )
    assert confirmed.status_code == 303
    recalls = operator.get("/console/operator/recalls").text
    assert "涉及 3 个批次" in recalls and "生效中" in recalls
    recall_id = re.search(r'id="recall-(R[0-9A-Z]{12})"', recalls).group(1)
    assert operator.post(f"/console/operator/recalls/{recall_id}/lift", {"reason": ""}).status_code == 422
    assert (
        operator.post(f"/console/operator/recalls/{recall_id}/lift", {"reason": "复检合格"}).status_code
        == 303
    )
    assert "已于" in operator.get("/console/operator/recalls").text


def test_confirming_a_recall_of_another_batch_than_previewed_previews_again(app: Flask) -> None:
    first, second = batch_with_goods(app), batch_with_goods(app)
    operator = signed_in(app, "op-admin")
    client_id = operator.form_client_id("/console/operator/recalls/new")
    response = operator.post(
        "/console/operator/recalls/new",
        {
            "batch": second,
            "level": "2",
            "reason": "x",
            "client_id": client_id,
            "previewed": first,
            "confirm": "1",
        },
    )
    assert response.status_code == 200 and "此召回将涉及以下 1 个批次" in response.text
    assert "没有召回记录" in operator.get("/console/operator/recalls").text


def submit_complaint(app: Flask, batch: str) -> int:
    """As the scan page's form will: through trace.complaints."""
    settings = app.config["FARMTRACE"]
    _readers, writers = app.extensions["farmtrace.sessions"]
    with writers() as session:
        services = trace_services(
            session, KeyStore(session, MasterKey.load(settings.keys_dir / MASTER_KEY_FILE))
        )
        view = ComplaintService(services.ctx).submit(
            batch, "quality", "红薯有黑斑\n第二行", phone="138 0013 8000"
        )
        session.commit()
        return view.id


def test_complaints_reach_the_operator_with_the_phone_and_the_cooperative_without(app: Flask) -> None:
    batch = batch_with_goods(app)
    complaint = submit_complaint(app, batch)
    coop = signed_in(app, "coop-user")
    assert "1 条投诉" in coop.get("/console/coop/").text
    page = coop.get(f"/console/coop/batches/{batch}").text
    assert "红薯有黑斑" in page and "13800138000" not in page
    operator = signed_in(app, "op-admin")
    assert "待处理投诉</dt><dd>1" in operator.get("/console/operator/").text.replace("\n", "")
    inbox = operator.get("/console/operator/complaints").text
    assert f"#{complaint}" in inbox and "13800138000" not in inbox
    detail = operator.get(f"/console/operator/complaints/{complaint}").text
    assert '<dd id="phone">13800138000</dd>' in detail
    bad = operator.post(f"/console/operator/complaints/{complaint}", {"status": "closed", "notes": "已回电"})
    assert bad.status_code == 422 and field_value(bad.text, "notes") == "已回电"
    good = operator.post(
        f"/console/operator/complaints/{complaint}", {"status": "resolved", "notes": "已回电，退款"}
    )
    assert good.status_code == 303
    assert "已解决" in operator.get(f"/console/operator/complaints/{complaint}").text
    assert f"#{complaint}" not in operator.get("/console/operator/complaints?status=new").text


def test_products_places_and_certificates(app: Flask) -> None:
    operator = signed_in(app, "op-admin")
    bad = operator.post(
        "/console/operator/products",
        {
            "id": "yitang-lychee",
            "owner": "coop-changbu",
            "name_zh": "益塘荔枝",
            "category": "fruit",
            "unit": "kg",
            "gtin": "6901234567890",
        },
    )
    assert bad.status_code == 422 and "check digit" in field_error(bad.text, "gtin")
    assert field_value(bad.text, "name_zh") == "益塘荔枝"
    good = operator.post(
        "/console/operator/products",
        {
            "id": "yitang-lychee",
            "owner": "coop-changbu",
            "name_zh": "益塘荔枝",
            "category": "fruit",
            "unit": "kg",
        },
    )
    assert good.status_code == 303
    certificate = {
        "scheme": "green_food",
        "certificate_number": "LB-18-2001",
        "issuer": "中国绿色食品发展中心",
        "valid_from": "2026-01-01",
        "valid_until": "2025-12-31",
    }
    wrong = operator.post("/console/operator/products/yitang-lychee/certificates", certificate)
    assert wrong.status_code == 422 and field_error(wrong.text, "valid_until") is not None
    assert 'id="product-yitang-lychee"' in wrong.text
    certificate["valid_until"] = "2028-12-31"
    assert (
        operator.post("/console/operator/products/yitang-lychee/certificates", certificate).status_code == 303
    )
    assert "LB-18-2001" in operator.get("/console/operator/products").text
    place = operator.post(
        "/console/operator/places",
        {"id": "wuhua.changbu.xinzhuang", "kind": "village", "name_zh": "新庄村", "parent": "wuhua"},
    )
    assert place.status_code == 422 and field_error(place.text, "parent") is not None


def test_checkpoints_are_listed(app: Flask) -> None:
    from farmtrace.ledger.sequencer import integrate

    settings = app.config["FARMTRACE"]
    _readers, writers = app.extensions["farmtrace.sessions"]
    with writers() as session:
        keystore = KeyStore(session, MasterKey.load(settings.keys_dir / MASTER_KEY_FILE))
        from farmtrace.web.cli.context import log_signer

        integrate(session, log_signer(settings, keystore))
        session.commit()
    page = signed_in(app, "op-admin").get("/console/operator/checkpoints").text
    assert "farmtrace-log" in page and "— " in page


def test_the_operator_is_linked_to_the_wall_and_disclosure_pages_that_exist(app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    operator = signed_in(app, "op-admin")
    index = operator.get("/console/operator/").text
    home = operator.get("/console/").text
    for path in ("/wall", "/disclosure"):
        shown = f'href="{path}"' in index and f'href="{path}"' in home
        assert shown == (path in rules or f"{path}/" in rules), path
    assert signed_in(app, "coop-user").get("/console/").text.count('href="/wall"') == int("/wall" in rules)


def test_the_root_and_log_keys_are_not_revoked_from_the_console(app: Flask) -> None:
    operator = signed_in(app, "op-admin")
    keys = app.test_client().get("/api/v1/keys").json["items"]
    for key in keys:
        if key["role"] in ("root", "log"):
            response = operator.post(f"/console/operator/keys/{key['key_id']}/revoke", {"reason": "test"})
            assert response.status_code == 403, key
    assert not [k for k in app.test_client().get("/api/v1/keys").json["items"] if k["revoked_at"]]
