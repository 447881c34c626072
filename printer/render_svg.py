"""SVG renderer: one label, vector, with text as glyph outlines.

Text is drawn as paths from the label font (not <text>), so the SVG looks the same on a
machine without any Chinese font; each text run's group carries the text in `aria-label` for
search and accessibility. Units are millimetres (viewBox in mm, width/height in mm).
"""

from __future__ import annotations

import functools
from xml.sax.saxutils import quoteattr

from fontTools.pens.svgPathPen import SVGPathPen
from fontTools.ttLib import TTFont

from farmtrace.printer.compose import Composition, compose
from farmtrace.printer.label import LabelData
from farmtrace.printer.labelfont import LabelFont, default_font
from farmtrace.printer.layouts import Layout


@functools.lru_cache(maxsize=8192)
def _glyph_path(gid: int) -> str:
    font = _font_file()
    name = font.getGlyphOrder()[gid]
    pen = SVGPathPen(font.getGlyphSet())
    font.getGlyphSet()[name].draw(pen)
    return pen.getCommands()


@functools.cache
def _font_file() -> TTFont:
    return TTFont(str(default_font().path), lazy=True)


def _num(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def svg_from_composition(comp: Composition, font: LabelFont) -> str:
    qr = comp.qr
    m = qr.module_mm
    qr_path = "".join(
        f"M{_num(qr.x_mm + c * m)} {_num(qr.y_mm + r * m)}h{_num(n * m)}v{_num(m)}h{_num(-n * m)}z"
        for r, c, n in qr.symbol.dark_runs()
    )
    used: dict[int, None] = {}
    runs = []
    for run in comp.texts:
        scale = run.size_mm / font.units_per_em
        x = run.x_mm
        uses = []
        for gid in font.glyph_ids(run.text):
            if _glyph_path(gid):
                used[gid] = None
                uses.append(
                    f'<use href="#g{gid}" transform="translate({_num(x)} {_num(run.baseline_mm)})'
                    f' scale({_num(scale)} {_num(-scale)})"/>'
                )
            x += font.advances[gid] * scale
        runs.append(f'<g data-field="{run.field}" aria-label={quoteattr(run.text)}>{"".join(uses)}</g>')
    defs = "".join(f'<path id="g{gid}" d="{_glyph_path(gid)}"/>' for gid in used)
    w, h = _num(comp.width_mm), _num(comp.height_mm)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" '
        f'viewBox="0 0 {w} {h}">'
        f"<title>{_escape(qr.symbol.data)}</title>"
        f"<defs>{defs}</defs>"
        f'<rect width="{w}" height="{h}" fill="#fff"/>'
        f'<path data-field="qr" fill="#000" d="{qr_path}"/>'
        f'<g fill="#000">{"".join(runs)}</g>'
        "</svg>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_svg(label: LabelData, layout: Layout, error: str = "M") -> bytes:
    """LabelData -> SVG document bytes (UTF-8), vector QR at the vector module rule."""
    font = default_font()
    return svg_from_composition(compose(label, layout, None, error, font), font).encode()
