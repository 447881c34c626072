"""PNG renderer: one label as a 1-bit PNG at a printer resolution (the preview of what a
thermal printer prints; the same pixels the ZPL/TSPL bitmap modes send)."""

from __future__ import annotations

import io

from farmtrace.printer.label import LabelData
from farmtrace.printer.layouts import Layout
from farmtrace.printer.raster import rasterize


def render_png(label: LabelData, layout: Layout, dpi: int = 300, error: str = "M") -> bytes:
    """LabelData -> PNG bytes (1 bit per pixel, physical resolution recorded in pHYs)."""
    image = rasterize(label, layout, dpi, error)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=False)
    return out.getvalue()
