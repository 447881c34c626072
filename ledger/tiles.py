"""Tiles and entry bundles of C2SP tlog-tiles (tile height 8), over tlog's stored hashes.

A tile is a run of up to 256 consecutive hashes at tree level 8·L: at level 0 the leaf
hashes, at level L the roots of full tiles of level L-1. Full tiles are immutable; the
rightmost tiles of a tree are partial (width 1..255). Paths (tlog-tiles §Merkle Tree):

    tile/<L>/<N>[.p/<W>]        hash tiles, L in 0..63
    tile/entries/<N>[.p/<W>]    entry bundles: the log entries of level-0 tile N

<N> is written in zero-padded 3-digit groups, all but the last prefixed by "x"
(1234067 -> x001/x234/067). Parsing is strict: only the canonical path of a tile parses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from farmtrace.ledger.errors import FormatError, TreeError
from farmtrace.ledger.hashing import HASH_SIZE, merkle_tree_hash
from farmtrace.ledger.tlog import HashReader, split_stored_hash_index, stored_hash_index

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile
MAX_TILE_LEVEL = 63
ENTRY_BUNDLE_LEVEL = -1  # as in Go's tlog: the "data tile" above level 0
MAX_BUNDLED_ENTRY_SIZE = 0xFFFF  # entries are uint16 length-prefixed in a bundle

_TILE_PATH = re.compile(r"tile/(entries|[0-9]+)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]+))?")


@dataclass(frozen=True)
class Tile:
    """Tile N of level L, `width` hashes (or entries) wide; width 256 is a full tile."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (ENTRY_BUNDLE_LEVEL <= self.level <= MAX_TILE_LEVEL):
            raise TreeError(f"tile level: expected -1 (entries) to {MAX_TILE_LEVEL}, found {self.level}")
        if self.index < 0:
            raise TreeError(f"tile index: expected >= 0, found {self.index}")
        if not (1 <= self.width <= TILE_WIDTH):
            raise TreeError(f"tile width: expected 1 to {TILE_WIDTH}, found {self.width}")

    @property
    def is_entry_bundle(self) -> bool:
        return self.level == ENTRY_BUNDLE_LEVEL

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def tree_level(self) -> int:
        """The Merkle tree level of the hashes in this tile (0 for entries and level 0)."""
        return max(self.level, 0) * TILE_HEIGHT

    @property
    def positions(self) -> range:
        """Positions, at tree_level, of the hashes (or entry indexes) this tile holds."""
        first = self.index * TILE_WIDTH
        return range(first, first + self.width)

    def path(self) -> str:
        return format_tile_path(self)


def format_tile_path(tile: Tile) -> str:
    """The C2SP tlog-tiles path of a tile, without the log's URL prefix."""
    level = "entries" if tile.is_entry_bundle else str(tile.level)
    n = tile.index
    digits = f"{n % 1000:03d}"
    while n >= 1000:
        n //= 1000
        digits = f"x{n % 1000:03d}/{digits}"
    partial = f".p/{tile.width}" if tile.is_partial else ""
    return f"tile/{level}/{digits}{partial}"


