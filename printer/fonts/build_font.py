"""Build printer/fonts/FTLabelSans-GB2312.ttf from Debian's fonts-noto-cjk (run once, by hand).

    apt-get install -y fonts-noto-cjk
    .venv/bin/python printer/fonts/build_font.py

Why a subset: the full Noto Sans CJK SC face is 16 MB of CFF outlines for 65,535 glyphs; a
label needs ASCII and the Chinese of product, producer and place names. GB2312 (levels 1 and
2: 6,763 hanzi plus 682 symbols) is the repertoire of the resident TSS24.BF2 font in TSC-style
TSPL printers, so one character set works in every renderer and the refusal rule is the same
everywhere: a character outside GB2312 is refused, never printed as a blank box.

Why TrueType (quadratic) outlines: Zebra printers and the zplkit renderer accept only a
quadratic TrueType SFNT through ~DY, and the PDF writer embeds it as a CIDFontType2; the CFF
curves are converted with cu2qu at a maximum error of 1 font unit (0.1 % of the em).

Why renamed: the SIL OFL 1.1 lets a Modified Version be redistributed under the same licence
(OFL.txt beside the font); the family is renamed so it cannot be mistaken for Google's font.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, newTable

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FACE = "Noto Sans CJK SC"
OUT = Path(__file__).resolve().parent / "FTLabelSans-GB2312.ttf"
FAMILY = "FT Label Sans GB2312"
# A few characters outside GB2312 that labels commonly carry (middle dot variants, marks).
EXTRA = "·•–—‘’“”…™®©℃°×±€"


def gb2312_characters() -> str:
    """Every character of GB 2312-80 rows 1-9 (symbols) and 16-87 (hanzi levels 1 and 2)."""
    chars: list[str] = []
    for row in [*range(1, 10), *range(16, 88)]:
        for cell in range(1, 95):
            try:
                chars.append(bytes([0xA0 + row, 0xA0 + cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def _to_quadratic(font: TTFont) -> None:
    """Replace the CFF table by glyf/loca (the fontTools otf2ttf recipe)."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    del font["CFF "]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for field in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    maxp.compile(font)
    post = font["post"]
    post.formatType = 3.0
    post.extraNames = []
    post.mapping = {}
    font.sfntVersion = "\0\1\0\0"


def _rename(font: TTFont) -> None:
    name = font["name"]
    version = name.getDebugName(5) or ""
    for record in list(name.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 21, 22):
            name.removeNames(nameID=record.nameID)
    ps_name = FAMILY.replace(" ", "")
    name.setName(FAMILY, 1, 3, 1, 0x409)
    name.setName("Regular", 2, 3, 1, 0x409)
    name.setName(f"{ps_name}-Regular;{version}", 3, 3, 1, 0x409)
    name.setName(f"{FAMILY} Regular", 4, 3, 1, 0x409)
    name.setName(f"{ps_name}-Regular", 6, 3, 1, 0x409)
    name.setName(
        "GB2312 subset of Noto Sans CJK SC Regular (fonts-noto-cjk 20220127), "
        "converted to TrueType outlines for farmtrace labels.",
        10,
        3,
        1,
        0x409,
    )


def build(source: Path = SOURCE, out: Path = OUT) -> int:
    faces = TTCollection(str(source)).fonts
    font = next(f for f in faces if f["name"].getDebugName(1) == SOURCE_FACE)
    text = "".join(chr(c) for c in range(0x20, 0x7F)) + gb2312_characters() + EXTRA
    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx", "DSIG"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    _to_quadratic(font)
    _rename(font)
    font.save(str(out))
    return out.stat().st_size


if __name__ == "__main__":
    size = build(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
    print(f"wrote {OUT} ({size} bytes)")
