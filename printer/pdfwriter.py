"""A minimal streaming PDF 1.7 writer (ISO 32000-1): pages out as they are made.

Why not reportlab or fpdf2: both keep every page of a document in memory until the end
(measured in docs/printing.md: memory grows linearly with page count), and a 100,000-label
print-shop run must not. This writer emits each page's objects as soon as the page is done and
keeps only what the trailer needs (one byte offset per object, one object number per page
group), so memory is constant per page.

What it supports is only what labels need: pages of one size, fill-only vector content, and one
embedded TrueType font as a CIDFontType2 with Identity-H encoding (§9.7.4), subset at the end
to the glyphs used while keeping glyph ids (so page content written earlier stays valid), with a
ToUnicode CMap (§9.10.3) so text can be searched and extracted.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from array import array
from collections.abc import Iterator

from fontTools import subset
from fontTools.ttLib import TTFont

from farmtrace.printer.labelfont import LabelFont

PT_PER_MM = 72 / 25.4
# Kids per intermediate page-tree node; PDF readers cope with flat trees, but ISO 32000-1
# Annex C lists 8,191 array elements as a conforming reader's implementation limit.
_PAGES_PER_NODE = 512

_CATALOG, _PAGES, _RESOURCES, _FONT, _CIDFONT, _DESCRIPTOR, _FONTFILE, _TOUNICODE, _INFO = range(1, 10)


def pdf_num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


class StreamingPDF:
    """Write a PDF piece by piece: `header()`, then `page(content)` per page, then `trailer()`.

    Each method returns the bytes to write next; the caller owns the file.
    """

    def __init__(self, font: LabelFont, width_mm: float, height_mm: float, title: str = ""):
        self._font = font
        self._media = f"[0 0 {pdf_num(width_mm * PT_PER_MM)} {pdf_num(height_mm * PT_PER_MM)}]"
        self._title = title
        self._offsets = array("Q", [0] * _INFO)  # object n at index n-1
        self._position = 0
        self._nodes: list[int] = []  # intermediate page-tree nodes
        self._node_kids: list[int] = []  # pages of the current node
        self._finished_nodes: list[tuple[int, list[int]]] = []
        self._used_gids: set[int] = {0}
        self.pages = 0

    # -- plumbing --------------------------------------------------------------------------
    def _allocate(self) -> int:
        self._offsets.append(0)
        return len(self._offsets)

    def _object(self, number: int, body: bytes) -> bytes:
        self._offsets[number - 1] = self._position
        chunk = b"%d 0 obj\n" % number + body + b"\nendobj\n"
        self._position += len(chunk)
        return chunk

    @staticmethod
    def _stream(dictionary: str, data: bytes, compress: bool = True) -> bytes:
        if compress:
            data = zlib.compress(data, 6)
            dictionary += " /Filter /FlateDecode"
        return (
            b"<< /Length %d %s >>\nstream\n"
            % (
                len(data),
                dictionary.encode(),
            )
            + data
            + b"\nendstream"
        )

    # -- text ------------------------------------------------------------------------------
    def show_text(self, text: str) -> str:
        """The `<...> Tj` operand for `text` in the embedded font (glyph ids, Identity-H)."""
        gids = self._font.glyph_ids(text)
        self._used_gids.update(gids)
        return "<" + "".join(f"{g:04X}" for g in gids) + "> Tj"

    # -- document parts --------------------------------------------------------------------
    def header(self) -> bytes:
        head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        self._position = len(head)
        resources = b"<< /Font << /F1 %d 0 R >> /ProcSet [/PDF /Text] >>" % _FONT
        return (
            head
            + self._object(_CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % _PAGES)
            + self._object(_RESOURCES, resources)
        )

    def page(self, content: str) -> bytes:
        """Write one page whose content stream is `content` (PDF operators, points)."""
        if not self._node_kids:
            self._nodes.append(self._allocate())
        parent = self._nodes[-1]
        stream_number = self._allocate()
        page_number = self._allocate()
        self._node_kids.append(page_number)
        out = self._object(stream_number, self._stream("", content.encode("ascii")))
        out += self._object(
            page_number,
            (
                f"<< /Type /Page /Parent {parent} 0 R /MediaBox {self._media} "
                f"/Resources {_RESOURCES} 0 R /Contents {stream_number} 0 R >>"
            ).encode(),
        )
        self.pages += 1
        if len(self._node_kids) == _PAGES_PER_NODE:
            self._finished_nodes.append((parent, self._node_kids))
            self._node_kids = []
        return out

    def trailer(self) -> bytes:
        if self._node_kids:
            self._finished_nodes.append((self._nodes[-1], self._node_kids))
            self._node_kids = []
        out = b""
        for node, kids in self._finished_nodes:
            refs = " ".join(f"{k} 0 R" for k in kids)
            out += self._object(
                node,
                f"<< /Type /Pages /Parent {_PAGES} 0 R /Kids [{refs}] /Count {len(kids)} >>".encode(),
            )
        refs = " ".join(f"{node} 0 R" for node, _ in self._finished_nodes)
        out += self._object(_PAGES, f"<< /Type /Pages /Kids [{refs}] /Count {self.pages} >>".encode())
        out += self._font_objects()
        title = self._title.encode("utf-16-be").hex().upper()
        out += self._object(_INFO, f"<< /Producer (farmtrace.printer) /Title <FEFF{title}> >>".encode())
        xref_at = self._position
        count = len(self._offsets) + 1
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % count]
        xref.extend(b"%010d 00000 n \n" % offset for offset in self._offsets)
        doc_id = hashlib.sha256(b"".join(xref)).hexdigest()[:32].upper()
        xref.append(
            (
                f"trailer\n<< /Size {count} /Root {_CATALOG} 0 R /Info {_INFO} 0 R "
                f"/ID [<{doc_id}> <{doc_id}>] >>\nstartxref\n{xref_at}\n%%EOF\n"
            ).encode()
        )
        return out + b"".join(xref)

    # -- the font --------------------------------------------------------------------------
    def _font_objects(self) -> bytes:
        font = self._font
        gids = sorted(self._used_gids)
        data = _subset_keep_gids(font, gids)
        tag = "".join(chr(ord("A") + b % 26) for b in hashlib.sha256(repr(gids).encode()).digest()[:6])
        base = f"/{tag}+FTLabelSansGB2312-Regular"
        scale = 1000 / font.units_per_em
        widths = " ".join(f"{g} [{round(font.advances[g] * scale)}]" for g in gids)
        out = self._object(
            _FONT,
            (
                f"<< /Type /Font /Subtype /Type0 /BaseFont {base} /Encoding /Identity-H "
                f"/DescendantFonts [{_CIDFONT} 0 R] /ToUnicode {_TOUNICODE} 0 R >>"
            ).encode(),
        )
        out += self._object(
            _CIDFONT,
            (
                f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont {base} "
                "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                f"/FontDescriptor {_DESCRIPTOR} 0 R /DW 1000 /W [{widths}] "
                "/CIDToGIDMap /Identity >>"
            ).encode(),
        )
        out += self._object(
            _DESCRIPTOR,
            (
                f"<< /Type /FontDescriptor /FontName {base} /Flags 4 "
                f"/FontBBox [-1000 -300 2000 1200] /ItalicAngle 0 "
                f"/Ascent {round(font.ascent * scale)} /Descent {round(font.descent * scale)} "
                f"/CapHeight {round(font.cap_height * scale)} /StemV 80 "
                f"/FontFile2 {_FONTFILE} 0 R >>"
            ).encode(),
        )
        out += self._object(_FONTFILE, self._stream(f"/Length1 {len(data)}", data))
        out += self._object(_TOUNICODE, self._stream("", _to_unicode_cmap(font, gids)))
        return out


def _subset_keep_gids(font: LabelFont, gids: list[int]) -> bytes:
    tt = TTFont(str(font.path), recalcTimestamp=False)  # deterministic output
    options = subset.Options()
    options.retain_gids = True
    options.notdef_outline = True
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep copyright and licence (OFL)
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "post"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(gids=gids)
    subsetter.subset(tt)
    out = io.BytesIO()
    tt.save(out)
    return out.getvalue()


def _to_unicode_cmap(font: LabelFont, gids: list[int]) -> bytes:
    """ISO 32000-1 §9.10.3: map each used glyph id back to its character."""
    reverse: dict[int, int] = {}
    for code, gid in sorted(font.cmap.items()):
        if gid in reverse:
            continue
        reverse[gid] = code
    pairs = [(g, reverse[g]) for g in gids if g in reverse]
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):  # at most 100 entries per block (§9.10.3)
        block = pairs[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines.extend(f"<{g:04X}> <{_utf16_hex(c)}>" for g, c in block)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


def _utf16_hex(code: int) -> str:
    return chr(code).encode("utf-16-be").hex().upper()


def iter_document(writer: StreamingPDF, pages: Iterator[str]) -> Iterator[bytes]:
    """Yield the whole document: header, one chunk per page, trailer."""
    yield writer.header()
    for content in pages:
        yield writer.page(content)
    yield writer.trailer()
