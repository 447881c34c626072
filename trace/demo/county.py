"""Wuhua County (五华县) as the demonstration knows it: the operator, the places from county to
field, the organisations, their products and the products' certificates. Data only; load.py
registers it."""

from __future__ import annotations

from typing import Any

OPERATOR = "wuhua-county"
OPERATOR_ORG: dict[str, Any] = {
    "id": OPERATOR,
    "name_zh": "五华县农村电子商务公共服务中心",
    "name_en": "Wuhua County rural e-commerce service centre",
}

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
