"""The operator's statistics downloads: XLSX and CSV with Chinese headers, for operators only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pytest
import test_web_console_kit as kit
from test_web_console_kit import register_batch, signed_in

app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_operator_downloads_the_month_as_xlsx_with_chinese_headers(app) -> None:
    register_batch(signed_in(app, "coop-user"), days_ago=0)
    operator = signed_in(app, "op-admin")
    assert "统计报表" in operator.get("/console/operator/").text
    assert operator.get("/console/stats/").status_code == 200
    response = operator.get(
        f"/console/stats/download?period=month&date={this_month()}&scope=county&format=xlsx"
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"].endswith(f'farmtrace-month-{this_month()}-county.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    cells = [
        str(cell.value)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value
    ]
    assert any("登记" in text for text in cells), cells[:20]


def test_csv_and_a_bad_date_that_says_what_is_wrong(app) -> None:
    operator = signed_in(app, "op-admin")
    response = operator.get(f"/console/stats/download?period=month&date={this_month()}&scope=town&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows and any("乡镇" in cell or "镇" in cell for row in rows for cell in row), rows[:3]
    bad = operator.get("/console/stats/download?period=month&date=2026-13&format=csv")
    assert bad.status_code == 422
    assert 'id="stats-error"' in bad.text and "2026-13" in bad.text


def test_only_the_operator_may_download(app) -> None:
    coop = signed_in(app, "coop-user")
    assert coop.get("/console/stats/").status_code == 403
    assert coop.get(f"/console/stats/download?period=month&date={this_month()}").status_code == 403
