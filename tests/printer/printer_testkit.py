"""Shared helpers for the printer tests: sample labels and read-back with real tools."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from farmtrace.printer.label import LabelData

URI = "HTTPS://TRACE.EXAMPLE.ORG/01/09506000134352/10/LOT1/21/0K4S7ZQ3M9XW2PHT5C"
PRODUCT = "五华高山红薯"
PRODUCER = "五华县高山农业专业合作社"
BRAND = "五华红·客都好味"


def sample_label(i: int | None = None, **changes: object) -> LabelData:
    serial = "0K4S7ZQ3M9XW2PHT5C" if i is None else f"0K4S7ZQ3M9XW{i:06d}"
    fields: dict[str, object] = {
        "uri": f"HTTPS://TRACE.EXAMPLE.ORG/01/09506000134352/10/LOT1/21/{serial}",
        "serial": serial,
        "product_name": PRODUCT,
        "lot": "LOT1",
        "packed_on": dt.date(2025, 10, 12),
        "producer": PRODUCER,
        "brand": BRAND,
    }
    fields.update(changes)
    return LabelData(**fields)  # type: ignore[arg-type]


def decode_all(image: Image.Image) -> list[str]:
    """Every QR zxing-cpp finds in the image, as text."""
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def decode_one(image: Image.Image) -> zxingcpp.Barcode:
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"expected one QR, found {len(found)}"
    return found[0]


def png_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install -y poppler-utils)")
    return path


def pdf_pages_to_images(pdf: Path, dpi: int = 300, first: int = 1, last: int = 1) -> list[Image.Image]:
    require_tool("pdftoppm")
    out = pdf.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-f", str(first), "-l", str(last), str(pdf), str(out)],
        check=True,
    )
    pages = sorted(pdf.parent.glob(out.name + "-*.png"))
    return [Image.open(p) for p in pages]


def pdf_text(pdf: Path, first: int = 1, last: int = 1) -> str:
    require_tool("pdftotext")
    done = subprocess.run(
        ["pdftotext", "-f", str(first), "-l", str(last), str(pdf), "-"],
        check=True,
        capture_output=True,
    )
    return done.stdout.decode("utf-8")
