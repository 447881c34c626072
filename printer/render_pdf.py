"""PDF renderer: many labels, vector QR, embedded subset CJK font, streamed page by page.

Roll layouts give one page per label (page = label size, for a PDF-driven roll printer);
sheet layouts fill A4 pages row by row. Memory stays constant per page (see pdfwriter), so a
100,000-label run can be written straight to a file or a socket.

If a label fails to compose midway (text too long, character outside the font), the iterator
raises and the bytes already yielded are not a complete PDF: write to a temporary file and
rename on success (transports.spool does).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from farmtrace.printer.compose import Composition, compose
from farmtrace.printer.errors import RenderError
from farmtrace.printer.label import LabelData
from farmtrace.printer.labelfont import LabelFont, default_font
from farmtrace.printer.layouts import Layout
from farmtrace.printer.pdfwriter import PT_PER_MM, StreamingPDF, iter_document, pdf_num


def _label_ops(writer: StreamingPDF, comp: Composition, x_mm: float, y_mm: float) -> list[str]:
    """Operators drawing one composed label whose bottom-left is at (x_mm, y_mm) from the
    page's bottom-left."""
    h = comp.height_mm
    k = pdf_num(PT_PER_MM)
    ops = [f"q {k} 0 0 {k} {pdf_num(x_mm * PT_PER_MM)} {pdf_num(y_mm * PT_PER_MM)} cm"]
    qr = comp.qr
    m = pdf_num(qr.module_mm)
    # Module units with y pointing down, so each run is small integers: compact and fast.
    ops.append(f"q {m} 0 0 -{m} {pdf_num(qr.x_mm)} {pdf_num(h - qr.y_mm)} cm")
    ops.extend(f"{c} {r} {n} 1 re" for r, c, n in qr.symbol.dark_runs())
    ops.append("f Q")
    for run in comp.texts:
        ops.append(
            f"BT /F1 {pdf_num(run.size_mm)} Tf 1 0 0 1 {pdf_num(run.x_mm)} {pdf_num(h - run.baseline_mm)} Tm "
            f"{writer.show_text(run.text)} ET"
        )
    ops.append("Q")
    return ops


def _pages(
    writer: StreamingPDF, labels: Iterator[LabelData], layout: Layout, error: str, font: LabelFont
) -> Iterator[str]:
    geometry = layout.label
    while True:
        batch = list(itertools.islice(labels, layout.per_page))
        if not batch:
            return
        ops: list[str] = []
        for slot, label in enumerate(batch):
            comp = compose(label, layout, None, error, font)
            ox, oy = layout.label_origin(slot)
            ops.extend(_label_ops(writer, comp, ox, layout.page_height_mm - oy - geometry.height_mm))
        yield "\n".join(ops)


def iter_pdf(
    labels: Iterable[LabelData], layout: Layout, error: str = "M", title: str = ""
) -> Iterator[bytes]:
    """Yield a PDF document in chunks (header, one chunk per page, trailer)."""
    font = default_font()
    iterator = iter(labels)
    first = next(iterator, None)
    if first is None:
        raise RenderError("labels: expected at least one LabelData for a PDF, found none")
    writer = StreamingPDF(font, layout.page_width_mm, layout.page_height_mm, title)
    pages = _pages(writer, itertools.chain([first], iterator), layout, error, font)
    return iter_document(writer, pages)


def write_pdf(
    labels: Iterable[LabelData], layout: Layout, out: BinaryIO, error: str = "M", title: str = ""
) -> int:
    """Stream the PDF into a binary file object; return the number of bytes written."""
    written = 0
    for chunk in iter_pdf(labels, layout, error, title):
        out.write(chunk)
        written += len(chunk)
    return written


def render_pdf(labels: Iterable[LabelData], layout: Layout, error: str = "M", title: str = "") -> bytes:
    """The whole PDF as bytes (for small runs and tests; use iter_pdf/write_pdf for large)."""
    out = io.BytesIO()
    write_pdf(labels, layout, out, error, title)
    return out.getvalue()
