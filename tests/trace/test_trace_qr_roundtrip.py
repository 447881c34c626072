"""2,000 of our upper-case URIs through a real QR encoder, a PNG image and a real decoder.

segno encodes, Pillow reads the PNG, zxing-cpp decodes: the text must come back unchanged,
segno must have chosen alphanumeric mode, and the QR must be a smaller version than the
same URI written in the usual lower case (which needs byte mode).
"""

from __future__ import annotations

import io

import pytest

from farmtrace.trace.gs1.digital_link import format_digital_link
from farmtrace.trace.gs1.qr_uri import QR_ALPHANUMERIC, format_short_uri, qr_uri
from farmtrace.trace.serials import SerialKey, serial_range

segno = pytest.importorskip("segno")
zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")

DOMAIN = "trace.example.org"
GTIN = "09506000134352"


def _uris() -> list[tuple[str, str]]:
    """(upper-case URI for the QR, the same URI in ordinary lower case), half of each form."""
    key = SerialKey(2, bytes(range(100, 132)))
    pairs = []
    for index, serial in enumerate(serial_range(key, key.first_n, 2000)):
        if index % 2:
            lot = f"LOT{index:0{1 + index % 17}d}/{'ABC'[index % 3]}"[:20]  # 5 to 20 characters
            pairs.append(
                (qr_uri(DOMAIN, serial, gtin=GTIN, lot=lot), format_digital_link(DOMAIN, GTIN, lot, serial))
            )
        else:
            pairs.append((qr_uri(DOMAIN, serial), format_short_uri(DOMAIN, serial)))
    return pairs


def _decode(qr: segno.QRCode) -> list[str]:
    png = io.BytesIO()
    qr.save(png, kind="png", scale=2, border=4)
    png.seek(0)
    with Image.open(png) as image:
        image.load()
        return [
            result.text for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        ]


def test_qr_round_trip_of_2000_uppercase_uris() -> None:
    pairs = _uris()
    assert len(pairs) == 2000
    assert sum("/01/" in upper for upper, _ in pairs) == 1000
    for upper, lower in pairs:
        assert upper == upper.upper() and set(upper) <= QR_ALPHANUMERIC
        # A fixed mask keeps this fast (segno's mask search is most of its time); the mask
        # changes neither mode, version nor decodability.
        qr = segno.make(upper, error="m", boost_error=False, micro=False, mask=0)
        plain = segno.make(lower, error="m", boost_error=False, micro=False, mask=0)
        assert qr.mode == "alphanumeric", upper
        assert plain.mode == "byte", lower
        assert qr.version < plain.version, (upper, qr.version, plain.version)
        assert _decode(qr) == [upper]
