"""The demonstration's rice and what is made of it: 丝苗米 Simiao rice, split after its lab pass;
one part bagged, warehoused and sold online, the other distilled into 长乐烧 Changle rice spirit
(a transform into bottles), which passes its own lab test and is sold by livestream."""

from __future__ import annotations

from farmtrace.trace.demo.county import OPERATOR
from farmtrace.trace.demo.writer import StoryWriter, at, residue


def rice_and_spirit(story: StoryWriter) -> None:
    n = "simiao-rice"
    story.register(
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
    story.event(
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
    story.event(
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
    story.event(
        n,
        "harvest",
        "farming.harvested",
        {"quantity": "5000", "unit": "kg", "place": "changbu-paddy"},
        "coop-changbu",
        "2026-07-15 07:00",
    )
    story.lab(
        n,
        "MZ2026-0725",
        [
            residue("镉 Cd", "GB 5009.15-2014", "0.06", "0.2", "GB 2762-2022"),
            residue("氯虫苯甲酰胺", "GB 23200.113-2018", "0.01", "0.5"),
        ],
        "2026-07-25 14:00",
    )
    story.split(
        n,
        "coop-changbu",
        [{"quantity": "3000", "lot": "SMR2026-07A"}, {"quantity": "1500", "lot": "SMR2026-07B"}],
        "2026-08-01 09:00",
        ["simiao-rice-bagged", "simiao-rice-for-spirit"],
    )
    b = "simiao-rice-bagged"
    story.event(
        b,
        "pickup",
        "logistics.picked_up",
        {"carrier": "carrier-wuhua", "place": "wuhua.changbu", "destination": "county-warehouse"},
        "coop-changbu",
        "2026-08-02 08:00",
    )
    story.temperatures(b, "truck-2", "carrier-wuhua", "5", "30", "2026-08-02 08:30", ["27.5", "28.1"])
    story.event(
        b,
        "to-warehouse",
        "logistics.handed_off",
        {"to": OPERATOR, "place": "county-warehouse"},
        "carrier-wuhua",
        "2026-08-02 10:00",
    )
    story.event(
        b, "in", "logistics.warehouse_in", {"place": "county-warehouse"}, OPERATOR, "2026-08-02 10:10"
    )
    story.event(
        b,
        "out",
        "logistics.warehouse_out",
        {"place": "county-warehouse", "destination": "county-packing-hall"},
        OPERATOR,
        "2026-09-01 08:00",
    )
    story.event(
        b,
        "to-packer",
        "logistics.handed_off",
        {"to": "packer-wuhua", "place": "county-packing-hall"},
        OPERATOR,
        "2026-09-01 08:30",
    )
    story.event(
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
    story.event(
        b,
        "to-shop",
        "logistics.handed_off",
        {"to": "shop-wuhua", "place": "county-packing-hall"},
        "packer-wuhua",
        "2026-09-03 09:00",
    )
    story.event(
        b,
        "sale-1",
        "sale.recorded",
        {"channel": "ecommerce", "order_reference": "TB-2026090300117", "quantity": "100", "unit": "kg"},
        "shop-wuhua",
        "2026-09-03 20:15",
    )
    s = "simiao-rice-for-spirit"
    story.event(
        s,
        "to-distillery",
        "logistics.handed_off",
        {"to": "changle-distillery", "place": "changle-distillery-site"},
        "coop-changbu",
        "2026-08-03 09:00",
    )
    story.event(
        s,
        "steaming",
        "processing.recorded",
        {"step": "浸泡蒸饭 soaking and steaming", "place": "changle-distillery-site"},
        "changle-distillery",
        "2026-08-05 06:00",
    )
    spirit = story.t.lineage.transform(
        "changle-distillery",
        [{"batch": story.summary.batches[s], "quantity": "1500", "unit": "kg"}],
        [{"product": "changle-spirit", "quantity": "1200", "unit": "bottle", "lot": "CLS2026-10"}],
        event_time=at("2026-10-10 10:00"),
        client_id="demo:changle-spirit:distil",
    )
    story.record_lineage(spirit, ["changle-spirit"])
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
    story.lab("changle-spirit", "MZ2026-1020", [alcohol, methanol], "2026-10-20 11:00")
    story.event(
        "changle-spirit",
        "to-shop",
        "logistics.handed_off",
        {"to": "shop-wuhua", "place": "changle-distillery-site"},
        "changle-distillery",
        "2026-10-22 09:00",
    )
    story.event(
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
