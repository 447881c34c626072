"""TSPL/TSPL2 renderer (TSC, and the Gprinter/Xprinter clones), native and bitmap modes.

Native mode (`render_tspl`): the printer draws the QR (QRCODE, model 2, automatic mode) and
the Chinese text with its resident 24 x 24-dot simplified-Chinese font TSS24.BF2, which takes
GB 2312 codes (sent as GB18030 bytes, the superset with the same two-byte codes). Text sizes
are whole multiples of the 24-dot font (12 dots per ASCII character), so text is re-fitted
here instead of taken from the vector composition; a character outside GB 2312 is refused
(use bitmap mode).

Bitmap mode (`render_tspl_bitmap`): the label rasterised by the shared rasteriser and sent as
one BITMAP command (mode 0, OVERWRITE; a 0 bit prints a dot).

Every label is a complete program (SIZE ... PRINT), so a transport can resume at any label
after reconnecting to a printer whose state it does not know. Output is bytes, lines end in
CR LF as in the TSPL manual's examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from PIL import Image

from farmtrace.printer.compose import break_lines, label_texts
from farmtrace.printer.errors import CharacterError, RenderError, TextFitError
from farmtrace.printer.label import LabelData
from farmtrace.printer.layouts import Layout, TextBox, fit_qr
from farmtrace.printer.raster import dots, rasterize

SUPPORTED_DPI = (203, 300)
RESIDENT_FONT = "TSS24.BF2"
_CELL = 24  # TSS24.BF2: 24 x 24 dots per hanzi, 12 x 24 per ASCII character
_MAX_MULTIPLIER = 10


def _check_dpi(dpi: int) -> None:
    if dpi not in SUPPORTED_DPI:
        raise RenderError(f"TSPL dpi: expected 203 or 300, found {dpi!r}")


def tspl_quote(text: str) -> str:
    """A TSPL string literal: the manual's escape for a double quote inside is \\["]."""
    return '"' + text.replace('"', '\\["]') + '"'


