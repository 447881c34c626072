"""LabelData validation, layout geometry, the QR fit rule and text fitting."""

from __future__ import annotations

import datetime as dt

import pytest
from printer_testkit import sample_label

from farmtrace.printer import (
    LAYOUTS,
    CharacterError,
    LabelDataError,
    LayoutError,
    QRFitError,
    TextFitError,
    fit_qr,
    get_layout,
)
from farmtrace.printer.compose import compose
from farmtrace.printer.layouts import MIN_VECTOR_MODULE_MM, MM_PER_INCH
from farmtrace.printer.qr import encode_qr

LONG_LOWERCASE_URI = "https://trace.example.org/01/09506000134352/10/LOT-2025-10-12-A/21/0k4s7zq3m9xw2pht5c"


def test_layout_names() -> None:
    assert sorted(LAYOUTS) == ["40x30", "50x30", "60x40", "70x50", "a4-3x8", "a4-4x10"]


def test_unknown_layout_message() -> None:
    with pytest.raises(LayoutError) as info:
        get_layout("100x150")
    assert str(info.value) == (
        "layout '100x150': expected one of 40x30, 50x30, 60x40, 70x50, a4-3x8, a4-4x10"
    )


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_boxes_inside_label_and_disjoint(name: str) -> None:
    layout = LAYOUTS[name]
    g = layout.label
    boxes = {"qr": g.qr} | {k: v.box for k, v in g.text_boxes().items()}
    for key, box in boxes.items():
        assert box.x >= 0 and box.y >= 0, key
        assert box.right <= g.width_mm + 1e-9 and box.bottom <= g.height_mm + 1e-9, key
    keys = sorted(boxes)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not boxes[a].overlaps(boxes[b]), (name, a, b)


@pytest.mark.parametrize("name", ["a4-3x8", "a4-4x10"])
def test_sheet_labels_fit_on_a4(name: str) -> None:
    layout = LAYOUTS[name]
    assert (layout.page_width_mm, layout.page_height_mm) == (210, 297)
    x, y = layout.label_origin(layout.per_page - 1)
    assert x + layout.label.width_mm <= 210 + 1e-9
    assert y + layout.label.height_mm <= 297 + 1e-9
    assert layout.label_origin(0) == (layout.margin_left_mm, layout.margin_top_mm)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("dpi,min_dots", [(203, 3), (300, 4)])
def test_fit_qr_whole_dots_at_least_minimum(name: str, dpi: int, min_dots: int) -> None:
    fit = fit_qr(LAYOUTS[name], sample_label().uri, dpi)
    assert fit.module_dots is not None and fit.module_dots >= min_dots
    assert fit.module_mm == pytest.approx(fit.module_dots * MM_PER_INCH / dpi)
    # The symbol and its 4-module quiet zone stay inside the QR box.
    box = LAYOUTS[name].label.qr
    quiet = 4 * fit.module_mm
    assert fit.x_mm - quiet >= box.x - MM_PER_INCH / dpi
    assert fit.x_mm + fit.symbol_mm + quiet <= box.right + 1e-9
    assert fit.y_mm + fit.symbol_mm + quiet <= box.bottom + 1e-9


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_fit_qr_vector_minimum(name: str) -> None:
    fit = fit_qr(LAYOUTS[name], sample_label().uri, None)
    assert fit.module_dots is None
    assert fit.module_mm >= MIN_VECTOR_MODULE_MM
    assert fit.symbol.version == 4 and fit.symbol.mode == "alphanumeric"


def test_fit_qr_refusal_message() -> None:
    with pytest.raises(QRFitError) as info:
        fit_qr(LAYOUTS["40x30"], LONG_LOWERCASE_URI, 203)
    assert str(info.value) == (
        "layout '40x30' cannot hold the QR for a URI of 85 characters: it needs QR version 6 "
        "(41 modules + 8 quiet-zone modules) at error level M in byte mode; at 203 dpi a module "
        "must be >= 3 dots (0.375 mm), so the QR needs 18.39 mm but the layout's QR box is "
        "17.00 mm. Use a larger layout, a shorter URI (uppercase encodes in alphanumeric mode) "
        "or a lower error level"
    )


