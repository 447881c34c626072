"""Demonstration data for Wuhua County (五华县): its organisations, places, and a season of its
specialities, each with a realistic record. Loading twice changes nothing: every write
has a fixed idempotency key and a fixed event time, and registry rows are created once.

The stories (all in 2026):
- 五华高山红薯 highland sweet potato: fertiliser, harvest, lab pass, cold chain 10-15 °C,
  packed in 5 kg boxes, delivered to the town service centre.
- 丝苗米 Simiao rice: fertiliser and pesticide, harvest, lab pass, split: one part bagged,
  warehoused and sold online, the other to the distillery...
- 长乐烧 Changle rice spirit: ...which distils it (a transform into bottles), lab pass.
- 梅菜 preserved mustard greens: harvest, salting and sun-drying, a FAILED nitrite test.
- 益塘水库荔枝 lychee: pesticide well before harvest, lab pass, cold chain 2-8 °C, packed,
  delivered to a village station; from a poverty-alleviation household (扶贫产品 mark on).
- 茶亭岗金柚 golden pomelo: harvest, lab pass, split into two lots, then RECALLED with both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.documents import store_document
from farmtrace.trace.models.registry import Org, Place, Product, ProductCertificate
from farmtrace.trace.services import TraceServices, trace_services

CST = timezone(timedelta(hours=8))
OPERATOR = "wuhua-county"

PLACES: tuple[dict[str, Any], ...] = (
    {"id": "wuhua", "kind": "county", "name_zh": "五华县", "name_en": "Wuhua County"},
    {"id": "wuhua.changbu", "kind": "town", "name_zh": "长布镇", "name_en": "Changbu", "parent": "wuhua"},
    {"id": "wuhua.changbu.yuanqiao", "kind": "village", "name_zh": "元桥村", "parent": "wuhua.changbu"},
    {"id": "wuhua.hengpi", "kind": "town", "name_zh": "横陂镇", "name_en": "Hengpi", "parent": "wuhua"},
    {"id": "wuhua.hengpi.yitang", "kind": "village", "name_zh": "益塘村", "parent": "wuhua.hengpi"},
    {"id": "wuhua.huacheng", "kind": "town", "name_zh": "华城镇", "name_en": "Huacheng", "parent": "wuhua"},
    {
        "id": "wuhua.huacheng.chatinggang",
        "kind": "village",
        "name_zh": "茶亭岗村",
        "parent": "wuhua.huacheng",
    },
    {
        "id": "changbu-highland-field",
        "kind": "field",
        "name_zh": "长布高山红薯基地",
        "parent": "wuhua.changbu.yuanqiao",
        "latitude": "24.0412",
        "longitude": "115.6178",
    },
    {
        "id": "changbu-paddy",
        "kind": "field",
        "name_zh": "元桥丝苗米稻田",
        "parent": "wuhua.changbu.yuanqiao",
        "latitude": "24.0355",
        "longitude": "115.6302",
    },
    {
        "id": "changbu-meicai-field",
        "kind": "field",
        "name_zh": "元桥梅菜地",
        "parent": "wuhua.changbu.yuanqiao",
    },
    {
        "id": "yitang-orchard",
        "kind": "field",
        "name_zh": "益塘水库荔枝园",
        "parent": "wuhua.hengpi.yitang",
        "latitude": "23.9021",
        "longitude": "115.7433",
    },
    {
        "id": "chatinggang-orchard",
        "kind": "field",
        "name_zh": "茶亭岗金柚园",
        "parent": "wuhua.huacheng.chatinggang",
    },
    {
        "id": "county-warehouse",
        "kind": "warehouse",
        "name_zh": "五华县农产品仓储中心",
        "parent": "wuhua",
        "gln": "6901234000016",
    },
    {"id": "county-cold-store", "kind": "cold_store", "name_zh": "五华县冷链仓", "parent": "wuhua"},
    {"id": "county-packing-hall", "kind": "facility", "name_zh": "五华县农产品包装站车间", "parent": "wuhua"},
    {
        "id": "changle-distillery-site",
        "kind": "facility",
        "name_zh": "长乐烧酿酒坊",
        "parent": "wuhua.huacheng",
    },
)

ORGS: tuple[dict[str, Any], ...] = (
    {
        "id": "coop-changbu",
        "kind": "cooperative",
        "name_zh": "五华县长布镇高山农产品专业合作社",
        "name_en": "Changbu Highland Produce Cooperative",
        "place": "wuhua.changbu",
    },
    {
        "id": "coop-hengpi",
        "kind": "cooperative",
        "name_zh": "五华县横陂镇益塘果业专业合作社",
        "name_en": "Hengpi Yitang Fruit Cooperative",
        "place": "wuhua.hengpi",
    },
    {
        "id": "household-zhang",
        "kind": "household",
        "name_zh": "张氏农户",
        "parent": "coop-hengpi",
        "poverty_household": True,
    },
    {"id": "household-liu", "kind": "household", "name_zh": "刘氏农户", "parent": "coop-changbu"},
    {
        "id": "changle-distillery",
        "kind": "farm_base",
        "name_zh": "五华长乐烧酿造基地",
        "name_en": "Changle spirit distillery",
    },
    {
        "id": "lab-meizhou",
        "kind": "lab",
        "name_zh": "梅州市农产品质量安全检测中心",
        "name_en": "Meizhou Agricultural Product Testing Centre",
    },
    {
        "id": "carrier-wuhua",
        "kind": "carrier",
        "name_zh": "五华县城乡物流配送有限公司",
        "name_en": "Wuhua Rural Logistics",
    },
    {"id": "town-changbu", "kind": "town_centre", "name_zh": "长布镇电商服务中心", "place": "wuhua.changbu"},
    {"id": "town-hengpi", "kind": "town_centre", "name_zh": "横陂镇电商服务中心", "place": "wuhua.hengpi"},
    {
        "id": "station-yitang",
        "kind": "village_station",
        "name_zh": "益塘村电商服务站",
        "place": "wuhua.hengpi.yitang",
    },
    {
        "id": "station-chatinggang",
        "kind": "village_station",
        "name_zh": "茶亭岗村电商服务站",
        "place": "wuhua.huacheng.chatinggang",
    },
    {
        "id": "packer-wuhua",
        "kind": "packing_station",
        "name_zh": "五华县农产品包装站",
        "name_en": "Wuhua packing station",
    },
    {
        "id": "shop-wuhua",
        "kind": "seller",
        "name_zh": "五华特产旗舰店",
        "name_en": "Wuhua speciality online shop",
    },
)

PRODUCTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "coop-changbu",
        {
            "id": "wuhua-sweet-potato",
            "name_zh": "五华高山红薯",
            "name_en": "Wuhua highland sweet potato",
            "category": "vegetable",
            "unit": "kg",
            "specification": "5 kg/箱",
        },
    ),
    (
        "coop-changbu",
        {
            "id": "wuhua-simiao-rice",
            "name_zh": "五华丝苗米",
            "name_en": "Wuhua Simiao rice",
            "category": "grain",
            "unit": "kg",
            "specification": "5 kg/袋",
            "gtin": "6901234500011",
        },
    ),
    (
        "changle-distillery",
        {
            "id": "changle-spirit",
            "name_zh": "长乐烧",
            "name_en": "Changle rice spirit",
            "category": "spirit",
            "unit": "bottle",
            "specification": "500 mL/瓶 52%vol",
            "gtin": "6901234500028",
        },
    ),
    (
        "coop-changbu",
        {
            "id": "wuhua-meicai",
            "name_zh": "五华梅菜干",
            "name_en": "Wuhua preserved mustard greens",
            "category": "preserved",
            "unit": "kg",
            "specification": "500 g/袋",
            "gtin": "6901234500035",
        },
    ),
    (
        "coop-hengpi",
        {
            "id": "yitang-lychee",
            "name_zh": "益塘水库荔枝",
            "name_en": "Yitang Reservoir lychee",
            "category": "fruit",
            "unit": "kg",
            "specification": "5 kg/箱",
        },
    ),
    (
        "coop-hengpi",
        {
            "id": "chatinggang-pomelo",
            "name_zh": "茶亭岗金柚",
            "name_en": "Chatinggang golden pomelo",
            "category": "fruit",
            "unit": "kg",
            "gtin": "6901234500042",
        },
    ),
)

CERTIFICATES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "wuhua-simiao-rice",
        {
            "scheme": "green_food",
            "certificate_number": "LB-18-26011234567A",
            "issuer": "中国绿色食品发展中心",
            "valid_from": "2026-01-01",
            "valid_until": "2028-12-31",
        },
    ),
    (
        "wuhua-sweet-potato",
        {
            "scheme": "geographical_indication",
            "certificate_number": "AGI2018-02-2419",
            "issuer": "农业农村部",
            "valid_from": "2018-06-01",
            "valid_until": "2099-12-31",
        },
    ),
    (
        "yitang-lychee",
        {
            "scheme": "pollution_free",
            "certificate_number": "WNCR-GD-2023-0451",
            "issuer": "广东省农业农村厅",
            "valid_from": "2023-01-01",
            "valid_until": "2025-12-31",
        },
    ),
)


@dataclass
class DemoSummary:
    batches: dict[str, str] = field(default_factory=dict)  # story name -> batch id
    created_entries: int = 0


def demo_report(title: str) -> bytes:
    """A small, valid one-page PDF standing in for a lab's report (deterministic bytes)."""
    text = title.encode("ascii")
    stream = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def load_demo(
    session: Session, keystore: KeyStore, clock: Callable[[], datetime] | None = None
) -> DemoSummary:
    """Load the county's demonstration data into `session` (the caller commits)."""
    t = trace_services(session, keystore, clock)
    summary = DemoSummary()
    _registry(t, session)
    _Stories(t, summary).run()
    return summary


