"""Label layouts in millimetres, and the QR fitting rule.

Coordinates are millimetres from the label's top-left corner. A layout is one label geometry
plus how labels sit on the media: a roll (one label per page, `roll_gap_mm` of liner between
labels) or an A4 sheet of die-cut labels (columns x rows, margins and gaps).

QR module size (the rule `fit_qr` enforces):
- thermal printers place whole dots, so a module is a whole number of dots, at least 3 dots at
  203 dpi (0.375 mm) and 4 dots at 300 dpi (0.339 mm), 8 at 600 dpi; below that a worn head or
  a slightly burnt ribbon closes the gaps between modules and phones stop reading the code.
- vector output (PDF, SVG: `dpi=None`) is printed by shops on laser/offset at unknown
  resolution: a module is at least MIN_VECTOR_MODULE_MM = 0.375 mm, the 203-dpi figure, the
  same physical size the thermal stations print.
- other raster resolutions (PNG at e.g. 600 dpi) use ceil(0.339 mm x dpi / 25.4) dots.
- the quiet zone is 4 modules on every side (ISO/IEC 18004:2015 §9.1) and lies inside the QR
  box, so no text and no label edge comes closer to the symbol than that.
- error correction defaults to M (15 % of codewords recoverable): a label on a sack of sweet
  potatoes is rubbed, wetted and scuffed in the cold chain, and thermal heads lose dots in whole
  columns, so L (7 %) is too fragile; Q or H would raise the QR version for the same URI and
  shrink modules on a 30 mm label below the reliable size. No logo is overlaid, so H's reserve
  is not needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from farmtrace.printer.errors import LayoutError, QRFitError
from farmtrace.printer.qr import QRSymbol, encode_qr

MM_PER_INCH = 25.4
MIN_VECTOR_MODULE_MM = 0.375
MIN_MODULE_DOTS = {203: 3, 300: 4, 600: 8}
MAX_MODULE_DOTS = 10  # ZPL ^BQ magnification and TSPL QRCODE cell width both stop at 10
_OTHER_DPI_MIN_MODULE_MM = 0.339


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: Box) -> bool:
        eps = 1e-9
        return not (
            self.right <= other.x + eps
            or other.right <= self.x + eps
            or self.bottom <= other.y + eps
            or other.bottom <= self.y + eps
        )


@dataclass(frozen=True)
class TextBox:
    """Where a text field goes: `size_mm` is the font size (em), shrunk down to
    `min_size_mm` and wrapped onto up to `max_lines` lines when the text is too wide."""

    box: Box
    size_mm: float
    min_size_mm: float
    max_lines: int = 1
    align: str = "left"  # "left" or "center"


@dataclass(frozen=True)
class LabelGeometry:
    width_mm: float
    height_mm: float
    qr: Box
    cta: TextBox
    serial: TextBox
    brand: TextBox
    product: TextBox
    lot: TextBox
    packed: TextBox
    producer: TextBox

    def text_boxes(self) -> dict[str, TextBox]:
        return {
            "cta": self.cta,
            "serial": self.serial,
            "brand": self.brand,
            "product": self.product,
            "lot": self.lot,
            "packed": self.packed,
            "producer": self.producer,
        }


@dataclass(frozen=True)
class Layout:
    name: str
    label: LabelGeometry
    page_width_mm: float
    page_height_mm: float
    columns: int = 1
    rows: int = 1
    margin_left_mm: float = 0.0
    margin_top_mm: float = 0.0
    gap_x_mm: float = 0.0
    gap_y_mm: float = 0.0
    roll_gap_mm: float | None = None  # liner between roll labels; None for sheets

    @property
    def is_roll(self) -> bool:
        return self.roll_gap_mm is not None

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def label_origin(self, slot: int) -> tuple[float, float]:
        """Top-left corner (mm from the page's top-left) of label `slot` (row-major)."""
        row, column = divmod(slot, self.columns)
        return (
            self.margin_left_mm + column * (self.label.width_mm + self.gap_x_mm),
            self.margin_top_mm + row * (self.label.height_mm + self.gap_y_mm),
        )


def _geometry(w: float, h: float, pad: float, qr: float, scale: float) -> LabelGeometry:
    """The standard arrangement: QR top-left with the call to action under it, the serial
    along the bottom, and brand / product / lot / date / producer stacked on the right."""
    line = 1.25  # line height as a multiple of the font size
    serial_size = 0.95 * scale
    serial_h = serial_size * line
    # The call to action takes what is left between the QR box and the serial line.
    cta_size = min(0.14 * qr, (h - pad - serial_h - (pad + qr)) / line)
    cta = TextBox(Box(pad, pad + qr, qr, cta_size * line), cta_size, 2.0, align="center")
    serial = TextBox(Box(pad, h - pad - serial_h, w - 2 * pad, serial_h), serial_size, 1.6)
    x = pad + qr + 1.0
    tw = w - pad - x
    y = pad
    boxes = {}
    for field, size, lines in (
        ("brand", scale, 1),
        ("product", 1.5 * scale, 1),
        ("lot", scale, 1),
        ("packed", scale, 1),
        ("producer", scale, 2),
    ):
        height = size * line * lines
        boxes[field] = TextBox(Box(x, y, tw, height), size, min(size, 2.0), max_lines=lines)
        y += height
    return LabelGeometry(width_mm=w, height_mm=h, qr=Box(pad, pad, qr, qr), cta=cta, serial=serial, **boxes)


def _roll(name: str, w: float, h: float, pad: float, qr: float, scale: float) -> Layout:
    return Layout(
        name=name,
        label=_geometry(w, h, pad, qr, scale),
        page_width_mm=w,
        page_height_mm=h,
        roll_gap_mm=2.0,
    )


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        _roll("40x30", 40, 30, 1.0, 17.0, 2.2),
        _roll("50x30", 50, 30, 1.0, 21.0, 2.4),
        _roll("60x40", 60, 40, 1.5, 28.0, 2.8),
        _roll("70x50", 70, 50, 2.0, 36.0, 3.2),
        # 24 labels of 70 x 36 mm, no gaps, 4.5 mm top and bottom margins (Avery 3475 format).
        Layout(
            name="a4-3x8",
            label=_geometry(70, 36, 2.0, 24.0, 2.8),
            page_width_mm=210,
            page_height_mm=297,
            columns=3,
            rows=8,
            margin_top_mm=4.5,
        ),
        # 40 labels of 48.5 x 25.4 mm, no gaps, 8 mm side and 21.5 mm top margins (Avery 3657).
        Layout(
            name="a4-4x10",
            label=_geometry(48.5, 25.4, 1.5, 16.0, 2.2),
            page_width_mm=210,
            page_height_mm=297,
            columns=4,
            rows=10,
            margin_left_mm=8.0,
            margin_top_mm=21.5,
        ),
    )
}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"layout {name!r}: expected one of {', '.join(sorted(LAYOUTS))}") from None


