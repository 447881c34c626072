"""The demonstration's vegetables: 五华高山红薯 highland sweet potato (cold chain 10-15 °C, packed
in 5 kg boxes, delivered to the town service centre) and 梅菜 preserved mustard greens (salted
and sun-dried, then a FAILED nitrite test)."""

from __future__ import annotations

from farmtrace.trace.demo.writer import StoryWriter, residue


def sweet_potato(story: StoryWriter) -> None:
    n = "sweet-potato"
    story.register(
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
    story.event(
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
    story.event(
        n,
        "harvest",
        "farming.harvested",
        {"quantity": "6000", "unit": "kg", "place": "changbu-highland-field"},
        "coop-changbu",
        "2026-10-15 07:00",
    )
    story.lab(
        n,
        "MZ2026-1018",
        [residue("铅 Pb", "GB 5009.12-2017", "0.02", "0.1", "GB 2762-2022")],
        "2026-10-18 15:00",
    )
    story.event(
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
    story.temperatures(
        n, "truck-1", "carrier-wuhua", "10", "15", "2026-10-19 08:00", ["13.1", "12.6", "12.2"]
    )
    story.event(
        n,
        "to-packer",
        "logistics.handed_off",
        {"to": "packer-wuhua", "place": "county-packing-hall"},
        "carrier-wuhua",
        "2026-10-19 10:30",
    )
    story.event(
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
    story.event(
        n,
        "pickup-2",
        "logistics.picked_up",
        {"carrier": "carrier-wuhua", "place": "county-packing-hall", "destination": "wuhua.changbu"},
        "packer-wuhua",
        "2026-10-21 08:00",
    )
    story.event(
        n,
        "deliver",
        "logistics.delivered",
        {"station": "town-changbu", "place": "wuhua.changbu"},
        "carrier-wuhua",
        "2026-10-21 10:00",
    )


def meicai(story: StoryWriter) -> None:
    n = "meicai"
    story.register(
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
    story.event(
        n,
        "fertiliser",
        "farming.input",
        {"kind": "fertiliser", "product_name": "有机肥", "dose": "500", "dose_unit": "kg/mu"},
        "coop-changbu",
        "2026-01-06 08:00",
    )
    story.event(
        n,
        "harvest",
        "farming.harvested",
        {"quantity": "1200", "unit": "kg", "place": "changbu-meicai-field"},
        "coop-changbu",
        "2026-01-20 07:00",
    )
    story.event(
        n,
        "salting",
        "processing.recorded",
        {"step": "腌制 salting", "description": "盐渍 15 天"},
        "coop-changbu",
        "2026-01-21 09:00",
    )
    story.event(
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
    story.lab(n, "MZ2026-0220", [nitrite], "2026-02-20 15:00")
