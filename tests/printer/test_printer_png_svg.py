"""PNG and SVG renderers, read back: zxing-cpp decodes the QR; SVG is rasterised both by
parsing its QR path ourselves and, where cairosvg works, whole, and compared with the PNG."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image, ImageChops, ImageDraw
from printer_testkit import BRAND, PRODUCER, PRODUCT, decode_one, png_image, sample_label

from farmtrace.printer import LAYOUTS, render_png, render_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("dpi", [203, 300, 600])
def test_png_decodes(name: str, dpi: int) -> None:
    label = sample_label()
    image = png_image(render_png(label, LAYOUTS[name], dpi))
    assert image.mode == "1"
    assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.01)
    label_mm = LAYOUTS[name].label
    assert image.size == (round(label_mm.width_mm * dpi / 25.4), round(label_mm.height_mm * dpi / 25.4))
    found = decode_one(image)
    assert found.text == label.uri
    assert found.ec_level == "M"


def test_png_has_ink_in_every_text_box() -> None:
    dpi = 300
    image = png_image(render_png(sample_label(), LAYOUTS["50x30"], dpi)).convert("L")
    for field, box in LAYOUTS["50x30"].label.text_boxes().items():
        k = dpi / 25.4
        crop = image.crop(
            (int(box.box.x * k), int(box.box.y * k), int(box.box.right * k), int(box.box.bottom * k))
        )
        assert crop.getextrema()[0] == 0, f"no ink in {field}"


def _svg_qr_image(svg: bytes, px_per_mm: float) -> Image.Image:
    """Rasterise only the SVG's QR path (M x y h w v m h -w z runs), with no SVG library."""
    root = ET.fromstring(svg)
    width = float(root.get("width", "").removesuffix("mm"))
    height = float(root.get("height", "").removesuffix("mm"))
    image = Image.new("1", (round(width * px_per_mm), round(height * px_per_mm)), 1)
    draw = ImageDraw.Draw(image)
    path = next(p for p in root.iter(SVG + "path") if p.get("data-field") == "qr")
    pattern = r"M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z"
    runs = re.findall(pattern, path.get("d", ""))
    assert runs
    for x, y, w, h in runs:
        x0, y0 = float(x) * px_per_mm, float(y) * px_per_mm
        draw.rectangle(
            (
                round(x0),
                round(y0),
                round(x0 + float(w) * px_per_mm) - 1,
                round(y0 + float(h) * px_per_mm) - 1,
            ),
            fill=0,
        )
    return image


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_svg_qr_path_decodes(name: str) -> None:
    label = sample_label(7)
    svg = render_svg(label, LAYOUTS[name])
    assert decode_one(_svg_qr_image(svg, 12.0)).text == label.uri


def test_svg_carries_texts_and_no_font_dependency() -> None:
    svg = render_svg(sample_label(), LAYOUTS["60x40"])
    root = ET.fromstring(svg)
    labels = {g.get("data-field"): g.get("aria-label") for g in root.iter(SVG + "g") if g.get("data-field")}
    assert labels["product"] == PRODUCT
    assert labels["brand"] == BRAND
    assert labels["cta"] == "扫码溯源"
    assert labels["serial"] == "0K4S7ZQ3M9XW2PHT5C"
    assert "".join(v for k, v in labels.items() if k == "producer") in PRODUCER
    assert root.find(SVG + "title").text == sample_label().uri
    # Glyphs are outlines: no <text>, no font-family anywhere.
    assert b"<text" not in svg and b"font-family" not in svg
    assert root.get("width") == "60mm" and root.get("viewBox") == "0 0 60 40"


def _cairosvg():
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # cairocffi raises OSError without libcairo
        pytest.skip(f"cairosvg unavailable ({exc}); the SVG QR path is still checked above")
    return cairosvg


def test_svg_rasterised_whole_matches_png_text() -> None:
    cairosvg = _cairosvg()
    label = sample_label()
    dpi = 300
    svg_png = cairosvg.svg2png(bytestring=render_svg(label, LAYOUTS["50x30"]), dpi=dpi)
    svg_image = Image.open(io.BytesIO(svg_png)).convert("RGBA")
    flat = Image.new("RGBA", svg_image.size, "white")
    flat.alpha_composite(svg_image)
    svg_bw = flat.convert("L").point(lambda v: 0 if v < 128 else 255, mode="1")
    assert decode_one(svg_bw).text == label.uri
    ours = png_image(render_png(label, LAYOUTS["50x30"], dpi))
    assert svg_bw.size == ours.size
    # The text column is drawn from the same composition with the same font by two
    # different rasterisers (cairo, FreeType): their ink must coincide almost everywhere.
    k = dpi / 25.4
    col = LAYOUTS["50x30"].label.product.box
    region = (int(col.x * k), 0, ours.width, int(LAYOUTS["50x30"].label.serial.box.y * k))
    a, b = svg_bw.crop(region), ours.crop(region)
    ink_a = ImageChops.invert(a.convert("L")).getbbox()
    assert ink_a is not None
    assert _ink_iou(a, b) > 0.7
    # The measure can fail: the same text 3 px (0.25 mm) to the right already scores low.
    shifted = ImageChops.offset(ours, 3, 0).crop(region)
    assert _ink_iou(a, shifted) < 0.5


def _ink_iou(a: Image.Image, b: Image.Image) -> float:
    # Mode "1": 0 is ink, so OR keeps ink only where both have it, AND where either has.
    inter = ImageChops.logical_or(a, b).histogram()[0]
    union = ImageChops.logical_and(a, b).histogram()[0]
    return inter / union