def _registry(t: TraceServices, session: Session) -> None:
    t.orgs.bootstrap_operator(
        {
            "id": OPERATOR,
            "name_zh": "五华县农村电子商务公共服务中心",
            "name_en": "Wuhua County rural e-commerce service centre",
        }
    )
    for place in PLACES:
        if session.get(Place, place["id"]) is None:
            t.places.register(OPERATOR, place)
    for org in ORGS:
        if session.get(Org, org["id"]) is None:
            t.orgs.register(OPERATOR, org)
    t.orgs.set_poverty_household(OPERATOR, "household-zhang", True, public_mark=True)
    for owner, product in PRODUCTS:
        if session.get(Product, product["id"]) is None:
            t.products.register(owner, product)
    for product_id, certificate in CERTIFICATES:
        exists = session.scalars(
            select(ProductCertificate).where(
                ProductCertificate.product_id == product_id,
                ProductCertificate.number == certificate["certificate_number"],
            )
        ).first()
        if exists is None:
            owner = next(o for o, p in PRODUCTS if p["id"] == product_id)
            t.products.add_certificate(owner, product_id, certificate)


def _residue(
    analyte: str, method: str, value: str, limit: str, standard: str = "GB 2763-2021"
) -> dict[str, Any]:
    return {
        "analyte": analyte,
        "method": method,
        "value": value,
        "limit": limit,
        "limit_standard": standard,
        "unit": "mg/kg",
        "verdict": "pass",
    }