def test_fit_qr_refusal_vector() -> None:
    with pytest.raises(QRFitError) as info:
        fit_qr(LAYOUTS["a4-4x10"], LONG_LOWERCASE_URI, None)
    message = str(info.value)
    assert "layout 'a4-4x10'" in message and "URI of 85 characters" in message
    assert "vector output needs modules >= 0.375 mm" in message
    assert "needs 18.38 mm but the layout's QR box is 16.00 mm" in message


def test_same_uri_fits_where_modules_may_be_smaller() -> None:
    # 300 dpi allows 4-dot (0.339 mm) modules: the refused 40x30 URI fits there.
    assert fit_qr(LAYOUTS["40x30"], LONG_LOWERCASE_URI, 300).symbol.version == 6


def test_uppercase_is_alphanumeric_and_smaller() -> None:
    upper = encode_qr(sample_label().uri)
    lower = encode_qr(sample_label().uri.lower())
    assert (upper.mode, lower.mode) == ("alphanumeric", "byte")
    assert upper.version < lower.version


def test_error_level_validated() -> None:
    with pytest.raises(QRFitError) as info:
        encode_qr("X", "Z")
    assert str(info.value) == "QR error level: expected one of L, M, Q, H, found 'Z'"


def test_uri_too_long_for_any_version() -> None:
    with pytest.raises(QRFitError) as info:
        encode_qr("é" * 3000)
    assert str(info.value).startswith(
        "URI of 3000 characters: too long for any QR version at error level M in byte mode"
    )


def test_dpi_validated() -> None:
    with pytest.raises(LayoutError) as info:
        fit_qr(LAYOUTS["50x30"], "X", 72)
    assert str(info.value) == "dpi: expected an integer >= 100 or None for vector, found 72"


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"serial": ""}, "LabelData.serial: expected non-empty text, found ''"),
        ({"lot": 7}, "LabelData.lot: expected str, found int 7"),
        (
            {"packed_on": dt.datetime(2025, 10, 12, 8, 0)},
            "LabelData.packed_on: expected datetime.date, "
            "found datetime datetime.datetime(2025, 10, 12, 8, 0)",
        ),
        (
            {"producer": "合作社\n"},
            "LabelData.producer: expected printable text, found control character U+000A in '合作社\\n'",
        ),
        ({"brand": 5}, "LabelData.brand: expected str or None, found int"),
    ],
)
def test_label_data_rejects(changes: dict[str, object], message: str) -> None:
    with pytest.raises(LabelDataError) as info:
        sample_label(**changes)
    assert str(info.value) == message


def test_character_outside_font_refused() -> None:
    with pytest.raises(CharacterError) as info:
        compose(sample_label(producer="䶮农场"), LAYOUTS["50x30"])
    assert str(info.value) == (
        "producer '䶮农场': characters outside the label font (FTLabelSans-GB2312.ttf, "
        "ASCII + GB2312): '䶮' (U+4DAE)"
    )


def test_text_too_long_refused() -> None:
    with pytest.raises(TextFitError) as info:
        compose(sample_label(product_name="五华高山红薯" * 6), LAYOUTS["40x30"])
    assert str(info.value).startswith(
        "product '五华高山红薯五华高山红薯五华高山红薯五华高山红薯五华高山红薯五华高山红薯': "
        "does not fit its 20.0 x 4.1 mm box on 1 line(s) even at the minimum size 2.0 mm"
    )


def test_long_producer_shrinks_and_wraps_within_its_box() -> None:
    comp = compose(sample_label(), LAYOUTS["40x30"], dpi=203)
    producer = [r for r in comp.texts if r.field == "producer"]
    assert "".join(r.text for r in producer) == "五华县高山农业专业合作社"
    assert 1 <= len(producer) <= 2
    box = LAYOUTS["40x30"].label.producer.box
    assert all(box.y <= r.baseline_mm <= box.bottom for r in producer)


def test_date_never_split() -> None:
    comp = compose(sample_label(), LAYOUTS["40x30"], dpi=203)
    assert any("2025-10-12" in r.text for r in comp.texts)


def test_no_brand_keeps_its_room() -> None:
    with_brand = compose(sample_label(), LAYOUTS["50x30"])
    without = compose(sample_label(brand=None), LAYOUTS["50x30"])
    assert "brand" not in {r.field for r in without.texts}
    product = [r for r in with_brand.texts if r.field == "product"]
    assert product == [r for r in without.texts if r.field == "product"]
