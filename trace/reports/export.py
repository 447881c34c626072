"""Reports as files: CSV and XLSX with Chinese headers and units, and JSON (docs/reports.md).

Every export starts by saying whether it holds personal data: the first row of a CSV, the
first sheet of a workbook, the `personal_data` and `notice` members of JSON. A report holds
personal data only when built with include_personal=True (operator exports); public
outputs use Report.public(), which drops those sections and withholds small counts.

Names in a report were typed by cooperatives and labs (products, analytes). A spreadsheet
must show them as text, never run them: a CSV cell that would start with = + - @ or a tab
gets a leading apostrophe (OWASP, CSV injection), and workbook cells hold text as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, Any, Final

from farmtrace.trace.reports.figures import FIGURES, Figure, Figures
from farmtrace.trace.reports.report import Report
from farmtrace.trace.reports.scopes import Scope

FORMAT_VERSION: Final = "1"
NO_PERSONAL_DATA: Final = "本表不含个人信息。No personal data."
PERSONAL_DATA: Final = (
    "本表含个人信息（建档立卡户名称、投诉人电话），仅限县级运营中心内部使用，不得公开或转发。"
    "Contains personal data (household names, complainants' phone numbers): for the county "
    "operator only; do not publish or forward."
)
SCOPE_HEADER: Final = {
    Scope.COUNTY: ("范围", "Scope"),
    Scope.TOWN: ("乡镇", "Town"),
    Scope.COOP: ("合作社", "Cooperative"),
    Scope.PRODUCT: ("产品", "Product"),
}
SCOPE_TITLE: Final = {
    Scope.COUNTY: "全县",
    Scope.TOWN: "按乡镇",
    Scope.COOP: "按合作社",
    Scope.PRODUCT: "按产品",
}
PERIOD_TITLE: Final = {"day": "日报", "month": "月报", "year": "年报", "custom": "统计报表"}
CHANNELS: Final = {
    "shop": "门店",
    "ecommerce": "电商",
    "livestream": "直播",
    "wholesale": "批发",
    "market": "市场",
    "canteen": "食堂",
}
TOTAL_ZH: Final = "全县合计"
# What makes a spreadsheet read a cell as a formula (OWASP: CSV injection).
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def notice(report: Report) -> str:
    return PERSONAL_DATA if report.personal_data else NO_PERSONAL_DATA


def title(report: Report) -> str:
    return f"农产品追溯统计{PERIOD_TITLE[report.period.kind]} {report.period.label}（{SCOPE_TITLE[report.scope]}）"


def header(figure: Figure) -> str:
    """The Chinese column header with its unit: 登记数量（质量）（千克）."""
    return f"{figure.zh}（{figure.unit_zh}）"


def cell(figure: Figure, figures: Figures) -> Decimal | int | None:
    """A figure as a number for a spreadsheet: ratios in percent, None when not defined."""
    value = figures.value(figure.name)
    if value is None:
        return None
    if figure.kind == "ratio":
        return (value * 100).quantize(Decimal("0.01"))
    return value


def main_table(report: Report) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one per scope member, then the county total."""
    head = ["编号", SCOPE_HEADER[report.scope][0], *(header(f) for f in FIGURES)]
    rows: list[list[Any]] = []
    if report.scope is not Scope.COUNTY:
        for row in report.rows:
            rows.append([row.member.key or "", row.member.name_zh, *(cell(f, row.figures) for f in FIGURES)])
    rows.append(["county", TOTAL_ZH, *(cell(f, report.county) for f in FIGURES)])
    return head, rows


