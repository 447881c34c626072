"""ZPL II renderer: native formats rendered offline by zplkit (a ZPL renderer from PyPI),
bitmap formats decoded back to images by hand and by zplkit; zxing-cpp reads every QR."""

from __future__ import annotations

import base64
import binascii
import io
import re
import zlib

import pytest
from PIL import Image, ImageChops
from printer_testkit import decode_one, sample_label

from farmtrace.printer import LAYOUTS, RenderError, fit_qr, rasterize
from farmtrace.printer.compose import label_texts
from farmtrace.printer.render_zpl import (
    iter_zpl,
    render_zpl,
    render_zpl_bitmap,
    zpl_ascii_compress,
    zpl_field_hex,
    zpl_font_download,
)

zplkit = pytest.importorskip("zplkit", reason="zplkit (ZPL renderer, dev extra) not installed")
from zplkit.rendering import Limits  # noqa: E402

LIMITS = Limits(input_bytes=16 << 20, font_bytes=16 << 20, graphic_bytes=16 << 20)


def _chars(*labels) -> str:
    return "".join(sorted({c for label in labels for t in label_texts(label).values() for c in t}))


def _render(zpl: bytes) -> Image.Image:
    document = zplkit.render(zpl, limits=LIMITS)
    assert document.warnings == []
    assert len(document.labels) == 1
    return Image.open(io.BytesIO(document.labels[0].png())).convert("L")


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("dpi", [203, 300])
def test_native_renders_and_decodes(name: str, dpi: int) -> None:
    label = sample_label(3)
    layout = LAYOUTS[name]
    zpl = render_zpl(label, layout, dpi)
    image = _render(zpl_font_download(characters=_chars(label)) + zpl)
    fit = fit_qr(layout, label.uri, dpi)
    assert image.size == (
        round(layout.label.width_mm * dpi / 25.4),
        round(layout.label.height_mm * dpi / 25.4),
    )
    found = decode_one(image)
    assert found.text == label.uri
    # The printer's encoder picked the version fit_qr planned the space for.
    assert found.extra["Version"] == str(fit.symbol.version) and found.ec_level == "M"
    # ...and drew it where fit_qr placed it: top-left module at ^FO, module_dots per module.
    xs = [p.x for p in (found.position.top_left, found.position.bottom_left)]
    assert min(xs) == pytest.approx(round(fit.x_mm * dpi / 25.4), abs=1)
    side = found.position.top_right.x - found.position.top_left.x
    assert side == pytest.approx(fit.symbol.size * fit.module_dots, abs=2)


def test_native_text_matches_own_raster() -> None:
    """zplkit draws the downloaded TrueType font where our rasteriser draws it."""
    label, layout, dpi = sample_label(), LAYOUTS["60x40"], 300
    zpl_image = _render(zpl_font_download(characters=_chars(label)) + render_zpl(label, layout, dpi))
    ours = rasterize(label, layout, dpi).convert("L")
    k = dpi / 25.4
    column = layout.label.product.box
    region = (int(column.x * k), 0, ours.width, int(layout.label.serial.box.y * k))

    def ink(image: Image.Image) -> Image.Image:
        return image.crop(region).point(lambda v: 0 if v < 128 else 255, mode="1")

    a, b = ink(zpl_image), ink(ours)
    assert _iou(a, b) > 0.6
    assert _iou(a, ImageChops.offset(b, 4, 0)) < _iou(a, b) - 0.2


def _iou(a: Image.Image, b: Image.Image) -> float:
    inter = ImageChops.logical_or(a, b).histogram()[0]
    union = ImageChops.logical_and(a, b).histogram()[0]
    return inter / union


def test_native_is_ascii_with_escaped_utf8() -> None:
    zpl = render_zpl(sample_label(), LAYOUTS["50x30"], 203).decode("ascii")
    assert zpl.startswith("^XA\n^CI28\n^PW400\n^LL240\n") and zpl.endswith("^XZ\n")
    assert "^BQN,2,4^FH^FDMA,HTTPS://TRACE.EXAMPLE.ORG/" in zpl
    product = zpl_field_hex("五华高山红薯")
    assert product == "_E4_BA_94_E5_8D_8E_E9_AB_98_E5_B1_B1_E7_BA_A2_E8_96_AF"
    assert f"^A@N,29,29,E:FTSANSGB.TTF^FH^FD{product}^FS" in zpl


def _unescape_fh(field: str) -> str:
    """The parser for zpl_field_hex (ZPL ^FH with the default _ indicator)."""
    raw = re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), field.encode("ascii"))
    return raw.decode("utf-8")


@pytest.mark.parametrize("text", ["A^B~C_D", "五华·客都", "HTTPS://X.ORG/21/ABC", "50% ^FS"])
def test_field_hex_round_trip(text: str) -> None:
    escaped = zpl_field_hex(text)
    assert not set(escaped) & {"^", "~"} and escaped.isascii()
    assert _unescape_fh(escaped) == text


def test_command_characters_in_data_survive_zplkit() -> None:
    label = sample_label(uri="HTTPS://X.ORG/^FS~JA_1", producer="合作社^FS~JA")
    image = _render(zpl_font_download(characters=_chars(label)) + render_zpl(label, LAYOUTS["50x30"], 203))
    assert decode_one(image).text == "HTTPS://X.ORG/^FS~JA_1"


def _gfa_payload(zpl: bytes) -> tuple[int, int, str]:
    m = re.search(rb"\^GFA,(\d+),(\d+),(\d+),(.*?)\^FS", zpl, re.S)
    assert m is not None
    total, _, row_bytes, payload = m.groups()
    return int(total), int(row_bytes), payload.decode("ascii")


