"""The shared rasteriser: a composed label -> a 1-bit Pillow image at a printer resolution.

Used by the PNG renderer and by the ZPL ^GFA and TSPL BITMAP modes, so a label printed as a
bitmap on a printer without a Chinese font is the same picture as the PNG preview.
"""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw, ImageFont

from farmtrace.printer.compose import Composition, compose
from farmtrace.printer.label import LabelData
from farmtrace.printer.labelfont import FONT_PATH
from farmtrace.printer.layouts import MM_PER_INCH, Layout

# Anti-aliased coverage above this is printed: 50 % keeps stroke weight as designed.
_INK_THRESHOLD = 128


@functools.lru_cache(maxsize=64)
def _pil_font(size_px: float) -> ImageFont.FreeTypeFont:
    # A fractional size keeps advances equal to the layout's (font-unit) measurements.
    return ImageFont.truetype(str(FONT_PATH), size=size_px)


def dots(mm: float, dpi: int) -> int:
    return round(mm * dpi / MM_PER_INCH)


def rasterize_composition(comp: Composition, dpi: int) -> Image.Image:
    """Draw `comp` (composed at this dpi) on a white 1-bit image, label size in dots."""
    width, height = dots(comp.width_mm, dpi), dots(comp.height_mm, dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for run in comp.texts:
        size_px = max(1.0, round(run.size_mm * dpi / MM_PER_INCH, 2))
        draw.text(
            (run.x_mm * dpi / MM_PER_INCH, run.baseline_mm * dpi / MM_PER_INCH),
            run.text,
            font=_pil_font(size_px),
            fill=0,
            anchor="ls",
        )
    image = image.point(lambda v: 0 if v < _INK_THRESHOLD else 255, mode="1")
    qr = comp.qr
    k = qr.module_dots
    if k is None:
        raise ValueError("rasterize_composition needs a composition made at a dpi")
    x0, y0 = dots(qr.x_mm, dpi), dots(qr.y_mm, dpi)
    draw = ImageDraw.Draw(image)
    for row, col, length in qr.symbol.dark_runs():
        x = x0 + col * k
        y = y0 + row * k
        draw.rectangle((x, y, x + length * k - 1, y + k - 1), fill=0)
    return image


def rasterize(label: LabelData, layout: Layout, dpi: int, error: str = "M") -> Image.Image:
    """LabelData -> 1-bit image of one label at `dpi` (mode "1", 0 = ink)."""
    return rasterize_composition(compose(label, layout, dpi=dpi, error=error), dpi)