def side_tables(report: Report) -> list[tuple[str, list[str], list[list[Any]], bool]]:
    """(sheet name, header, rows, personal) of the smaller tables."""
    tables: list[tuple[str, list[str], list[list[Any]], bool]] = [
        (
            "检测不合格项目",
            ["检测项目", "不合格结果（项次）", "涉及批次（批）"],
            [[a.analyte, a.failures, a.batches] for a in report.failures_by_analyte],
            False,
        ),
        (
            "销售渠道",
            ["渠道", "渠道代码", "销售记录（笔）", "质量（千克）", "体积（升）", "计件（件）"],
            [
                [CHANNELS.get(c.channel, c.channel), c.channel, c.sales, c.kg, c.litres, c.units]
                for c in report.sales_by_channel
            ],
            False,
        ),
        ("投诉类型", ["投诉类型", "投诉（件）"], [[kind, n] for kind, n in report.complaints_by_type], False),
    ]
    if report.households is not None:
        tables.append(
            (
                "个人信息-建档立卡户销售",
                ["户编号", "户名", "销售记录（笔）", "质量（千克）", "体积（升）", "计件（件）"],
                [[h.household, h.name_zh, h.sales, h.kg, h.litres, h.units] for h in report.households],
                True,
            )
        )
    if report.complaint_records is not None:
        tables.append(
            (
                "个人信息-投诉记录",
                ["投诉编号", "批次", "产品", "投诉类型", "状态", "提交时间", "联系电话"],
                [
                    [
                        c.id,
                        c.batch_id,
                        c.product_id or "",
                        c.problem_type,
                        c.status,
                        _local(c.created_at, report),
                        c.phone or "",
                    ]
                    for c in report.complaint_records
                ],
                True,
            )
        )
    return tables


def write_csv(report: Report, stream: IO[str]) -> None:
    """UTF-8 CSV (write it with a BOM, encoding='utf-8-sig', so Excel reads the Chinese):
    the notice row, the title row, the main table, then each side table after a blank row."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow([notice(report)])
    writer.writerow([title(report), f"生成时间 {_local(report.generated_at, report)}"])
    head, rows = main_table(report)
    writer.writerow(head)
    writer.writerows(_plain_rows(rows))
    for name, side_head, side_rows, personal in side_tables(report):
        writer.writerow([])
        writer.writerow([f"【{name}】" + (" " + PERSONAL_DATA if personal else "")])
        writer.writerow(side_head)
        writer.writerows(_plain_rows(side_rows))


def csv_bytes(report: Report) -> bytes:
    buffer = io.StringIO()
    write_csv(report, buffer)
    return buffer.getvalue().encode("utf-8-sig")


def write_xlsx(report: Report, stream: IO[bytes]) -> None:
    """A workbook: 说明 (notice, period, definitions), 汇总 (the main table), then one sheet per
    side table; sheets with personal data are named 个人信息-… and repeat the notice."""
    from openpyxl import Workbook  # imported here: only exports need it
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    about = book.active
    about.title = "说明"
    about.append([notice(report)])
    about["A1"].font = Font(bold=True, color="B3261E" if report.personal_data else "1F7A3A")
    for row in (
        ["报表", title(report)],
        [
            "统计期间",
            f"{report.period.local_start().isoformat()} 至 {report.period.local_end().isoformat()}（不含）",
        ],
        ["生成时间", _local(report.generated_at, report)],
        ["格式版本", FORMAT_VERSION],
        ["指标定义", "见 docs/reports.md"],
        [],
        ["指标", "单位", "English"],
        *([f.zh, f.unit_zh, f"{f.en} ({f.unit_en})"] for f in FIGURES),
    ):
        about.append(row)
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 60

    head, rows = main_table(report)
    sheet = book.create_sheet("汇总")
    sheet.append(head)
    for row in rows:
        _append(sheet, row)
    for cell_ in sheet[1]:
        cell_.font = Font(bold=True)
        cell_.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "C2"
    _number_formats(sheet, 3)
    for name, side_head, side_rows, personal in side_tables(report):
        side = book.create_sheet(name[:31])
        if personal:
            side.append([PERSONAL_DATA])
            side["A1"].font = Font(bold=True, color="B3261E")
        side.append(side_head)
        for row in side_rows:
            _append(side, row)
    book.save(stream)


def xlsx_bytes(report: Report) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(report, buffer)
    return buffer.getvalue()


def _number_formats(sheet: Any, first_figure_column: int) -> None:
    for offset, figure in enumerate(FIGURES):
        fmt = {"int": "0", "quantity": "0.000", "hours": "0.000", "ratio": "0.00"}[figure.kind]
        for (cell_,) in sheet.iter_rows(
            min_row=2, min_col=first_figure_column + offset, max_col=first_figure_column + offset
        ):
            cell_.number_format = fmt


def _plain_rows(rows: Iterable[Sequence[Any]]) -> list[list[str]]:
    return [[_csv_text(v) for v in row] for row in rows]


def _csv_text(value: Any) -> str:
    """A value as CSV text; typed text that a spreadsheet would run gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return str(value)