def _expand_ascii(payload: str, total: int, row_bytes: int) -> bytes:
    """Parser for zpl_ascii_compress: ZPL II ^GF ASCII compression back to bytes."""
    counts = {c: i + 1 for i, c in enumerate("GHIJKLMNOPQRSTUVWXY")}
    counts |= {c: 20 * (i + 1) for i, c in enumerate("ghijklmnopqrstuvwxyz")}
    rows: list[str] = []
    row, repeat = "", 0
    for ch in payload:
        if ch in counts:
            repeat += counts[ch]
        elif ch == ",":
            rows.append(row.ljust(2 * row_bytes, "0"))
            row = ""
        elif ch == ":":
            rows.append(rows[-1])
        else:
            row += ch * (repeat or 1)
            repeat = 0
            if len(row) == 2 * row_bytes:
                rows.append(row)
                row = ""
    data = bytes.fromhex("".join(rows))
    assert len(data) == total
    return data


def _image_from_zpl_bits(data: bytes, row_bytes: int) -> Image.Image:
    height = len(data) // row_bytes
    # ZPL: 1 = dot printed; Pillow "1": 1 = white.
    return ImageChops.invert(Image.frombytes("1", (row_bytes * 8, height), data))


@pytest.mark.parametrize("dpi", [203, 300])
@pytest.mark.parametrize("name", ["40x30", "50x30", "70x50"])
def test_bitmap_z64_decodes_by_hand_and_in_zplkit(name: str, dpi: int) -> None:
    label = sample_label(9)
    zpl = render_zpl_bitmap(label, LAYOUTS[name], dpi, compression="z64")
    total, row_bytes, payload = _gfa_payload(zpl)
    _, kind, encoded, crc = payload.split(":")
    assert kind == "Z64" and int(crc, 16) == binascii.crc_hqx(encoded.encode(), 0)
    data = zlib.decompress(base64.b64decode(encoded))
    assert len(data) == total
    assert decode_one(_image_from_zpl_bits(data, row_bytes)).text == label.uri
    assert decode_one(_render(zpl)).text == label.uri


@pytest.mark.parametrize("dpi", [203, 300])
def test_bitmap_ascii_compression_round_trips(dpi: int) -> None:
    label = sample_label(10)
    image = rasterize(label, LAYOUTS["50x30"], dpi)
    zpl = render_zpl_bitmap(label, LAYOUTS["50x30"], dpi, compression="hex")
    total, row_bytes, payload = _gfa_payload(zpl)
    data = _expand_ascii(payload, total, row_bytes)
    assert data == ImageChops.invert(image).tobytes()
    assert len(payload) < total  # compression pays for itself
    assert decode_one(_image_from_zpl_bits(data, row_bytes)).text == label.uri
    assert decode_one(_render(zpl)).text == label.uri


def test_ascii_compression_counts() -> None:
    assert zpl_ascii_compress(bytes(4), 4) == ","
    assert zpl_ascii_compress(b"\xff" * 4 + b"\xff" * 4, 4) == "NF:"
    assert zpl_ascii_compress(b"\x00\xff\xff\x00", 4) == "H0JF,"
    assert zpl_ascii_compress(b"\xff" * 300, 300) == "zpF"  # 600 = 400 (z) + 200 (p)
    assert zpl_ascii_compress(b"\xab" * 2, 2) == "ABAB"


def test_font_download_forms() -> None:
    binary = zpl_font_download("E:FTSANSGB.TTF", characters="五华")
    header, _, data = binary.partition(b",,")
    assert header.startswith(b"~DYE:FTSANSGB,B,T,")
    assert int(header.split(b",")[-1]) == len(data)
    assert data[:4] == b"\x00\x01\x00\x00"  # a TrueType SFNT
    hexed = zpl_font_download("E:FTSANSGB.TTF", characters="五华", encoding="hex")
    assert hexed.startswith(b"~DYE:FTSANSGB,A,T,") and hexed.isascii()
    label = sample_label(brand=None, product_name="五华", producer="五华", lot="1")
    zpl = render_zpl(label, LAYOUTS["50x30"], 203)
    hexed = zpl_font_download(characters=_chars(label), encoding="hex")
    assert decode_one(_render(hexed + zpl)).text == label.uri


def test_font_ref_validated() -> None:
    with pytest.raises(RenderError) as info:
        zpl_font_download("FTSANSGB.FNT")
    assert str(info.value) == (
        "font_ref: expected 'D:NAME.TTF' (e.g. 'E:FTSANSGB.TTF'), found 'FTSANSGB.FNT'"
    )


def test_dpi_validated() -> None:
    with pytest.raises(RenderError) as info:
        render_zpl(sample_label(), LAYOUTS["50x30"], 600)
    assert str(info.value) == "ZPL dpi: expected 203 or 300, found 600"


def test_iter_zpl_one_format_per_label() -> None:
    labels = [sample_label(i) for i in range(3)]
    chunks = list(iter_zpl(labels, LAYOUTS["50x30"], 203))
    assert [c.count(b"^XA") for c in chunks] == [1, 1, 1]
    document = zplkit.render(zpl_font_download(characters=_chars(*labels)) + b"".join(chunks), limits=LIMITS)
    images = [Image.open(io.BytesIO(s.png())) for s in document.labels]
    assert [decode_one(i).text for i in images] == [label.uri for label in labels]
