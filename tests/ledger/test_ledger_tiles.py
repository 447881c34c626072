"""C2SP tlog-tiles: paths, which tiles a tree has, tile bytes, entry bundles."""

from __future__ import annotations

import pytest
from ledger_memlog import MemoryLog

from farmtrace.ledger.errors import FormatError, TreeError
from farmtrace.ledger.hashing import leaf_hash, merkle_tree_hash
from farmtrace.ledger.tiles import (
    TILE_WIDTH,
    Tile,
    format_entry_bundle,
    hash_from_tile,
    new_tiles,
    parse_entry_bundle,
    parse_tile_path,
    read_tile_data,
    tile_for_index,
    tile_hash_indexes,
)
from farmtrace.ledger.tlog import split_stored_hash_index, stored_hash_count, stored_hash_index, tree_hash


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "tile/0/000"),
        (Tile(0, 1234067), "tile/0/x001/x234/067"),  # the tlog-tiles example
        (Tile(2, 1000, 17), "tile/2/x001/000.p/17"),
        (Tile(63, 999, 255), "tile/63/999.p/255"),
        (Tile(-1, 5), "tile/entries/005"),
        (Tile(-1, 12, 1), "tile/entries/012.p/1"),
    ],
)
def test_tile_paths_round_trip(tile: Tile, path: str) -> None:
    assert tile.path() == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tile/0/x000/005", r"not in canonical form \(expected 'tile/0/005'\)"),
        ("tile/00/000", r"not in canonical form \(expected 'tile/0/000'\)"),
        ("tile/0/000.p/256", r"not in canonical form \(expected 'tile/0/000'\)"),
        ("tile/0/000.p/08", r"not in canonical form \(expected 'tile/0/000.p/8'\)"),
        ("tile/0/000.p/0", "tile width: expected 1 to 256, found 0"),
        ("tile/64/000", "tile level: expected -1 .* found 64"),
        ("tile/0/1000", "expected tile/<L>/<N>"),
        ("tile/0/01", "expected tile/<L>/<N>"),
        ("/tile/0/000", "expected tile/<L>/<N>"),
        ("tile/0/000/", "expected tile/<L>/<N>"),
        ("tile/0/x001", "expected tile/<L>/<N>"),
        ("tile/data/000", "expected tile/<L>/<N>"),
        ("tile/0/٠٠٠", "expected tile/<L>/<N>"),  # Arabic-Indic digits are not ASCII digits
        ("tile/8/0/000", "expected tile/<L>/<N>"),  # Go's sumdb paths carry the height; C2SP's do not
    ],
)
def test_tile_path_parsing_is_strict(path: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_tile_path(path)


def test_tlog_tiles_example_of_a_tree_of_70000() -> None:
    tiles = new_tiles(0, 70000)
    assert tiles[:1] == [Tile(0, 0)]
    assert tiles[272:] == [Tile(0, 272), Tile(0, 273, 112), Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert new_tiles(0, 256) == [Tile(0, 0), Tile(1, 0, 1)]


def test_new_tiles_lists_only_what_growth_changed() -> None:
    assert new_tiles(5, 5) == []
    assert new_tiles(0, 3) == [Tile(0, 0, 3)]
    assert new_tiles(3, 300) == [Tile(0, 0), Tile(0, 1, 44), Tile(1, 0, 1)]
    assert new_tiles(300, 310) == [Tile(0, 1, 54)]
    with pytest.raises(TreeError, match="found 4, 3"):
        new_tiles(4, 3)


def test_tile_data_holds_the_right_stored_hashes() -> None:
    records = [f"entry {i}".encode() for i in range(600)]
    log = MemoryLog.of(records)
    leaves = [leaf_hash(r) for r in records]

    level0 = read_tile_data(Tile(0, 1), log)
    assert len(level0) == TILE_WIDTH * 32
    assert level0 == b"".join(leaves[256:512])
    assert len(log.calls) == 1

    partial = read_tile_data(Tile(0, 2, 88), log)
    assert partial == b"".join(leaves[512:600])

    level1 = read_tile_data(Tile(1, 0, 2), log)
    assert level1 == merkle_tree_hash(leaves[:256]) + merkle_tree_hash(leaves[256:512])
    assert tile_hash_indexes(Tile(1, 0, 2)) == [stored_hash_index(8, 0), stored_hash_index(8, 1)]

    # Any stored hash can be recomputed from the tile that tile_for_index names.
    for index in range(stored_hash_count(600)):
        tile = tile_for_index(index)
        data = read_tile_data(tile, log)
        assert hash_from_tile(tile, data, index) == log.hashes[index]
    # The root of the 512-record tree is one hash at level 9: two level-1 tile hashes.
    assert hash_from_tile(Tile(1, 0, 2), level1, stored_hash_index(9, 0)) == tree_hash(512, log)
    assert split_stored_hash_index(stored_hash_index(9, 0)) == (9, 0)


def test_hash_from_tile_refuses_the_wrong_tile() -> None:
    log = MemoryLog.of([b"x"] * 10)
    data = read_tile_data(Tile(0, 0, 10), log)
    with pytest.raises(TreeError, match=r"stored hash 18 is in tile/0/000.p/11, not in tile/0/000.p/10"):
        hash_from_tile(Tile(0, 0, 10), data, stored_hash_index(0, 10))
    with pytest.raises(FormatError, match="expected 320 bytes of tile data, found 319"):
        hash_from_tile(Tile(0, 0, 10), data[:-1], 0)
    with pytest.raises(TreeError, match="an entry bundle holds entries"):
        tile_hash_indexes(Tile(-1, 0))


def test_entry_bundles_round_trip_and_refuse_malformed_bytes() -> None:
    entries = [b"", b"a", b"x" * 300]
    bundle = format_entry_bundle(entries)
    assert bundle == b"\x00\x00" + b"\x00\x01a" + b"\x01\x2c" + b"x" * 300
    assert parse_entry_bundle(bundle, width=3) == entries
    with pytest.raises(FormatError, match="expected 4 entries, found 3"):
        parse_entry_bundle(bundle, width=4)
    with pytest.raises(FormatError, match=r"entry \[2\] at byte 5 needs 300 bytes, found 299"):
        parse_entry_bundle(bundle[:-1], width=3)
    with pytest.raises(FormatError, match="truncated length prefix at byte 0"):
        parse_entry_bundle(b"\x00", width=1)
    with pytest.raises(FormatError, match=r"entry \[0\] is 65536 bytes, more than 65535"):
        format_entry_bundle([b"x" * 65536])