def _mm(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _setup(layout: Layout, gap_mm: float | None) -> list[bytes]:
    label = layout.label
    gap = gap_mm if gap_mm is not None else (layout.roll_gap_mm or 0.0)
    return [
        f"SIZE {_mm(label.width_mm)} mm,{_mm(label.height_mm)} mm".encode(),
        f"GAP {_mm(gap)} mm,0 mm".encode(),
        b"DIRECTION 1,0",
        b"REFERENCE 0,0",
        b"CLS",
    ]


def _char_width(ch: str) -> int:
    return _CELL // 2 if ord(ch) < 0x80 else _CELL


def _wrap_cells(text: str, multiplier: int, width_dots: int) -> list[str]:
    return break_lines(text, lambda line: sum(_char_width(c) for c in line) * multiplier <= width_dots)


def _in_resident_font(ch: str) -> bool:
    """ASCII, or a GB18030 two-byte code inside GB 2312's symbol rows (A1-A9) or hanzi rows
    (B0-F7). GB18030 rather than Python's gb2312 codec: the printer maps A1A4 to U+00B7 MIDDLE
    DOT as GB18030 does, where the codec says U+30FB."""
    try:
        code = ch.encode("gb18030")
    except UnicodeEncodeError:
        return False
    if len(code) == 1:
        return code[0] < 0x80
    return len(code) == 2 and (0xA1 <= code[0] <= 0xA9 or 0xB0 <= code[0] <= 0xF7) and 0xA1 <= code[1] <= 0xFE


def _check_gb2312(field: str, text: str) -> None:
    for ch in text:
        if not _in_resident_font(ch):
            raise CharacterError(
                f"{field} {text!r}: {ch!r} (U+{ord(ch):04X}) is not in GB 2312, so the resident "
                f"{RESIDENT_FONT} font cannot print it; use the TSPL bitmap mode"
            )


def _text(x: int, y: int, multiplier: int, line: str) -> bytes:
    return f"TEXT {x},{y},{tspl_quote(RESIDENT_FONT)},0,{multiplier},{multiplier},".encode() + tspl_quote(
        line
    ).encode("gb18030")


def _fit_lines(text: str, box: TextBox, dpi: int) -> tuple[int, list[str]]:
    """The largest whole multiplier up to the box's design size whose wrapped lines are no
    wider than the box (the resident font cannot shrink between multiples of 24 dots)."""
    width = dots(box.box.w, dpi)
    wanted = max(1, min(_MAX_MULTIPLIER, round(box.size_mm * dpi / 25.4 / _CELL)))
    for multiplier in range(wanted, 1, -1):
        lines = _wrap_cells(text, multiplier, width)
        if len(lines) <= box.max_lines:
            return multiplier, lines
    return 1, _wrap_cells(text, 1, width)


def _text_commands(label: LabelData, layout: Layout, dpi: int) -> list[bytes]:
    """Serial along the bottom, call to action under the QR, the rest stacked down the text
    column at the resident font's real line height (24 dots x multiplier)."""
    geometry = layout.label
    boxes = geometry.text_boxes()
    texts = label_texts(label)
    for field, text in texts.items():
        _check_gb2312(field, text)
    commands = []
    serial_top = dots(geometry.serial.box.bottom, dpi) - _CELL
    commands.append(_text(dots(geometry.serial.box.x, dpi), serial_top, 1, texts["serial"]))
    cta_box = geometry.cta
    multiplier, lines = _fit_lines(texts["cta"], cta_box, dpi)
    cta_width = sum(_char_width(c) for c in lines[0]) * multiplier
    cta_x = dots(cta_box.box.x, dpi) + max(0, (dots(cta_box.box.w, dpi) - cta_width) // 2)
    cta_y = min(dots(cta_box.box.y, dpi), serial_top - _CELL * multiplier)
    commands.append(_text(cta_x, cta_y, multiplier, lines[0]))
    y = dots(geometry.brand.box.y, dpi)
    for field in ("brand", "product", "lot", "packed", "producer"):
        if not texts[field]:
            y += _CELL  # keep the brand's room so every label of a run has the same layout
            continue
        box = boxes[field]
        multiplier, lines = _fit_lines(texts[field], box, dpi)
        for line in lines:
            commands.append(_text(dots(box.box.x, dpi), y, multiplier, line))
            y += _CELL * multiplier
    if y > serial_top:
        raise TextFitError(
            f"label texts on layout {layout.name!r} at {dpi} dpi: the {RESIDENT_FONT} lines need "
            f"{y - dots(geometry.brand.box.y, dpi)} dots of the text column, it has "
            f"{serial_top - dots(geometry.brand.box.y, dpi)}; use the TSPL bitmap mode"
        )
    return commands


def render_tspl(
    label: LabelData,
    layout: Layout,
    dpi: int = 203,
    error: str = "M",
    gap_mm: float | None = None,
) -> bytes:
    """One label as a native TSPL program (GB18030 bytes for the Chinese text)."""
    _check_dpi(dpi)
    qr = fit_qr(layout, label.uri, dpi, error)
    lines = _setup(layout, gap_mm)
    # QRCODE x,y,ECC,cell width,mode A(uto),rotation 0,model M2,mask S7,"content".
    lines.append(
        f"QRCODE {dots(qr.x_mm, dpi)},{dots(qr.y_mm, dpi)},{error},{qr.module_dots},A,0,M2,S7,".encode()
        + tspl_quote(qr.symbol.data).encode("utf-8")
    )
    lines.extend(_text_commands(label, layout, dpi))
    lines.append(b"PRINT 1,1")
    return b"\r\n".join(lines) + b"\r\n"


def render_tspl_bitmap(
    label: LabelData,
    layout: Layout,
    dpi: int = 203,
    error: str = "M",
    gap_mm: float | None = None,
) -> bytes:
    """One label rasterised into a single BITMAP command."""
    _check_dpi(dpi)
    image = rasterize(label, layout, dpi, error)
    width, height = image.size
    row_bytes = (width + 7) // 8
    if width % 8:
        # Pad with white: TSPL prints 0 bits, and Pillow pads rows with 0 bits.
        padded = Image.new("1", (row_bytes * 8, height), 1)
        padded.paste(image, (0, 0))
        image = padded
    data = image.tobytes()  # mode "1": 1 = white, 0 = ink, which is TSPL's convention
    lines = _setup(layout, gap_mm)
    lines.append(f"BITMAP 0,0,{row_bytes},{height},0,".encode() + data)
    lines.append(b"PRINT 1,1")
    return b"\r\n".join(lines) + b"\r\n"


def iter_tspl(
    labels: Iterable[LabelData],
    layout: Layout,
    dpi: int = 203,
    error: str = "M",
    bitmap: bool = False,
    gap_mm: float | None = None,
) -> Iterator[bytes]:
    """One complete program per label, in order (what PrintJob consumes)."""
    render = render_tspl_bitmap if bitmap else render_tspl
    for label in labels:
        yield render(label, layout, dpi, error, gap_mm)