def _append(sheet: Any, row: Sequence[Any]) -> None:
    """sheet.append(row), with every text cell kept as text (openpyxl would store "=..." as a formula)."""
    sheet.append(list(row))
    for cell_ in sheet[sheet.max_row]:
        if isinstance(cell_.value, str) and cell_.data_type != "s":
            cell_.data_type = "s"


def _local(moment: datetime, report: Report) -> str:
    return moment.astimezone(report.period.tz).isoformat(timespec="seconds")


# -- JSON ---------------------------------------------------------------------------------


def figure_json(figures: Figures) -> dict[str, Any]:
    """Counts as JSON integers; quantities, hours and ratios as decimal strings (exact)."""
    out: dict[str, Any] = {}
    for figure in FIGURES:
        value = figures.value(figure.name)
        out[figure.name] = value if value is None or isinstance(value, int) else str(value)
    return out


def units_json() -> dict[str, dict[str, str]]:
    return {f.name: {"zh": f.zh, "en": f.en, "unit": f.unit_en, "unit_zh": f.unit_zh} for f in FIGURES}


def period_json(report: Report) -> dict[str, Any]:
    period = report.period
    return {
        "type": period.kind,
        "label": period.label,
        "start": period.local_start().isoformat(),
        "end": period.local_end().isoformat(),
        "timezone": getattr(period.tz, "key", str(period.tz)),
    }


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON (`farmtrace report --format json`): same members as the feed, with
    one `rows` list for the report's scope, and the personal sections if it has them."""
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "personal_data": report.personal_data,
        "notice": notice(report),
        "period": period_json(report),
        "scope": report.scope.value,
        "generated_at": report.generated_at.isoformat(),
        "county": figure_json(report.county),
        "rows": [
            {
                "id": r.member.key,
                "name_zh": r.member.name_zh,
                "name_en": r.member.name_en,
                "figures": figure_json(r.figures),
            }
            for r in report.rows
        ]
        if report.scope is not Scope.COUNTY
        else [],
        **common_sections(report),
    }
    if report.households is not None:
        document["households"] = [
            {
                "id": h.household,
                "name_zh": h.name_zh,
                "sales": h.sales,
                "kg": str(h.kg),
                "litres": str(h.litres),
                "units": str(h.units),
            }
            for h in report.households
        ]
    if report.complaint_records is not None:
        document["complaints"] = [
            {
                "id": c.id,
                "batch": c.batch_id,
                "product": c.product_id,
                "problem_type": c.problem_type,
                "status": c.status,
                "created_at": c.created_at.isoformat(),
                "phone": c.phone,
            }
            for c in report.complaint_records
        ]
    return document


def common_sections(report: Report) -> dict[str, Any]:
    return {
        "lab_failures_by_analyte": [
            {"analyte": a.analyte, "failures": a.failures, "batches": a.batches}
            for a in report.failures_by_analyte
        ],
        "sales_by_channel": [
            {
                "channel": c.channel,
                "sales": c.sales,
                "kg": str(c.kg),
                "litres": str(c.litres),
                "units": str(c.units),
            }
            for c in report.sales_by_channel
        ],
        "complaints_by_type": [
            {"problem_type": kind, "complaints": n} for kind, n in report.complaints_by_type
        ],
        "units": units_json(),
    }
