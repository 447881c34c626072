"""The demonstration's fruit: 益塘水库荔枝 lychee from a poverty-alleviation household (cold chain
2-8 °C, packed, delivered to a village station) and 茶亭岗金柚 golden pomelo (split into two lots,
then RECALLED with both)."""

from __future__ import annotations

from farmtrace.trace.demo.county import OPERATOR
from farmtrace.trace.demo.writer import StoryWriter, at, residue


def lychee(story: StoryWriter) -> None:
    n = "lychee"
    story.register(
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
    story.event(
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
    story.event(
        n,
        "harvest",
        "farming.harvested",
        {"quantity": "2000", "unit": "kg", "place": "yitang-orchard"},
        "coop-hengpi",
        "2026-06-18 05:30",
    )
    story.lab(
        n,
        "MZ2026-0618",
        [residue("苯醚甲环唑 difenoconazole", "GB 23200.113-2018", "0.03", "0.5")],
        "2026-06-18 14:00",
    )
    story.event(
        n,
        "pickup",
        "logistics.picked_up",
        {"carrier": "carrier-wuhua", "place": "yitang-orchard", "destination": "county-cold-store"},
        "coop-hengpi",
        "2026-06-18 15:00",
    )
    story.temperatures(
        n, "reefer-1", "carrier-wuhua", "2", "8", "2026-06-18 15:30", ["6.8", "4.9", "4.1", "3.8"]
    )
    story.event(
        n,
        "to-cold-store",
        "logistics.handed_off",
        {"to": OPERATOR, "place": "county-cold-store"},
        "carrier-wuhua",
        "2026-06-18 19:00",
    )
    story.event(
        n, "in", "logistics.warehouse_in", {"place": "county-cold-store"}, OPERATOR, "2026-06-18 19:10"
    )
    story.temperatures(n, "cold-store", OPERATOR, "2", "8", "2026-06-18 20:00", ["3.5", "3.2", "3.1"])
    story.event(
        n,
        "out",
        "logistics.warehouse_out",
        {"place": "county-cold-store", "destination": "county-packing-hall"},
        OPERATOR,
        "2026-06-19 06:00",
    )
    story.event(
        n,
        "to-packer",
        "logistics.handed_off",
        {"to": "packer-wuhua", "place": "county-packing-hall"},
        OPERATOR,
        "2026-06-19 06:30",
    )
    story.event(
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
    story.event(
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
    story.event(
        n,
        "deliver",
        "logistics.delivered",
        {"station": "station-yitang", "place": "wuhua.hengpi.yitang"},
        "carrier-wuhua",
        "2026-06-19 14:00",
    )


def pomelo(story: StoryWriter) -> None:
    n = "pomelo"
    story.register(
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
    story.event(
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
    story.event(
        n,
        "harvest",
        "farming.harvested",
        {"quantity": "8000", "unit": "kg", "place": "chatinggang-orchard"},
        "coop-hengpi",
        "2026-10-25 07:00",
    )
    story.lab(
        n,
        "MZ2026-1026",
        [residue("多菌灵 carbendazim", "GB/T 20769-2008", "0.05", "0.5")],
        "2026-10-26 16:00",
    )
    story.split(
        n,
        "coop-hengpi",
        [{"quantity": "3000", "lot": "CTG2026-10A"}, {"quantity": "4000", "lot": "CTG2026-10B"}],
        "2026-10-28 09:00",
        ["pomelo-shop", "pomelo-station"],
    )
    story.event(
        "pomelo-shop",
        "to-shop",
        "logistics.handed_off",
        {"to": "shop-wuhua", "place": "wuhua.huacheng"},
        "coop-hengpi",
        "2026-10-29 09:00",
    )
    story.event(
        "pomelo-station",
        "pickup",
        "logistics.picked_up",
        {"carrier": "carrier-wuhua", "place": "chatinggang-orchard"},
        "coop-hengpi",
        "2026-10-29 10:00",
    )
    story.event(
        "pomelo-station",
        "deliver",
        "logistics.delivered",
        {"station": "station-chatinggang", "place": "wuhua.huacheng.chatinggang"},
        "carrier-wuhua",
        "2026-10-29 12:00",
    )
    recall = story.t.recalls.issue(
        OPERATOR,
        story.summary.batches[n],
        "市场抽检发现包装标签等级标注与实际不符，三级召回 (label grade does not match the fruit)",
        level=3,
        event_time=at("2026-11-10 10:00"),
        client_id="demo:pomelo:recall",
    )
    story.summary.created_entries += sum(int(e.created) for e in recall.entries)