def parse_tile_path(path: str) -> Tile:
    """Parse a tile or entry bundle path; only the canonical spelling is accepted."""
    match = _TILE_PATH.fullmatch(path) if isinstance(path, str) and path.isascii() else None
    if match is None:
        raise FormatError(f"tile path {path!r}: expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
    level_text, n_text, width_text = match.groups()
    level = ENTRY_BUNDLE_LEVEL if level_text == "entries" else int(level_text)
    index = int(n_text.replace("x", "").replace("/", ""))
    width = TILE_WIDTH if width_text is None else int(width_text)
    try:
        tile = Tile(level, index, width)
    except TreeError as exc:
        raise FormatError(f"tile path {path!r}: {exc}") from None
    canonical = format_tile_path(tile)
    if canonical != path:
        raise FormatError(f"tile path {path!r}: not in canonical form (expected {canonical!r})")
    return tile


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The hash tiles that growing the tree from old_size to new_size creates or extends.

    Full tiles completed by the growth and the new partial tile at each level, bottom
    level first (Go tlog NewTiles). Entry bundles follow the level-0 tiles one to one.
    """
    if not (0 <= old_size <= new_size):
        raise TreeError(f"new_tiles: expected 0 <= old size <= new size, found {old_size}, {new_size}")
    tiles: list[Tile] = []
    level = 0
    while new_size >> (TILE_HEIGHT * level) > 0:
        old_n = old_size >> (TILE_HEIGHT * level)
        new_n = new_size >> (TILE_HEIGHT * level)
        if old_n != new_n:
            for n in range(old_n >> TILE_HEIGHT, new_n >> TILE_HEIGHT):
                tiles.append(Tile(level, n))
            n = new_n >> TILE_HEIGHT
            width = new_n - (n << TILE_HEIGHT)
            if width > 0:
                tiles.append(Tile(level, n, width))
        level += 1
    return tiles


def tile_hash_indexes(tile: Tile) -> list[int]:
    """The stored hash indexes (tlog.stored_hash_index) whose hashes make up a hash tile."""
    if tile.is_entry_bundle:
        raise TreeError(f"{tile.path()}: an entry bundle holds entries, not stored hashes")
    return [stored_hash_index(tile.tree_level, p) for p in tile.positions]


def read_tile_data(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of a hash tile: its hashes concatenated, read in one reader call."""
    indexes = tile_hash_indexes(tile)
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes) or any(len(h) != HASH_SIZE for h in hashes):
        raise TreeError(f"{tile.path()}: hash reader returned malformed hashes")
    return b"".join(hashes)


def tile_for_index(index: int) -> Tile:
    """The smallest tile from which stored hash `index` can be computed (Go TileForIndex)."""
    tile, _, _ = _tile_for_index(index)
    return tile


def hash_from_tile(tile: Tile, data: bytes, index: int) -> bytes:
    """Stored hash `index`, computed from the bytes of a tile that covers it."""
    if tile.is_entry_bundle:
        raise TreeError(f"{tile.path()}: an entry bundle holds entries, not hashes")
    if len(data) != tile.width * HASH_SIZE:
        raise FormatError(
            f"{tile.path()}: expected {tile.width * HASH_SIZE} bytes of tile data, found {len(data)}"
        )
    needed, start, end = _tile_for_index(index)
    if (needed.level, needed.index) != (tile.level, tile.index) or needed.width > tile.width:
        raise TreeError(f"stored hash {index} is in {needed.path()}, not in {tile.path()}")
    chunk = data[start:end]
    return merkle_tree_hash([chunk[i : i + HASH_SIZE] for i in range(0, len(chunk), HASH_SIZE)])


def format_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """tlog-tiles §Log entries: each entry as a big-endian uint16 length and its bytes."""
    if not (1 <= len(entries) <= TILE_WIDTH):
        raise FormatError(f"entry bundle: expected 1 to {TILE_WIDTH} entries, found {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_BUNDLED_ENTRY_SIZE:
            raise FormatError(
                f"entry bundle: entry [{i}] is {len(entry)} bytes, more than {MAX_BUNDLED_ENTRY_SIZE}"
            )
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes, width: int = TILE_WIDTH) -> list[bytes]:
    """Split an entry bundle into its entries; exactly `width` entries must be present."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise FormatError(f"entry bundle: truncated length prefix at byte {pos}")
        size = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + size > len(data):
            raise FormatError(
                f"entry bundle: entry [{len(entries)}] at byte {pos} needs {size} bytes, "
                f"found {len(data) - pos - 2}"
            )
        entries.append(bytes(data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    if len(entries) != width:
        raise FormatError(f"entry bundle: expected {width} entries, found {len(entries)}")
    return entries


def _tile_for_index(index: int) -> tuple[Tile, int, int]:
    # Returns the tile and the byte range [start, end) of its data that hashes to `index`.
    level, n = split_stored_hash_index(index)
    tile_level = level // TILE_HEIGHT
    level -= tile_level * TILE_HEIGHT  # level within the tile
    tile_n = (n << level) >> TILE_HEIGHT
    n -= (tile_n << TILE_HEIGHT) >> level  # n within the tile, at that level
    tile = Tile(tile_level, tile_n, (n + 1) << level)
    return tile, (n << level) * HASH_SIZE, ((n + 1) << level) * HASH_SIZE
