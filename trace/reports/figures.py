"""The figures of a report, their Chinese and English names and units, and how they are built
from the query results (trace.reports.queries). docs/reports.md defines each one."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Final

from farmtrace.trace.reports.sql import as_decimal

HOUR_MS: Final = 3_600_000


@dataclass(frozen=True)
class Figure:
    """How a figure is named and shown: `kind` is int, quantity, hours or ratio."""

    name: str
    zh: str
    en: str
    unit_zh: str
    unit_en: str
    kind: str


FIGURES: Final = (
    Figure("batches_registered", "登记批次", "Batches registered", "批", "batches", "int"),
    Figure("batches_derived", "分装/合并/加工批次", "Batches derived", "批", "batches", "int"),
    Figure("quantity_kg", "登记数量（质量）", "Quantity registered (mass)", "千克", "kg", "quantity"),
    Figure("quantity_l", "登记数量（体积）", "Quantity registered (volume)", "升", "L", "quantity"),
    Figure("quantity_units", "登记数量（计件）", "Quantity registered (count)", "件", "units", "quantity"),
    Figure("items_coded", "赋码数", "Items coded", "个", "codes", "int"),
    Figure("items_voided", "作废码数", "Codes voided", "个", "codes", "int"),
    Figure("scans", "扫码次数", "Scans", "次", "scans", "int"),
    Figure("unique_items_scanned", "被扫码商品数", "Items scanned", "件", "items", "int"),
    Figure("complaints", "投诉", "Complaints", "件", "complaints", "int"),
    Figure("lab_tests", "检测次数", "Lab tests", "次", "tests", "int"),
    Figure("lab_passed", "检测合格", "Tests passed", "次", "tests", "int"),
    Figure("lab_failed", "检测不合格", "Tests failed", "次", "tests", "int"),
    Figure("pass_rate", "检测合格率", "Pass rate", "%", "%", "ratio"),
    Figure("recalls_issued", "发起召回", "Recalls issued", "次", "recalls", "int"),
    Figure("recalled_batches", "召回涉及批次", "Batches recalled", "批", "batches", "int"),
    Figure("recalls_lifted", "解除召回", "Recalls lifted", "次", "recalls", "int"),
    Figure("shipments", "县→村配送", "Deliveries county → village", "次", "deliveries", "int"),
    Figure("lead_time_median_h", "配送时长中位数", "Delivery time, median", "小时", "h", "hours"),
    Figure("lead_time_p90_h", "配送时长 P90", "Delivery time, 90th percentile", "小时", "h", "hours"),
    Figure("delivered_within_24h", "24 小时内送达", "Delivered within 24 h", "次", "deliveries", "int"),
    Figure("share_within_24h", "24 小时送达率", "Share delivered within 24 h", "%", "%", "ratio"),
    Figure("cold_chain_excursions", "冷链温度异常", "Cold-chain excursions", "次", "records", "int"),
    Figure("excursion_batches", "冷链异常批次", "Batches with an excursion", "批", "batches", "int"),
    Figure("sales", "销售记录", "Sales recorded", "笔", "sales", "int"),
    Figure("sales_kg", "销售数量（质量）", "Quantity sold (mass)", "千克", "kg", "quantity"),
    Figure("sales_l", "销售数量（体积）", "Quantity sold (volume)", "升", "L", "quantity"),
    Figure("sales_units", "销售数量（计件）", "Quantity sold (count)", "件", "units", "quantity"),
    Figure(
        "poverty_sales",
        "其中建档立卡户产品销售",
        "of which from poverty-alleviation households",
        "笔",
        "sales",
        "int",
    ),
    Figure(
        "poverty_sales_kg",
        "其中建档立卡户（质量）",
        "of which poverty households (mass)",
        "千克",
        "kg",
        "quantity",
    ),
    Figure(
        "poverty_sales_l",
        "其中建档立卡户（体积）",
        "of which poverty households (volume)",
        "升",
        "L",
        "quantity",
    ),
    Figure(
        "poverty_sales_units",
        "其中建档立卡户（计件）",
        "of which poverty households (count)",
        "件",
        "units",
        "quantity",
    ),
    Figure(
        "poverty_households_selling",
        "有销售的建档立卡户",
        "Poverty households with sales",
        "户",
        "households",
        "int",
    ),
)
FIGURE_BY_NAME: Final = {f.name: f for f in FIGURES}
# Figures about poverty-alleviation households, withheld from public outputs when fewer than
# PUBLIC_MIN_HOUSEHOLDS households are behind them (a single household's sales are its own).
POVERTY_FIGURES: Final = (
    "poverty_sales",
    "poverty_sales_kg",
    "poverty_sales_l",
    "poverty_sales_units",
    "poverty_households_selling",
)
PUBLIC_MIN_HOUSEHOLDS: Final = 3


@dataclass(frozen=True)
class Figures:
    batches_registered: int = 0
    batches_derived: int = 0
    quantity_kg: Decimal = Decimal("0.000")
    quantity_l: Decimal = Decimal("0.000")
    quantity_units: Decimal = Decimal("0.000")
    items_coded: int = 0
    items_voided: int = 0
    scans: int = 0
    unique_items_scanned: int = 0
    complaints: int = 0
    lab_tests: int = 0
    lab_passed: int = 0
    lab_failed: int = 0
    pass_rate: Decimal | None = None
    recalls_issued: int = 0
    recalled_batches: int = 0
    recalls_lifted: int = 0
    shipments: int = 0
    lead_time_median_h: Decimal | None = None
    lead_time_p90_h: Decimal | None = None
    delivered_within_24h: int = 0
    share_within_24h: Decimal | None = None
    cold_chain_excursions: int = 0
    excursion_batches: int = 0
    sales: int = 0
    sales_kg: Decimal = Decimal("0.000")
    sales_l: Decimal = Decimal("0.000")
    sales_units: Decimal = Decimal("0.000")
    poverty_sales: int | None = 0
    poverty_sales_kg: Decimal | None = Decimal("0.000")
    poverty_sales_l: Decimal | None = Decimal("0.000")
    poverty_sales_units: Decimal | None = Decimal("0.000")
    poverty_households_selling: int | None = 0

    def value(self, name: str) -> Any:
        return getattr(self, name)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def active(self) -> bool:
        """Anything happened (a row of a scope with all zeros is shown, but not highlighted)."""
        return any(
            getattr(self, name)
            for name in (
                "batches_registered",
                "batches_derived",
                "items_coded",
                "scans",
                "lab_tests",
                "shipments",
                "sales",
            )
        )

    def public(self) -> Figures:
        """These figures as public pages and the feed show them: poverty figures withheld when
        fewer than PUBLIC_MIN_HOUSEHOLDS households are behind them."""
        households = self.poverty_households_selling or 0
        if households == 0 or households >= PUBLIC_MIN_HOUSEHOLDS:
            return self
        withheld = dict.fromkeys(POVERTY_FIGURES)
        return Figures(**{**self.as_dict(), **withheld})


assert [f.name for f in FIGURES] == [f.name for f in fields(Figures)], (
    "FIGURES and Figures must list the same names"
)


def ratio(part: int, whole: int) -> Decimal | None:
    """part / whole to 4 decimal places (0.9850 = 98.50 %), None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def hours(millis: Any) -> Decimal | None:
    if millis is None:
        return None
    if isinstance(millis, float):
        millis = Decimal(repr(millis))
    return (Decimal(millis) / HOUR_MS).quantize(Decimal("0.001"))


