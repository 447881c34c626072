"""Read-only views of the log for static serving: tiles, entry bundles and receipts.

Everything here is computed against the latest signed checkpoint, so a reader never sees a
hash that no checkpoint commits to. Full tiles never change once written.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.errors import TreeError
from farmtrace.ledger.models import EntryRow, MerkleLeaf
from farmtrace.ledger.receipt import Receipt, format_receipt
from farmtrace.ledger.sequencer import DbHashReader, latest_checkpoint
from farmtrace.ledger.tiles import TILE_HEIGHT, Tile, format_entry_bundle, read_tile_data
from farmtrace.ledger.tlog import prove_record


def signed_size(session: Session) -> int:
    checkpoint = latest_checkpoint(session)
    return 0 if checkpoint is None else checkpoint.tree_size


def tile_available(tile: Tile, size: int) -> bool:
    """Whether every position of `tile` is complete in a tree of `size` leaves."""
    level = max(tile.level, 0) * TILE_HEIGHT
    return (tile.positions.stop << level) <= size


def tile_bytes(session: Session, tile: Tile) -> bytes | None:
    """The tile's bytes, or None if the signed tree does not cover it yet."""
    if not tile_available(tile, signed_size(session)):
        return None
    if tile.is_entry_bundle:
        rows = session.execute(
            select(MerkleLeaf.leaf_index, EntryRow.canonical)
            .join(EntryRow, EntryRow.id == MerkleLeaf.entry_id)
            .where(MerkleLeaf.leaf_index >= tile.positions.start, MerkleLeaf.leaf_index < tile.positions.stop)
            .order_by(MerkleLeaf.leaf_index)
        ).all()
        if [row.leaf_index for row in rows] != list(tile.positions):
            raise TreeError(f"{tile.path()}: leaves are missing from the store")
        return format_entry_bundle([bytes(row.canonical) for row in rows])
    return read_tile_data(tile, DbHashReader(session))


def receipt_for_leaf(session: Session, leaf_index: int) -> str | None:
    """A C2SP tlog-proof receipt of leaf `leaf_index` against the latest checkpoint."""
    checkpoint = latest_checkpoint(session)
    if checkpoint is None or not 0 <= leaf_index < checkpoint.tree_size:
        return None
    proof = prove_record(checkpoint.tree_size, leaf_index, DbHashReader(session))
    return format_receipt(Receipt(leaf_index, tuple(proof), checkpoint.note))