class _Stories:
    def __init__(self, t: TraceServices, summary: DemoSummary) -> None:
        self.t = t
        self.summary = summary

    def run(self) -> None:
        self.sweet_potato()
        self.rice_and_spirit()
        self.meicai()
        self.lychee()
        self.pomelo()

    # -- helpers ---------------------------------------------------------------------------

    def register(self, name: str, actor: str, payload: dict[str, Any], when: str) -> str:
        recorded = self.t.batches.register(actor, payload, event_time=_at(when), client_id=f"demo:{name}")
        self.summary.created_entries += int(recorded.created)
        self.summary.batches[name] = recorded.batch
        return recorded.batch

    def event(
        self, name: str, step: str, event_type: str, payload: dict[str, Any], actor: str, when: str
    ) -> None:
        recorded = self.t.events.record(
            self.summary.batches[name],
            event_type,
            payload,
            actor=actor,
            event_time=_at(when),
            client_id=f"demo:{name}:{step}",
        )
        self.summary.created_entries += int(recorded.created)

    def lab(self, name: str, sample: str, results: list[dict[str, Any]], when: str) -> None:
        report = store_document(
            self.t.ctx,
            demo_report(f"Meizhou testing centre report {sample}"),
            "application/pdf",
            filename=f"{sample}.pdf",
            uploaded_by="lab-meizhou",
        )
        verdict = "fail" if any(r["verdict"] == "fail" for r in results) else "pass"
        self.event(
            name,
            f"lab-{sample}",
            "lab.tested",
            {"sample_id": sample, "report_sha256": report, "verdict": verdict, "results": results},
            "lab-meizhou",
            when,
        )

    def temperatures(
        self, name: str, step: str, actor: str, low: str, high: str, start: str, values: list[str]
    ) -> None:
        first = _at(start)
        readings = [
            {"time": (first + timedelta(hours=i)).isoformat(), "celsius": v} for i, v in enumerate(values)
        ]
        last = (first + timedelta(hours=len(values) - 1)).strftime("%Y-%m-%d %H:%M")
        payload = {"min_celsius": low, "max_celsius": high, "device": f"TL-{step}", "readings": readings}
        self.event(name, step, "logistics.temperature", payload, actor, last)

    def record_lineage(self, result: Any, names: list[str]) -> None:
        for name, batch in zip(names, result.outputs, strict=True):
            self.summary.batches[name] = batch
        self.summary.created_entries += sum(int(e.created) for e in result.entries)

    # -- the stories -----------------------------------------------------------------------

    def sweet_potato(self) -> None:
        n = "sweet-potato"
        self.register(
            n,
            "coop-changbu",
            {
                "product": "wuhua-sweet-potato",
                "lot": "HSP2026-01",
                "producers": ["coop-changbu", "household-liu"],
                "origin_place": "changbu-highland-field",
                "unit": "kg",
                "expected_quantity": "6000",
            },
            "2026-03-01 09:00",
        )
        self.event(
            n,
            "fertiliser",
            "farming.input",
            {
                "kind": "fertiliser",
                "product_name": "腐熟农家肥",
                "dose": "1500",
                "dose_unit": "kg/mu",
                "place": "changbu-highland-field",
                "area_mu": "12",
            },
            "coop-changbu",
            "2026-04-20 08:00",
        )
        self.event(
            n,
            "harvest",
            "farming.harvested",
            {"quantity": "6000", "unit": "kg", "place": "changbu-highland-field"},
            "coop-changbu",
            "2026-10-15 07:00",
        )
        self.lab(
            n,
            "MZ2026-1018",
            [_residue("铅 Pb", "GB 5009.12-2017", "0.02", "0.1", "GB 2762-2022")],
            "2026-10-18 15:00",
        )
        self.event(
            n,
            "pickup",
            "logistics.picked_up",
            {
                "carrier": "carrier-wuhua",
                "place": "changbu-highland-field",
                "destination": "county-packing-hall",
            },
            "coop-changbu",
            "2026-10-19 07:30",
        )
        self.temperatures(
            n, "truck-1", "carrier-wuhua", "10", "15", "2026-10-19 08:00", ["13.1", "12.6", "12.2"]
        )
        self.event(
            n,
            "to-packer",
            "logistics.handed_off",
            {"to": "packer-wuhua", "place": "county-packing-hall"},
            "carrier-wuhua",
            "2026-10-19 10:30",
        )
        self.event(
            n,
            "pack",
            "packing.packed",
            {
                "packages": 800,
                "package": "box",
                "net_quantity": "5",
                "net_unit": "kg",
                "place": "county-packing-hall",
            },
            "packer-wuhua",
            "2026-10-20 16:00",
        )
        self.event(
            n,
            "pickup-2",
            "logistics.picked_up",
            {"carrier": "carrier-wuhua", "place": "county-packing-hall", "destination": "wuhua.changbu"},
            "packer-wuhua",
            "2026-10-21 08:00",
        )
        self.event(
            n,
            "deliver",
            "logistics.delivered",
            {"station": "town-changbu", "place": "wuhua.changbu"},
            "carrier-wuhua",
            "2026-10-21 10:00",
        )

    def rice_and_spirit(self) -> None:
        n = "simiao-rice"
        self.register(
            n,
            "coop-changbu",
            {
                "product": "wuhua-simiao-rice",
                "lot": "SMR2026-07",
                "producers": ["household-liu"],
                "origin_place": "changbu-paddy",
                "unit": "kg",
                "expected_quantity": "5000",
            },
            "2026-03-10 09:00",
        )
        self.event(
            n,
            "fertiliser",
            "farming.input",
            {
                "kind": "fertiliser",
                "product_name": "水稻专用复合肥 15-15-15",
                "registration_number": "粤农肥(2021)准字2261号",
                "dose": "25",
                "dose_unit": "kg/mu",
                "place": "changbu-paddy",
            },
            "coop-changbu",
            "2026-04-05 08:00",
        )
        self.event(
            n,
            "pesticide",
            "farming.input",
            {
                "kind": "pesticide",
                "product_name": "氯虫苯甲酰胺 200g/L 悬浮剂",
                "registration_number": "PD20110596",
                "active_ingredient": "chlorantraniliprole",
                "dose": "10",
                "dose_unit": "mL/mu",
                "pre_harvest_interval_days": 7,
                "place": "changbu-paddy",
            },
            "coop-changbu",
            "2026-06-01 07:00",
        )
        self.event(
            n,
            "harvest",
            "farming.harvested",
            {"quantity": "5000", "unit": "kg", "place": "changbu-paddy"},
            "coop-changbu",
            "2026-07-15 07:00",
        )
        self.lab(
            n,
            "MZ2026-0725",
            [
                _residue("镉 Cd", "GB 5009.15-2014", "0.06", "0.2", "GB 2762-2022"),
                _residue("氯虫苯甲酰胺", "GB 23200.113-2018", "0.01", "0.5"),
            ],
            "2026-07-25 14:00",
        )
        split = self.t.lineage.split(
            "coop-changbu",
            self.summary.batches[n],
            [{"quantity": "3000", "lot": "SMR2026-07A"}, {"quantity": "1500", "lot": "SMR2026-07B"}],
            event_time=_at("2026-08-01 09:00"),
            client_id="demo:simiao-rice:split",
        )
        self.record_lineage(split, ["simiao-rice-bagged", "simiao-rice-for-spirit"])
        b = "simiao-rice-bagged"
        self.event(
            b,
            "pickup",
            "logistics.picked_up",
            {"carrier": "carrier-wuhua", "place": "wuhua.changbu", "destination": "county-warehouse"},
            "coop-changbu",
            "2026-08-02 08:00",
        )
        self.temperatures(b, "truck-2", "carrier-wuhua", "5", "30", "2026-08-02 08:30", ["27.5", "28.1"])
        self.event(
            b,
            "to-warehouse",
            "logistics.handed_off",
            {"to": OPERATOR, "place": "county-warehouse"},
            "carrier-wuhua",
            "2026-08-02 10:00",
        )
        self.event(
            b, "in", "logistics.warehouse_in", {"place": "county-warehouse"}, OPERATOR, "2026-08-02 10:10"
        )
        self.event(
            b,
            "out",
            "logistics.warehouse_out",
            {"place": "county-warehouse", "destination": "county-packing-hall"},
            OPERATOR,
            "2026-09-01 08:00",
        )
        self.event(
            b,
            "to-packer",
            "logistics.handed_off",
            {"to": "packer-wuhua", "place": "county-packing-hall"},
            OPERATOR,
            "2026-09-01 08:30",
        )
        self.event(
            b,
            "pack",
            "packing.packed",
            {
                "packages": 600,
                "package": "bag",
                "net_quantity": "5",
                "net_unit": "kg",
                "place": "county-packing-hall",
            },
            "packer-wuhua",
            "2026-09-02 17:00",
        )
        self.event(
            b,
            "to-shop",
            "logistics.handed_off",
            {"to": "shop-wuhua", "place": "county-packing-hall"},
            "packer-wuhua",
            "2026-09-03 09:00",
        )
        self.event(
            b,
            "sale-1",
            "sale.recorded",
            {"channel": "ecommerce", "order_reference": "TB-2026090300117", "quantity": "100", "unit": "kg"},
            "shop-wuhua",
            "2026-09-03 20:15",
        )
        s = "simiao-rice-for-spirit"
        self.event(
            s,
            "to-distillery",
            "logistics.handed_off",
            {"to": "changle-distillery", "place": "changle-distillery-site"},
            "coop-changbu",
            "2026-08-03 09:00",
        )
        self.event(
            s,
            "steaming",
            "processing.recorded",
            {"step": "浸泡蒸饭 soaking and steaming", "place": "changle-distillery-site"},
            "changle-distillery",
            "2026-08-05 06:00",
        )
        spirit = self.t.lineage.transform(
            "changle-distillery",
            [{"batch": self.summary.batches[s], "quantity": "1500", "unit": "kg"}],
            [{"product": "changle-spirit", "quantity": "1200", "unit": "bottle", "lot": "CLS2026-10"}],
            event_time=_at("2026-10-10 10:00"),
            client_id="demo:changle-spirit:distil",
        )
        self.record_lineage(spirit, ["changle-spirit"])
        alcohol = {
            "analyte": "酒精度 alcohol",
            "method": "GB 5009.225-2016",
            "value": "52.1",
            "limit": "50",
            "limit_kind": "min",
            "unit": "%vol",
            "verdict": "pass",
        }
        methanol = {
            "analyte": "甲醇 methanol",
            "method": "GB 5009.266-2016",
            "value": "0.12",
            "limit": "0.6",
            "limit_standard": "GB 2757-2012",
            "unit": "g/L",
            "verdict": "pass",
        }
        self.lab("changle-spirit", "MZ2026-1020", [alcohol, methanol], "2026-10-20 11:00")
        self.event(
            "changle-spirit",
            "to-shop",
            "logistics.handed_off",
            {"to": "shop-wuhua", "place": "changle-distillery-site"},
            "changle-distillery",
            "2026-10-22 09:00",
        )
        self.event(
            "changle-spirit",
            "sale-1",
            "sale.recorded",
            {
                "channel": "livestream",
                "order_reference": "DY-20261025-8801",
                "quantity": "24",
                "unit": "bottle",
            },
            "shop-wuhua",
            "2026-10-25 21:00",
        )

    def meicai(self) -> None:
        n = "meicai"
        self.register(
            n,
            "coop-changbu",
            {
                "product": "wuhua-meicai",
                "lot": "MC2026-01",
                "producers": ["household-liu"],
                "origin_place": "changbu-meicai-field",
                "unit": "kg",
            },
            "2026-01-05 09:00",
        )
        self.event(
            n,
            "fertiliser",
            "farming.input",
            {"kind": "fertiliser", "product_name": "有机肥", "dose": "500", "dose_unit": "kg/mu"},
            "coop-changbu",
            "2026-01-06 08:00",
        )
        self.event(
            n,
            "harvest",
            "farming.harvested",
            {"quantity": "1200", "unit": "kg", "place": "changbu-meicai-field"},
            "coop-changbu",
            "2026-01-20 07:00",
        )
        self.event(
            n,
            "salting",
            "processing.recorded",
            {"step": "腌制 salting", "description": "盐渍 15 天"},
            "coop-changbu",
            "2026-01-21 09:00",
        )
        self.event(
            n,
            "drying",
            "processing.recorded",
            {"step": "晒干 sun-drying", "loss_quantity": "900", "loss_unit": "kg"},
            "coop-changbu",
            "2026-02-10 16:00",
        )
        nitrite = {
            "analyte": "亚硝酸盐 nitrite (as NaNO2)",
            "method": "GB 5009.33-2016",
            "value": "32",
            "limit": "20",
            "limit_standard": "GB 2762-2022",
            "unit": "mg/kg",
            "verdict": "fail",
        }
        self.lab(n, "MZ2026-0220", [nitrite], "2026-02-20 15:00")

    def lychee(self) -> None:
        n = "lychee"
        self.register(
            n,
            "coop-hengpi",
            {
                "product": "yitang-lychee",
                "lot": "YTL2026-06",
                "producers": ["household-zhang"],
                "origin_place": "yitang-orchard",
                "unit": "kg",
                "expected_quantity": "2000",
            },
            "2026-03-01 10:00",
        )
        self.event(
            n,
            "pesticide",
            "farming.input",
            {
                "kind": "pesticide",
                "product_name": "苯醚甲环唑 10% 水分散粒剂",
                "registration_number": "PD20070389",
                "active_ingredient": "difenoconazole",
                "dose": "2000",
                "dose_unit": "times",
                "pre_harvest_interval_days": 14,
                "place": "yitang-orchard",
            },
            "coop-hengpi",
            "2026-05-10 07:00",
        )
        self.event(
            n,
            "harvest",
            "farming.harvested",
            {"quantity": "2000", "unit": "kg", "place": "yitang-orchard"},
            "coop-hengpi",
            "2026-06-18 05:30",
        )
        self.lab(
            n,
            "MZ2026-0618",
            [_residue("苯醚甲环唑 difenoconazole", "GB 23200.113-2018", "0.03", "0.5")],
            "2026-06-18 14:00",
        )
        self.event(
            n,
            "pickup",
            "logistics.picked_up",
            {"carrier": "carrier-wuhua", "place": "yitang-orchard", "destination": "county-cold-store"},
            "coop-hengpi",
            "2026-06-18 15:00",
        )
        self.temperatures(
            n, "reefer-1", "carrier-wuhua", "2", "8", "2026-06-18 15:30", ["6.8", "4.9", "4.1", "3.8"]
        )
        self.event(
            n,
            "to-cold-store",
            "logistics.handed_off",
            {"to": OPERATOR, "place": "county-cold-store"},
            "carrier-wuhua",
            "2026-06-18 19:00",
        )
        self.event(
            n, "in", "logistics.warehouse_in", {"place": "county-cold-store"}, OPERATOR, "2026-06-18 19:10"
        )
        self.temperatures(n, "cold-store", OPERATOR, "2", "8", "2026-06-18 20:00", ["3.5", "3.2", "3.1"])
        self.event(
            n,
            "out",
            "logistics.warehouse_out",
            {"place": "county-cold-store", "destination": "county-packing-hall"},
            OPERATOR,
            "2026-06-19 06:00",
        )
        self.event(
            n,
            "to-packer",
            "logistics.handed_off",
            {"to": "packer-wuhua", "place": "county-packing-hall"},
            OPERATOR,
            "2026-06-19 06:30",
        )
        self.event(
            n,
            "pack",
            "packing.packed",
            {
                "packages": 390,
                "package": "box",
                "net_quantity": "5",
                "net_unit": "kg",
                "place": "county-packing-hall",
            },
            "packer-wuhua",
            "2026-06-19 11:00",
        )
        self.event(
            n,
            "pickup-2",
            "logistics.picked_up",
            {
                "carrier": "carrier-wuhua",
                "place": "county-packing-hall",
                "destination": "wuhua.hengpi.yitang",
            },
            "packer-wuhua",
            "2026-06-19 12:00",
        )
        self.event(
            n,
            "deliver",
            "logistics.delivered",
            {"station": "station-yitang", "place": "wuhua.hengpi.yitang"},
            "carrier-wuhua",
            "2026-06-19 14:00",
        )

    def pomelo(self) -> None:
        n = "pomelo"
        self.register(
            n,
            "coop-hengpi",
            {
                "product": "chatinggang-pomelo",
                "lot": "CTG2026-10",
                "producers": ["coop-hengpi"],
                "origin_place": "chatinggang-orchard",
                "unit": "kg",
                "expected_quantity": "8000",
            },
            "2026-03-01 11:00",
        )
        self.event(
            n,
            "fertiliser",
            "farming.input",
            {
                "kind": "fertiliser",
                "product_name": "花生麸有机肥",
                "dose": "3",
                "dose_unit": "kg/mu",
                "place": "chatinggang-orchard",
            },
            "coop-hengpi",
            "2026-03-15 08:00",
        )
        self.event(
            n,
            "harvest",
            "farming.harvested",
            {"quantity": "8000", "unit": "kg", "place": "chatinggang-orchard"},
            "coop-hengpi",
            "2026-10-25 07:00",
        )
        self.lab(
            n,
            "MZ2026-1026",
            [_residue("多菌灵 carbendazim", "GB/T 20769-2008", "0.05", "0.5")],
            "2026-10-26 16:00",
        )
        split = self.t.lineage.split(
            "coop-hengpi",
            self.summary.batches[n],
            [{"quantity": "3000", "lot": "CTG2026-10A"}, {"quantity": "4000", "lot": "CTG2026-10B"}],
            event_time=_at("2026-10-28 09:00"),
            client_id="demo:pomelo:split",
        )
        self.record_lineage(split, ["pomelo-shop", "pomelo-station"])
        self.event(
            "pomelo-shop",
            "to-shop",
            "logistics.handed_off",
            {"to": "shop-wuhua", "place": "wuhua.huacheng"},
            "coop-hengpi",
            "2026-10-29 09:00",
        )
        self.event(
            "pomelo-station",
            "pickup",
            "logistics.picked_up",
            {"carrier": "carrier-wuhua", "place": "chatinggang-orchard"},
            "coop-hengpi",
            "2026-10-29 10:00",
        )
        self.event(
            "pomelo-station",
            "deliver",
            "logistics.delivered",
            {"station": "station-chatinggang", "place": "wuhua.huacheng.chatinggang"},
            "carrier-wuhua",
            "2026-10-29 12:00",
        )
        recall = self.t.recalls.issue(
            OPERATOR,
            self.summary.batches[n],
            "市场抽检发现包装标签等级标注与实际不符，三级召回 (label grade does not match the fruit)",
            level=3,
            event_time=_at("2026-11-10 10:00"),
            client_id="demo:pomelo:recall",
        )
        self.summary.created_entries += sum(int(e.created) for e in recall.entries)