def figures_from(values: dict[str, Any]) -> Figures:
    """Figures from the merged query results of one scope row (missing groups are zero)."""

    def n(name: str) -> int:
        return int(values.get(name) or 0)

    def q(name: str) -> Decimal:
        return as_decimal(values.get(name))

    return Figures(
        batches_registered=n("batches_registered"),
        batches_derived=n("batches_derived"),
        quantity_kg=q("quantity_mass"),
        quantity_l=q("quantity_volume"),
        quantity_units=q("quantity_count"),
        items_coded=n("items_coded"),
        items_voided=n("items_voided"),
        scans=n("scans"),
        unique_items_scanned=n("unique_items_scanned"),
        complaints=n("complaints"),
        lab_tests=n("lab_tests"),
        lab_passed=n("lab_passed"),
        lab_failed=n("lab_failed"),
        pass_rate=ratio(n("lab_passed"), n("lab_tests")),
        recalls_issued=n("recalls_issued"),
        recalled_batches=n("recalled_batches"),
        recalls_lifted=n("recalls_lifted"),
        shipments=n("shipments"),
        lead_time_median_h=hours(values.get("lead_time_median")),
        lead_time_p90_h=hours(values.get("lead_time_p90")),
        delivered_within_24h=n("delivered_within_24h"),
        share_within_24h=ratio(n("delivered_within_24h"), n("shipments")),
        cold_chain_excursions=n("cold_chain_excursions"),
        excursion_batches=n("excursion_batches"),
        sales=n("sales"),
        sales_kg=q("sales_mass"),
        sales_l=q("sales_volume"),
        sales_units=q("sales_count"),
        poverty_sales=n("poverty_sales"),
        poverty_sales_kg=q("poverty_sales_mass"),
        poverty_sales_l=q("poverty_sales_volume"),
        poverty_sales_units=q("poverty_sales_count"),
        poverty_households_selling=n("poverty_households_selling"),
    )
