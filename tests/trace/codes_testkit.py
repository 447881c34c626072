"""Shared set-up for the code tests (tests/trace/test_trace_codes_*.py): a county with products
and batches and a CodeService, built on the `county` fixture of tests/trace/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.orgs import OrgService

DOMAIN = "trace.example.org"
GTIN = "09506000134352"
GTIN_B = "09506000134369"
PACKER = "packer-wuhua"


@dataclass
class CodesEnv:
    county: object  # tests/trace/conftest.py TraceEnv
    session: Session
    codes: CodeService
    operator: str
    batch: str  # product with GTIN, lot LOT-A1
    batch_same_product: str  # same product, lot LOT-A2
    batch_other_gtin: str  # another product with a GTIN, lot LOT-B1
    batch_no_gtin: str  # a product without a GTIN

    def count(self, table: type) -> int:
        return self.session.scalar(select(func.count()).select_from(table)) or 0


def make_codes_env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    t = county.trace
    county.at("2026-03-02 09:00")
    operator = OrgService(t.ctx).operator()
    assert operator is not None
    operator_id = operator.id  # read now: after the commit below it would start a transaction
    products = (
        ("hengpi-pomelo", "横陂蜜柚", GTIN),
        ("hengpi-tea", "横陂绿茶", GTIN_B),
        ("hengpi-greens", "横陂青菜", None),
    )
    for product_id, name, gtin in products:
        data = {"id": product_id, "name_zh": name, "category": "fruit", "unit": "kg"}
        if gtin:
            data["gtin"] = gtin
        t.products.register("coop-hengpi", data)
    batches = []
    for product_id, lot in (
        ("hengpi-pomelo", "LOT-A1"),
        ("hengpi-pomelo", "LOT-A2"),
        ("hengpi-tea", "LOT-B1"),
        ("hengpi-greens", "LOT-C1"),
    ):
        recorded = t.batches.register(
            "coop-hengpi",
            {
                "product": product_id,
                "lot": lot,
                "producers": ["coop-hengpi"],
                "unit": "kg",
                "quantity": "1000",
            },
        )
        batches.append(recorded.batch)
    county.session.commit()
    return CodesEnv(
        county=county,
        session=county.session,
        codes=CodeService(t.ctx, max_count=2_000_000),
        operator=operator_id,
        batch=batches[0],
        batch_same_product=batches[1],
        batch_other_gtin=batches[2],
        batch_no_gtin=batches[3],
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
