"""farmtrace.printer: QR label layouts, renderers (PDF, PNG, SVG, ZPL II, TSPL) and printer
transports. It renders what it is given: no database, no Flask (docs/printing.md)."""

from farmtrace.printer.errors import (
    CharacterError,
    LabelDataError,
    LayoutError,
    PrinterError,
    QRFitError,
    RenderError,
    TextFitError,
    TransportError,
)
from farmtrace.printer.label import LabelData
from farmtrace.printer.layouts import LAYOUTS, Layout, QRFit, fit_qr, get_layout
from farmtrace.printer.raster import rasterize
from farmtrace.printer.render_pdf import iter_pdf, render_pdf, write_pdf
from farmtrace.printer.render_png import render_png
from farmtrace.printer.render_svg import render_svg
from farmtrace.printer.render_tspl import iter_tspl, render_tspl, render_tspl_bitmap
from farmtrace.printer.render_zpl import iter_zpl, render_zpl, render_zpl_bitmap, zpl_font_download

__all__ = [
    "LAYOUTS",
    "CharacterError",
    "LabelData",
    "LabelDataError",
    "Layout",
    "LayoutError",
    "PrinterError",
    "QRFit",
    "QRFitError",
    "RenderError",
    "TextFitError",
    "TransportError",
    "fit_qr",
    "get_layout",
    "iter_pdf",
    "iter_tspl",
    "iter_zpl",
    "rasterize",
    "render_pdf",
    "render_png",
    "render_svg",
    "render_tspl",
    "render_tspl_bitmap",
    "render_zpl",
    "render_zpl_bitmap",
    "write_pdf",
    "zpl_font_download",
]
