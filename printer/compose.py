"""Place one label's content on a layout: the step every renderer shares.

`compose` turns LabelData + Layout into positioned text runs and a placed QR, in mm, so that
PDF, SVG, PNG and the bitmap modes draw exactly the same thing. Renderers only draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from farmtrace.printer.errors import TextFitError
from farmtrace.printer.label import LabelData
from farmtrace.printer.labelfont import LabelFont, default_font
from farmtrace.printer.layouts import Layout, QRFit, TextBox, fit_qr

CALL_TO_ACTION = "扫码溯源"
LOT_PREFIX = "批次 "
PACKED_PREFIX = "包装日期 "
_SHRINK_STEP = 0.9


@dataclass(frozen=True)
class TextRun:
    """One line of text: `x_mm` is its left edge, `baseline_mm` its baseline, both from the
    label's top-left; `field` names the LabelData field it came from."""

    field: str
    text: str
    x_mm: float
    baseline_mm: float
    size_mm: float


@dataclass(frozen=True)
class Composition:
    width_mm: float
    height_mm: float
    qr: QRFit
    texts: tuple[TextRun, ...]


def label_texts(label: LabelData) -> dict[str, str]:
    """What each text box shows, before fitting (empty strings are not drawn)."""
    return {
        "brand": label.brand or "",
        "product": label.product_name,
        "lot": LOT_PREFIX + label.lot,
        "packed": PACKED_PREFIX + label.packed_on_text,
        "producer": label.producer,
        "cta": CALL_TO_ACTION,
        "serial": label.serial,
    }


def wrap(font: LabelFont, text: str, size_mm: float, width_mm: float) -> list[str]:
    """Break `text` into lines no wider than `width_mm`.

    Chinese breaks between any two characters; where the overflowing line has a space the
    break goes there instead, so "包装日期 2025-10-12" never splits its date.
    """
    return break_lines(text, lambda line: font.advance_em(line) * size_mm <= width_mm + 1e-9)


def break_lines(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Greedy line breaking shared by every renderer (`fits` measures one line)."""
    lines: list[str] = []
    current = ""
    for ch in text:
        candidate = current + ch
        if current and not fits(candidate):
            space = current.rfind(" ")
            if space > 0:
                lines.append(current[:space])
                current = (current[space + 1 :] + ch).lstrip()
            else:
                lines.append(current.rstrip())
                current = ch.lstrip()
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def fit_text(
    font: LabelFont, field: str, text: str, box: TextBox, line_height: float = 1.25
) -> tuple[float, list[str]]:
    """The largest size (down to the box's minimum) at which `text` fits, and its lines."""
    size = box.size_mm
    while True:
        lines = wrap(font, text, size, box.box.w)
        if len(lines) <= box.max_lines and len(lines) * size * line_height <= box.box.h + 1e-6:
            return size, lines
        if size <= box.min_size_mm + 1e-9:
            break
        size = max(box.min_size_mm, size * _SHRINK_STEP)
    needed = font.advance_em(text) * box.min_size_mm
    raise TextFitError(
        f"{field} {text!r}: does not fit its {box.box.w:.1f} x {box.box.h:.1f} mm box on "
        f"{box.max_lines} line(s) even at the minimum size {box.min_size_mm:.1f} mm "
        f"(needs {needed:.1f} mm of line width)"
    )


def compose(
    label: LabelData,
    layout: Layout,
    dpi: int | None = None,
    error: str = "M",
    font: LabelFont | None = None,
) -> Composition:
    """Fit the QR and every text of `label` on `layout` (raises LayoutError subclasses or
    CharacterError; never draws a clipped or tofu label)."""
    font = font or default_font()
    geometry = layout.label
    boxes = geometry.text_boxes()
    texts = label_texts(label)
    for field, text in texts.items():
        font.check_covers(field, text)
    qr = fit_qr(layout, label.uri, dpi, error)
    runs: list[TextRun] = []
    for field, text in texts.items():
        if not text:
            continue
        box = boxes[field]
        size, lines = fit_text(font, field, text, box)
        line_h = size * 1.25
        # Centre the block of lines vertically in the box; the baseline sits at the em box's
        # bottom less the descender (0.12 em for this font family's typo metrics).
        top = box.box.y + (box.box.h - line_h * len(lines)) / 2
        for i, line in enumerate(lines):
            width = font.advance_em(line) * size
            x = box.box.x if box.align == "left" else box.box.x + (box.box.w - width) / 2
            baseline = top + i * line_h + (line_h - size) / 2 + size * 0.88
            runs.append(TextRun(field, line, x, baseline, size))
    return Composition(geometry.width_mm, geometry.height_mm, qr, tuple(runs))
