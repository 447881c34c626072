"""Console forms: a refused form comes back with everything typed and the reason next to
each field (from the domain's own schemas); the pre-harvest warning comes before the
harvest is recorded; a retried form records once; the lab's result set with its PDF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import test_web_console_kit as kit
from flask import Flask
from test_web_console_kit import PDF, field_error, field_value, local, register_batch, selected, signed_in

app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")


def history_types(console: kit.Console, batch: str) -> list[str]:
    page = console.get(f"/console/coop/batches/{batch}")
    block = re.search(r'<ol class="history" id="history">(.*?)</ol>', page.text, re.S)
    assert block is not None
    return re.findall(r"<strong>([^<]+)</strong>", block.group(1))


def test_register_batch_keeps_what_was_typed_and_names_each_bad_field(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    client_id = coop.form_client_id("/console/coop/batches/new")
    response = coop.post(
        "/console/coop/batches/new",
        {
            "product": "changbu-potato",
            "lot": "bad lot with spaces and 中文",
            "producers": "coop-changbu",
            "origin_place": "changbu-field",
            "unit": "kg",
            "quantity": "12,5",
            "production_date": "2026-02-30",
            "notes": "<script>alert('x')</script> 霜降前采收",
            "client_id": client_id,
        },
    )
    assert response.status_code == 422
    html = response.text
    assert "请按下方各项的提示修改后重新提交" in html
    assert field_error(html, "quantity") is not None and "12,5" in field_error(html, "quantity")
    assert field_error(html, "lot") is not None
    assert field_error(html, "production_date") is not None
    assert field_error(html, "product") is None and field_error(html, "unit") is None
    # Everything typed is still there, escaped.
    assert field_value(html, "quantity") == "12,5"
    assert field_value(html, "lot") == "bad lot with spaces and 中文"
    assert field_value(html, "production_date") == "2026-02-30"
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 霜降前采收" in html
    assert "<script>alert" not in html
    assert selected(html, "product") == "changbu-potato"
    assert selected(html, "origin_place") == "changbu-field"
    assert re.search(r'name="producers" value="coop-changbu" checked', html)
    assert f'value="{client_id}"' in html  # the same form, so a retry is recognised
    assert "还没有登记批次" in coop.get("/console/coop/").text  # nothing was recorded


def test_a_required_field_left_empty_is_named_in_chinese(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    response = coop.post(
        "/console/coop/batches/new", {"client_id": coop.form_client_id("/console/coop/batches/new")}
    )
    assert response.status_code == 422
    assert field_error(response.text, "product") == "必填"
    assert field_error(response.text, "unit") == "必填"


def test_a_pesticide_needs_its_registration_and_interval(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    path = f"/console/coop/batches/{batch}/input"
    response = coop.post(
        path,
        {
            "kind": "pesticide",
            "product_name": "吡虫啉",
            "dose": "20",
            "dose_unit": "g/mu",
            "registration_number": "XX123",
            "client_id": coop.form_client_id(path),
        },
    )
    assert response.status_code == 422
    assert "PD20080123" in field_error(response.text, "registration_number")
    assert field_error(response.text, "active_ingredient") == "农药必须填写此项"
    assert field_error(response.text, "pre_harvest_interval_days") == "农药必须填写此项"
    assert field_value(response.text, "product_name") == "吡虫啉"
    assert field_value(response.text, "registration_number") == "XX123"
    assert selected(response.text, "kind") == "pesticide"
    assert "农事投入" not in history_types(coop, batch)


def record_pesticide(console: kit.Console, batch: str, applied: datetime, days: int = 7) -> None:
    path = f"/console/coop/batches/{batch}/input"
    response = console.post(
        path,
        {
            "kind": "pesticide",
            "product_name": "吡虫啉",
            "registration_number": "PD20080123",
            "active_ingredient": "吡虫啉",
            "dose": "20",
            "dose_unit": "g/mu",
            "pre_harvest_interval_days": str(days),
            "place": "changbu-field",
            "event_time": local(applied),
            "client_id": console.form_client_id(path),
        },
    )
    assert response.status_code == 303, response.text


def test_the_pre_harvest_warning_comes_before_the_harvest_is_recorded(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    applied = datetime.now(UTC) - timedelta(days=2)
    record_pesticide(coop, batch, applied)
    path = f"/console/coop/batches/{batch}/harvest"
    form = coop.get(path)
    assert "吡虫啉" in form.text and "安全间隔期 7 天" in form.text  # listed before anything is typed
    client_id = kit.CLIENT_ID_IN_PAGE.search(form.text).group(1)
    harvest = {
        "quantity": "800",
        "unit": "kg",
        "event_time": local(datetime.now(UTC)),
        "client_id": client_id,
    }
    # The JSON check the page's script makes as the time is typed.
    live = coop.get(f"/console/coop/batches/{batch}/phi.json", query_string={"at": harvest["event_time"]})
    assert live.status_code == 200 and "仅 2 天" in live.json["warnings"][0]
    safe = coop.get(
        f"/console/coop/batches/{batch}/phi.json", query_string={"at": local(applied + timedelta(days=8))}
    )
    assert safe.json == {"warnings": []}
    # Without JavaScript: the first submit is the check step and records nothing.
    checked = coop.post(path, harvest)
    assert checked.status_code == 200
    assert "未过 7 天的安全间隔期" in checked.text
    assert 'name="confirm" value="1"' in checked.text
    assert field_value(checked.text, "quantity") == "800"
    assert "采收" not in history_types(coop, batch)
    # Confirmed: recorded, and flagged by the domain.
    confirmed = coop.post(path, {**harvest, "confirm": "1"})
    assert confirmed.status_code == 303
    page = coop.get(f"/console/coop/batches/{batch}")
    assert "未过安全间隔期" in page.text and "harvest on" in page.text
    assert history_types(coop, batch).count("采收") == 1


def test_a_harvest_outside_the_interval_is_recorded_at_once(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    record_pesticide(coop, batch, datetime.now(UTC) - timedelta(days=9), days=7)
    path = f"/console/coop/batches/{batch}/harvest"
    response = coop.post(
        path,
        {
            "quantity": "800",
            "unit": "jin",
            "event_time": local(datetime.now(UTC)),
            "client_id": coop.form_client_id(path),
        },
    )
    assert response.status_code == 303
    assert "未过安全间隔期" not in coop.get(f"/console/coop/batches/{batch}").text


def test_the_harvest_check_step_also_reports_other_errors(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    record_pesticide(coop, batch, datetime.now(UTC) - timedelta(days=1))
    path = f"/console/coop/batches/{batch}/harvest"
    response = coop.post(path, {"quantity": "-3", "unit": "kg", "client_id": coop.form_client_id(path)})
    assert response.status_code == 422
    assert "未过" in response.text  # an empty time means now: inside the interval
    assert "greater than 0" in field_error(response.text, "quantity")


def test_a_retried_form_records_once(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    path = f"/console/coop/batches/{batch}/input"
    data = {
        "kind": "fertiliser",
        "product_name": "有机肥",
        "dose": "500",
        "dose_unit": "kg/mu",
        "event_time": local(datetime.now(UTC) - timedelta(days=3)),
        "client_id": coop.form_client_id(path),
    }
    assert coop.post(path, data).status_code == 303
    assert coop.post(path, data).status_code == 303  # the phone retried on a flaky network
    assert history_types(coop, batch).count("农事投入") == 1
    changed = coop.post(path, {**data, "dose": "600"})
    assert changed.status_code == 422
    assert "已提交过" in changed.text


def test_registering_twice_with_one_form_gives_one_batch(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    client_id = coop.form_client_id("/console/coop/batches/new")
    data = {"product": "changbu-potato", "unit": "kg", "expected_quantity": "10", "client_id": client_id}
    first = coop.post("/console/coop/batches/new", data)
    second = coop.post("/console/coop/batches/new", data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]


# -- the lab ----------------------------------------------------------------------------------


def harvested_batch(app: Flask) -> str:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    path = f"/console/coop/batches/{batch}/harvest"
    response = coop.post(
        path,
        {
            "quantity": "900",
            "unit": "kg",
            "event_time": local(datetime.now(UTC) - timedelta(days=1)),
            "client_id": coop.form_client_id(path),
        },
    )
    assert response.status_code == 303
    return batch


def lab_form(batch: str, **extra: str) -> dict[str, str]:
    form = {
        "sample_id": "MZ-2026-0412",
        "event_time": local(datetime.now(UTC)),
        "verdict": "pass",
        "rows": "3",
        "results-0-analyte": "毒死蜱",
        "results-0-method": "GB 23200.113-2018",
        "results-0-value": "0.08",
        "results-0-limit": "0.05",
        "results-0-limit_kind": "max",
        "results-0-limit_standard": "GB 2763-2021",
        "results-0-unit": "mg/kg",
        "results-0-verdict": "pass",
        # row 1 left blank: dropped; row 2 filled
        "results-2-analyte": "铅",
        "results-2-method": "GB 5009.12-2017",
        "results-2-value": "0.02",
        "results-2-limit": "0.2",
        "results-2-unit": "mg/kg",
        "results-2-verdict": "pass",
        "sign": "on",
    }
    form.update(extra)
    return form


def test_the_lab_sees_the_sample_and_records_a_signed_result_with_its_report(app: Flask) -> None:
    batch = harvested_batch(app)
    lab = signed_in(app, "lab-user")
    assert batch in lab.get("/console/lab/").text
    path = f"/console/lab/batches/{batch}/test"
    client_id = lab.form_client_id(path)
    # 1. No report, a value over its limit marked pass, not signed.
    first = lab.post(path, {**lab_form(batch), "client_id": client_id, "sign": ""})
    assert first.status_code == 422
    assert field_error(first.text, "report") == "请上传检测报告（PDF）。"
    assert "请确认并以" in first.text
    assert field_error(first.text, "results-0-verdict") is None  # (not checked until the form is complete)
    assert field_value(first.text, "results-0-value") == "0.08"
    assert field_value(first.text, "results-1-analyte") == "铅"  # the blank row closed up
    # 2. A file that is not a PDF.
    second = lab.post(
        path,
        {
            **lab_form(batch),
            "client_id": client_id,
            "report": (kit.io_bytes(b"MZ\x90\x00 not a pdf"), "report.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert second.status_code == 422
    assert field_error(second.text, "report") == "这不是 PDF 文件。"
    # 3. A real PDF, but the schema refuses "pass" for 0.08 > 0.05: the report is kept.
    third = lab.post(
        path,
        {**lab_form(batch), "client_id": client_id, "report": (kit.io_bytes(PDF), "报告.pdf")},
        content_type="multipart/form-data",
    )
    assert third.status_code == 422
    assert "expected 'fail'" in field_error(third.text, "results-0-verdict")
    kept = re.search(r'name="report_sha256" value="([0-9a-f]{64})"', third.text)
    assert kept is not None and "已上传：报告.pdf" in third.text
    # 4. Corrected, without uploading again.
    fixed = lab_form(batch, verdict="fail", **{"results-0-verdict": "fail"})
    fourth = lab.post(
        path, {**fixed, "client_id": client_id, "report_sha256": kept.group(1), "report_name": "报告.pdf"}
    )
    assert fourth.status_code == 303, fourth.text
    awaiting = lab.get("/console/lab/").text.split("<h2>", 1)[1]
    assert batch not in awaiting  # tested: no longer waiting
    coop = signed_in(app, "coop-user")
    page = coop.get(f"/console/coop/batches/{batch}")
    assert "不合格" in page.text and "检测不合格" in page.text


def test_the_lab_adds_result_rows_without_losing_what_was_typed(app: Flask) -> None:
    batch = harvested_batch(app)
    lab = signed_in(app, "lab-user")
    path = f"/console/lab/batches/{batch}/test"
    response = lab.post(path, {**lab_form(batch), "action": "add_row", "client_id": lab.form_client_id(path)})
    assert response.status_code == 200
    assert 'id="result-3"' in response.text  # 4 rows now
    assert field_value(response.text, "results-0-analyte") == "毒死蜱"
    assert field_value(response.text, "sample_id") == "MZ-2026-0412"


def test_the_lab_report_size_is_limited(app: Flask) -> None:
    batch = harvested_batch(app)
    lab = signed_in(app, "lab-user")
    path = f"/console/lab/batches/{batch}/test"
    big = PDF + b"0" * (10 * 1024 * 1024)
    response = lab.post(
        path,
        {**lab_form(batch), "client_id": lab.form_client_id(path), "report": (kit.io_bytes(big), "big.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert field_error(response.text, "report") == "文件超过 10 MB。"


def test_only_labs_record_tests(app: Flask) -> None:
    batch = harvested_batch(app)
    coop = signed_in(app, "coop-user")
    assert coop.get(f"/console/lab/batches/{batch}/test").status_code == 403


def test_the_english_console_labels_fields_in_english(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    switched = coop.get("/console/lang/en", query_string={"next": "/console/coop/batches/new"})
    assert switched.status_code == 302 and switched.headers["Location"] == "/console/coop/batches/new"
    page = coop.get("/console/coop/batches/new")
    assert '<html lang="en">' in page.text
    assert "Register a batch" in page.text and "Expected quantity" in page.text
    response = coop.post(
        "/console/coop/batches/new", {"client_id": coop.form_client_id("/console/coop/batches/new")}
    )
    assert field_error(response.text, "product") == "is required"
