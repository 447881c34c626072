"""The label font: metrics for layout, glyph ids for PDF, the file for Pillow and ~DY.

One font for every renderer (a GB2312 subset of Noto Sans CJK SC, see fonts/build_font.py and
fonts/OFL.txt) so that text measured for a layout measures the same in PDF, SVG, PNG and the
bitmap modes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from fontTools.ttLib import TTFont

from farmtrace.printer.errors import CharacterError

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "FTLabelSans-GB2312.ttf"


@dataclass(frozen=True)
class LabelFont:
    """Metrics of a TrueType font, in font units unless a name says otherwise."""

    path: Path
    units_per_em: int
    ascent: int
    descent: int  # negative, below the baseline
    cap_height: int
    cmap: dict[int, int] = field(repr=False)  # code point -> glyph id
    advances: tuple[int, ...] = field(repr=False)  # glyph id -> advance width

    def glyph_ids(self, text: str) -> list[int]:
        return [self.cmap[ord(ch)] for ch in text]

    def advance_em(self, text: str) -> float:
        """Width of `text` at a font size of 1 (em units)."""
        return sum(self.advances[self.cmap[ord(ch)]] for ch in text) / self.units_per_em

    def missing(self, text: str) -> list[str]:
        return [ch for ch in dict.fromkeys(text) if ord(ch) not in self.cmap]

    def check_covers(self, field_name: str, text: str) -> None:
        """Raise CharacterError if `text` has a character the font cannot draw."""
        missing = self.missing(text)
        if missing:
            listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing)
            raise CharacterError(
                f"{field_name} {text!r}: characters outside the label font "
                f"({self.path.name}, ASCII + GB2312): {listed}"
            )

    def font_bytes(self) -> bytes:
        return self.path.read_bytes()


def load_font(path: Path) -> LabelFont:
    font = TTFont(str(path), lazy=True)
    order = font.getGlyphOrder()
    index = {name: gid for gid, name in enumerate(order)}
    cmap = {code: index[name] for code, name in font.getBestCmap().items()}
    metrics = font["hmtx"].metrics
    advances = tuple(metrics[name][0] for name in order)
    os2 = font["OS/2"]
    return LabelFont(
        path=path,
        units_per_em=font["head"].unitsPerEm,
        ascent=font["hhea"].ascent,
        descent=font["hhea"].descent,
        cap_height=getattr(os2, "sCapHeight", 0) or int(font["head"].unitsPerEm * 0.7),
        cmap=cmap,
        advances=advances,
    )


@functools.cache
def default_font() -> LabelFont:
    return load_font(FONT_PATH)
