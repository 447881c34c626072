"""Proof bundles: everything a verifier needs to check one batch's record, in one JSON object.

A bundle (version 2) holds the batch's chain with its signatures, the whole `keys` chain
(every registration and revocation, keys/0 onwards, so that none can be left out unseen),
the latest signed checkpoint, and two inclusion proofs: of the batch's newest integrated
entry and of the key chain's newest integrated entry. Each chain's hash links vouch for the
entries before its proven head. A verifier needs only the root public key
(docs/ledger-format.md, "Proof bundles"; why one proof per chain suffices is in
docs/verification.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Ledger
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import KEYS_CHAIN
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.models import EntryRow, MerkleLeaf
from farmtrace.ledger.sequencer import DbHashReader, latest_checkpoint
from farmtrace.ledger.tlog import prove_record

BUNDLE_VERSION = 2


class NoCheckpoint(LedgerError):
    """The log has not signed a checkpoint yet (the sequencer has not run)."""


def proof_bundle(
    session: Session, batch: str, note: Callable[[CheckpointRow], str] | None = None
) -> dict[str, Any] | None:
    """The proof bundle of `batch`, or None if there is no such chain. `note` gives the
    checkpoint note to send (the web layer appends witnesses' cosignatures); by default
    the note as the log signed it."""
    entries = Ledger(session).entries(batch)
    if not entries:
        return None
    checkpoint = latest_checkpoint(session)
    if checkpoint is None:
        raise NoCheckpoint("no checkpoint has been signed yet; run the sequencer")
    size = checkpoint.tree_size
    reader = DbHashReader(session)
    leaf_of = _leaf_indexes(session, [stored.id for stored in entries])
    batch_leaves = [leaf_of.get(stored.id) for stored in entries]
    keys = key_chain(session)
    return {
        "version": BUNDLE_VERSION,
        "batch": batch,
        "checkpoint": checkpoint.note if note is None else note(checkpoint),
        "entries": [
            _entry_json(stored.entry.fields, stored.signature, leaf)
            for stored, leaf in zip(entries, batch_leaves, strict=True)
        ],
        "head_proof": _head_proof(batch_leaves, size, reader),
        "keys": [_entry_json(fields, signature, leaf) for fields, signature, leaf in keys],
        "keys_head_proof": _head_proof([leaf for _f, _s, leaf in keys], size, reader),
    }


def bundle_state(session: Session, batch: str) -> tuple[int, int, bytes, int, bytes] | None:
    """What a bundle of `batch` is made of, in a few small queries: (bundle version,
    checkpoint size, hash of the batch's head entry, seq and hash of the key chain's head).
    Both chains only grow and their entries are integrated only by a new checkpoint, so an
    equal state means an equal bundle: a cache key and an HTTP validator. None if there is
    no such batch; NoCheckpoint before the first checkpoint."""
    head = _head(session, batch)
    if head is None:
        return None
    checkpoint = latest_checkpoint(session)
    if checkpoint is None:
        raise NoCheckpoint("no checkpoint has been signed yet; run the sequencer")
    keys = _head(session, KEYS_CHAIN)
    keys_seq, keys_hash = keys if keys is not None else (-1, b"")
    return (BUNDLE_VERSION, checkpoint.tree_size, head[1], keys_seq, keys_hash)


def _head(session: Session, batch: str) -> tuple[int, bytes] | None:
    row = session.execute(
        select(EntryRow.seq, EntryRow.entry_hash)
        .where(EntryRow.batch == batch)
        .order_by(EntryRow.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.seq, bytes(row.entry_hash))


def key_chain(session: Session) -> list[tuple[dict[str, Any], bytes, int | None]]:
    """Every entry of the `keys` chain in seq order: (fields, signature, leaf index or None).

    The stored canonical bytes were validated when they were appended and the verifier
    recomputes everything from them, so they are decoded plainly here (a county's key
    chain has about a thousand entries and every bundle carries all of them).
    """
    rows = session.execute(
        select(EntryRow.canonical, EntryRow.signature, MerkleLeaf.leaf_index)
        .outerjoin(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
        .where(EntryRow.batch == KEYS_CHAIN)
        .order_by(EntryRow.seq)
    )
    return [(json.loads(bytes(row.canonical)), bytes(row.signature), row.leaf_index) for row in rows]


def _entry_json(fields: dict[str, Any], signature: bytes, leaf_index: int | None) -> dict[str, Any]:
    return {"entry": fields, "signature": b64encode(signature), "leaf_index": leaf_index}


def _head_proof(leaves: list[int | None], size: int, reader: DbHashReader) -> dict[str, Any] | None:
    """The inclusion proof of a chain's newest entry in the checkpoint's tree, or None if the
    sequencer has integrated none of the chain yet."""
    covered = [leaf for leaf in leaves if leaf is not None and leaf < size]
    if not covered:
        return None
    return _proof(covered[-1], size, reader)


def _proof(leaf_index: int, size: int, reader: DbHashReader) -> dict[str, Any]:
    return {
        "leaf_index": leaf_index,
        "tree_size": size,
        "hashes": [b64encode(h) for h in prove_record(size, leaf_index, reader)],
    }


def _leaf_indexes(session: Session, entry_ids: list[int]) -> dict[int, int]:
    if not entry_ids:
        return {}
    rows = session.execute(
        select(MerkleLeaf.entry_id, MerkleLeaf.leaf_index).where(MerkleLeaf.entry_id.in_(entry_ids))
    )
    return {row.entry_id: row.leaf_index for row in rows}