@dataclass(frozen=True)
class QRFit:
    """A QR placed on a layout: `x_mm`, `y_mm` is the top-left of the first module (the
    quiet zone lies outside it, inside the QR box)."""

    layout: str
    symbol: QRSymbol
    dpi: int | None
    module_mm: float
    module_dots: int | None
    x_mm: float
    y_mm: float

    @property
    def symbol_mm(self) -> float:
        """Side of the symbol without the quiet zone."""
        return self.symbol.size * self.module_mm


def min_module_dots(dpi: int) -> int:
    if dpi in MIN_MODULE_DOTS:
        return MIN_MODULE_DOTS[dpi]
    return math.ceil(_OTHER_DPI_MIN_MODULE_MM * dpi / MM_PER_INCH - 1e-9)


def fit_qr(layout: Layout, uri: str, dpi: int | None = None, error: str = "M") -> QRFit:
    """Place the QR for `uri` in the layout's QR box at the largest reliable module size.

    Raises QRFitError naming the layout, URI length, QR version and needed vs available mm
    when even the smallest reliable module does not fit.
    """
    if dpi is not None and (not isinstance(dpi, int) or dpi < 100):
        raise LayoutError(f"dpi: expected an integer >= 100 or None for vector, found {dpi!r}")
    symbol = encode_qr(uri, error)
    box = layout.label.qr
    side = min(box.w, box.h)
    modules = symbol.size_with_quiet_zone
    if dpi is None:
        min_mm = MIN_VECTOR_MODULE_MM
        module_mm = side / modules
        module_dots = None
        rule = f"vector output needs modules >= {MIN_VECTOR_MODULE_MM} mm"
    else:
        dots_per_mm = dpi / MM_PER_INCH
        min_dots = min_module_dots(dpi)
        min_mm = min_dots / dots_per_mm
        # Floor of the box in whole dots: a module is a whole number of dots.
        module_dots = min(MAX_MODULE_DOTS, int(side * dots_per_mm + 1e-6) // modules)
        module_mm = module_dots / dots_per_mm
        rule = f"at {dpi} dpi a module must be >= {min_dots} dots ({min_mm:.3f} mm)"
    if module_mm + 1e-9 < min_mm:
        raise QRFitError(
            f"layout {layout.name!r} cannot hold the QR for a URI of {len(uri)} characters: "
            f"it needs QR version {symbol.version} ({symbol.size} modules + 8 quiet-zone "
            f"modules) at error level {error} in {symbol.mode} mode; {rule}, so the QR needs "
            f"{modules * min_mm:.2f} mm but the layout's QR box is {side:.2f} mm. Use a larger "
            "layout, a shorter URI (uppercase encodes in alphanumeric mode) or a lower error level"
        )
    offset = (side - modules * module_mm) / 2 + 4 * module_mm
    x, y = box.x + offset, box.y + offset
    if dpi is not None:
        # Snap to the dot grid so every module covers exactly module_dots x module_dots dots.
        dots_per_mm = dpi / MM_PER_INCH
        x = math.floor(x * dots_per_mm) / dots_per_mm
        y = math.floor(y * dots_per_mm) / dots_per_mm
    return QRFit(layout.name, symbol, dpi, module_mm, module_dots, x, y)
