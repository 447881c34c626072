"""ZPL II renderer (Zebra), native and bitmap modes, 203 and 300 dpi.

Native mode (`render_zpl`): the printer draws the QR itself (^BQN model 2, magnification =
module dots from fit_qr) and the text with a TrueType font stored on the printer (^A@ with
`font_ref`, UTF-8 via ^CI28, every non-ASCII or command byte hex-escaped via ^FH so the format
is plain ASCII). Send `zpl_font_download()` once per printer (or per job with `characters=`)
to store the font; ^CI28 needs firmware V60.14 / X.14 or later.

Bitmap mode (`render_zpl_bitmap`): the whole label rasterised by the shared rasteriser and sent
as one ^GFA graphic, compressed as Z64 (zlib + base64, firmware V60.13+) or as ZPL's ASCII
compression ("hex"); it prints identically on printers without a Chinese font.

Each label is one ^XA...^XZ format, so a transport can count, confirm and resume labels.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Iterable, Iterator

from fontTools import subset
from fontTools.ttLib import TTFont
from PIL import ImageChops

from farmtrace.printer.compose import compose
from farmtrace.printer.errors import RenderError
from farmtrace.printer.label import LabelData
from farmtrace.printer.labelfont import LabelFont, default_font
from farmtrace.printer.layouts import MM_PER_INCH, Layout
from farmtrace.printer.raster import dots, rasterize

SUPPORTED_DPI = (203, 300)
DEFAULT_FONT_REF = "E:FTSANSGB.TTF"
_FH_SAFE = frozenset(range(0x20, 0x7F)) - {ord("^"), ord("~"), ord("_")}


def _check_dpi(dpi: int) -> None:
    if dpi not in SUPPORTED_DPI:
        raise RenderError(f"ZPL dpi: expected 203 or 300, found {dpi!r}")


def zpl_field_hex(text: str) -> str:
    """Field data for ^FH (underscore escape): UTF-8, with every byte that is not printable
    ASCII, and the command prefixes ^ ~ and the escape _ itself, written as _XX."""
    return "".join(chr(b) if b in _FH_SAFE else f"_{b:02X}" for b in text.encode("utf-8"))


def _label_zpl(label: LabelData, layout: Layout, dpi: int, error: str, font_ref: str) -> str:
    comp = compose(label, layout, dpi=dpi, error=error)
    qr = comp.qr
    parts = [
        "^XA",
        "^CI28",
        f"^PW{dots(comp.width_mm, dpi)}",
        f"^LL{dots(comp.height_mm, dpi)}",
        "^LH0,0",
        # ^BQ model 2, magnification = module size in dots; the field data names the error
        # level and automatic mode selection ("MA,"), as ZPL II ^BQ specifies.
        f"^FO{dots(qr.x_mm, dpi)},{dots(qr.y_mm, dpi)}^BQN,2,{qr.module_dots}"
        f"^FH^FD{error}A,{zpl_field_hex(qr.symbol.data)}^FS",
    ]
    for run in comp.texts:
        size = max(10, round(run.size_mm * dpi / MM_PER_INCH))  # scalable fonts: >= 10 dots
        parts.append(
            f"^FT{dots(run.x_mm, dpi)},{dots(run.baseline_mm, dpi)}"
            f"^A@N,{size},{size},{font_ref}^FH^FD{zpl_field_hex(run.text)}^FS"
        )
    parts += ["^XZ", ""]
    return "\n".join(parts)


def render_zpl(
    label: LabelData,
    layout: Layout,
    dpi: int = 203,
    error: str = "M",
    font_ref: str = DEFAULT_FONT_REF,
) -> bytes:
    """One label as a native ZPL II format (ASCII bytes)."""
    _check_dpi(dpi)
    return _label_zpl(label, layout, dpi, error, font_ref).encode("ascii")


def iter_zpl(
    labels: Iterable[LabelData],
    layout: Layout,
    dpi: int = 203,
    error: str = "M",
    font_ref: str = DEFAULT_FONT_REF,
    bitmap: bool = False,
) -> Iterator[bytes]:
    """One chunk per label, in order (what PrintJob consumes)."""
    for label in labels:
        if bitmap:
            yield render_zpl_bitmap(label, layout, dpi, error)
        else:
            yield render_zpl(label, layout, dpi, error, font_ref)


def zpl_font_download(
    font_ref: str = DEFAULT_FONT_REF,
    characters: str | None = None,
    encoding: str = "binary",
    font: LabelFont | None = None,
) -> bytes:
    """~DY command storing the label font on the printer as `font_ref` (e.g. E:FTSANSGB.TTF).

    With `characters`, only those glyphs (plus ASCII) are sent: a few kilobytes per job instead
    of 2 MB once. `encoding` "binary" (format B) or "hex" (format A, ASCII hex, 7-bit safe).
    """
    device, _, filename = font_ref.partition(":")
    name, _, extension = filename.rpartition(".")
    if not device or not name or extension.upper() != "TTF":
        raise RenderError(f"font_ref: expected 'D:NAME.TTF' (e.g. 'E:FTSANSGB.TTF'), found {font_ref!r}")
    font = font or default_font()
    data = font.font_bytes() if characters is None else _subset_font(font, characters)
    if encoding == "binary":
        # Exactly `len(data)` bytes follow; nothing after them (a parser counting bytes would
        # read a trailing newline as part of the font).
        return f"~DY{device}:{name},B,T,{len(data)},,".encode("ascii") + data
    if encoding == "hex":
        return f"~DY{device}:{name},A,T,{len(data)},,{data.hex().upper()}\n".encode("ascii")
    raise RenderError(f"encoding: expected 'binary' or 'hex', found {encoding!r}")


def _subset_font(font: LabelFont, characters: str) -> bytes:
    font.check_covers("characters", characters)
    tt = TTFont(str(font.path), recalcTimestamp=False)  # deterministic output
    options = subset.Options()
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(chr(c) for c in range(0x20, 0x7F)) + characters)
    subsetter.subset(tt)
    out = io.BytesIO()
    tt.save(out)
    return out.getvalue()


# -- bitmap mode -----------------------------------------------------------------------------


def render_zpl_bitmap(
    label: LabelData, layout: Layout, dpi: int = 203, error: str = "M", compression: str = "z64"
) -> bytes:
    """One label rasterised into a single ^GFA graphic."""
    _check_dpi(dpi)
    image = rasterize(label, layout, dpi, error)
    width, height = image.size
    row_bytes = (width + 7) // 8
    # Pillow's mode "1" stores 1 for white; ZPL graphics use 1 for a printed dot.
    data = ImageChops.invert(image).tobytes()
    total = len(data)
    if compression == "z64":
        payload = zpl_z64(data)
    elif compression == "hex":
        payload = zpl_ascii_compress(data, row_bytes)
    else:
        raise RenderError(f"compression: expected 'z64' or 'hex', found {compression!r}")
    return (
        f"^XA\n^PW{width}\n^LL{height}\n^LH0,0\n^FO0,0^GFA,{total},{total},{row_bytes},{payload}^FS\n^XZ\n"
    ).encode("ascii")


def zpl_z64(data: bytes) -> str:
    """ZPL II Z64 graphic encoding: ':Z64:' + base64(zlib deflate) + ':' + CRC-16 (CCITT,
    initial 0, as 4 hex digits) of the base64 text."""
    encoded = base64.b64encode(zlib.compress(data, 9))
    return f":Z64:{encoded.decode('ascii')}:{binascii.crc_hqx(encoded, 0):04X}"


_COUNTS_LOW = "GHIJKLMNOPQRSTUVWXY"  # 1..19
_COUNTS_HIGH = "ghijklmnopqrstuvwxyz"  # 20, 40, ..., 400


def _repeat_count(n: int) -> str:
    out = ""
    while n >= 400:
        out += "z"
        n -= 400
    if n >= 20:
        out += _COUNTS_HIGH[n // 20 - 1]
        n %= 20
    if n:
        out += _COUNTS_LOW[n - 1]
    return out


def zpl_ascii_compress(data: bytes, row_bytes: int) -> str:
    """ZPL II ^GF ASCII-hex compression: repeat counts (G-Y = 1-19, g-z = 20-400) before a
    hex digit, ',' fills the rest of a row with 0, ':' repeats the previous row."""
    rows = []
    previous = None
    for start in range(0, len(data), row_bytes):
        row = data[start : start + row_bytes].hex().upper()
        if row == previous:
            rows.append(":")
            continue
        previous = row
        stripped = row.rstrip("0")
        tail = "," if len(stripped) < len(row) else ""
        encoded = []
        i = 0
        while i < len(stripped):
            j = i
            while j < len(stripped) and stripped[j] == stripped[i]:
                j += 1
            run = j - i
            encoded.append(stripped[i] if run == 1 else _repeat_count(run) + stripped[i])
            i = j
        rows.append("".join(encoded) + tail)
    return "".join(rows)


__all__ = [
    "DEFAULT_FONT_REF",
    "iter_zpl",
    "render_zpl",
    "render_zpl_bitmap",
    "zpl_ascii_compress",
    "zpl_field_hex",
    "zpl_font_download",
    "zpl_z64",
]
