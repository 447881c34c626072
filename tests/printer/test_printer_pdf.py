"""PDF renderer: read back with poppler (pdftoppm, pdftotext, pdffonts) and zxing-cpp."""

from __future__ import annotations

import itertools
import re
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from printer_testkit import (
    BRAND,
    PRODUCER,
    PRODUCT,
    pdf_pages_to_images,
    pdf_text,
    require_tool,
    sample_label,
)

from farmtrace.printer import LAYOUTS, RenderError, iter_pdf, render_pdf, write_pdf
from farmtrace.printer.labelfont import default_font
from farmtrace.printer.pdfwriter import StreamingPDF


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_sheet_every_qr_decodes_to_its_uri(tmp_path: Path) -> None:
    labels = [sample_label(i) for i in range(30)]  # 24 on page 1, 6 on page 2
    pdf = _write(tmp_path, "sheet.pdf", render_pdf(labels, LAYOUTS["a4-3x8"], title="批次 LOT1"))
    pages = pdf_pages_to_images(pdf, dpi=300, first=1, last=2)
    assert len(pages) == 2
    found = [t for page in pages for t in _decode(page)]
    assert sorted(found) == sorted(label.uri for label in labels)


def _pdfinfo(pdf: Path) -> tuple[int, tuple[float, float]]:
    require_tool("pdfinfo")
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = re.search(r"^Pages:\s+(\d+)$", info, re.M)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.M)
    assert pages and size, info
    return int(pages.group(1)), (float(size.group(1)), float(size.group(2)))


def _decode(image):
    from printer_testkit import decode_all

    return decode_all(image)


def test_sheet_text_is_extractable_chinese(tmp_path: Path) -> None:
    pdf = _write(tmp_path, "sheet.pdf", render_pdf([sample_label(1)], LAYOUTS["a4-4x10"]))
    text = pdf_text(pdf)
    for expected in (PRODUCT, PRODUCER, BRAND, "扫码溯源", "批次 LOT1", "包装日期 2025-10-12"):
        assert expected in text.replace("\n", ""), expected
    assert "0K4S7ZQ3M9XW000001" in text


@pytest.mark.parametrize("name", ["40x30", "50x30", "60x40", "70x50"])
def test_roll_one_label_per_page_of_label_size(tmp_path: Path, name: str) -> None:
    labels = [sample_label(i) for i in range(3)]
    pdf = _write(tmp_path, f"{name}.pdf", render_pdf(labels, LAYOUTS[name]))
    pages_count, size = _pdfinfo(pdf)
    assert pages_count == 3
    label = LAYOUTS[name].label
    assert size == pytest.approx((label.width_mm * 72 / 25.4, label.height_mm * 72 / 25.4), abs=0.01)
    pages = pdf_pages_to_images(pdf, dpi=300, first=1, last=3)
    assert [_decode(p) for p in pages] == [[label.uri] for label in labels]
    assert PRODUCT in pdf_text(pdf, 2, 2)


def test_font_is_embedded_and_subset(tmp_path: Path) -> None:
    pdf = _write(tmp_path, "f.pdf", render_pdf([sample_label()], LAYOUTS["50x30"]))
    require_tool("pdffonts")
    out = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    row = out.splitlines()[2].split()
    # name, type (CID TrueType), encoding, emb, sub, uni
    assert row[0].endswith("+FTLabelSansGB2312-Regular") and len(row[0].split("+")[0]) == 6
    assert row[1:4] == ["CID", "TrueType", "Identity-H"]
    assert row[4:7] == ["yes", "yes", "yes"]
    # Subset: the whole file is far smaller than the 2 MB GB2312 font.
    assert pdf.stat().st_size < 60_000


def test_empty_input_refused() -> None:
    with pytest.raises(RenderError) as info:
        iter_pdf([], LAYOUTS["50x30"])
    assert str(info.value) == "labels: expected at least one LabelData for a PDF, found none"


def test_output_is_deterministic() -> None:
    labels = [sample_label(i) for i in range(3)]
    assert render_pdf(labels, LAYOUTS["a4-3x8"]) == render_pdf(labels, LAYOUTS["a4-3x8"])


def test_pdf_streams_labels_lazily() -> None:
    """The first page is yielded after pulling only that page's labels from the input."""
    pulled = 0

    def labels():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield sample_label(i)

    chunks = iter_pdf(labels(), LAYOUTS["a4-3x8"])
    next(chunks)  # header
    next(chunks)  # page 1
    assert pulled == 24


def test_writer_memory_does_not_grow_with_pages(tmp_path: Path) -> None:
    """Per page the writer keeps one byte offset per object and nothing of the content."""

    def peak(pages: int) -> int:
        writer = StreamingPDF(default_font(), 50, 30)
        content = "q 1 0 0 1 0 0 cm " + "0 0 1 1 re " * 400 + "f Q"
        tracemalloc.start()
        sink = 0
        sink += len(writer.header())
        for _ in range(pages):
            sink += len(writer.page(content))
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high

    small, large = peak(2_000), peak(20_000)
    # 18,000 more pages may cost their offsets (2 objects x 8 bytes) and page-tree numbers
    # (~1 MB at most), never their content (~4.4 KB each, 80 MB together).
    assert large - small < 1_500_000, (small, large)


def test_write_pdf_to_file(tmp_path: Path) -> None:
    path = tmp_path / "run.pdf"
    with path.open("wb") as out:
        written = write_pdf((sample_label(i) for i in range(50)), LAYOUTS["a4-4x10"], out)
    assert written == path.stat().st_size
    assert path.read_bytes().startswith(b"%PDF-1.7") and path.read_bytes().endswith(b"%%EOF\n")
    assert _pdfinfo(path) == (2, pytest.approx((595.276, 841.89), abs=0.01))
