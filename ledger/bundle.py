"""Proof bundles: everything a verifier needs to check one batch's record, in one JSON object.

A bundle holds the batch's entries with their signatures, the key-chain entries that make
its signing keys (and the log key) trustworthy, the latest signed checkpoint, and inclusion
proofs tying the batch's latest integrated entry and each key entry to that checkpoint. A
verifier needs only the root public key (docs/ledger-format.md, "Proof bundles").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Ledger, StoredEntry
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import KEYS_CHAIN
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.models import EntryRow, MerkleLeaf, PublicKey
from farmtrace.ledger.sequencer import DbHashReader, latest_checkpoint
from farmtrace.ledger.tlog import prove_record

BUNDLE_VERSION = 1


class NoCheckpoint(LedgerError):
    """The log has not signed a checkpoint yet (the sequencer has not run)."""


def proof_bundle(session: Session, batch: str) -> dict[str, Any] | None:
    """The proof bundle of `batch`, or None if there is no such chain."""
    ledger = Ledger(session)
    entries = ledger.entries(batch)
    if not entries:
        return None
    checkpoint = latest_checkpoint(session)
    if checkpoint is None:
        raise NoCheckpoint("no checkpoint has been signed yet; run the sequencer")
    size = checkpoint.tree_size
    reader = DbHashReader(session)
    leaf_of = _leaf_indexes(session, [stored.id for stored in entries])
    integrated = [stored for stored in entries if leaf_of.get(stored.id, size) < size]
    head_proof = None
    if integrated:
        head = integrated[-1]
        head_proof = _proof(leaf_of[head.id], size, reader)
    key_entries = _key_entries(session, ledger, entries)
    key_leaves = _leaf_indexes(session, [stored.id for stored in key_entries])
    return {
        "version": BUNDLE_VERSION,
        "batch": batch,
        "checkpoint": checkpoint.note,
        "entries": [_entry_json(stored, leaf_of.get(stored.id)) for stored in entries],
        "head_proof": head_proof,
        "keys": [
            {
                **_entry_json(stored, key_leaves.get(stored.id)),
                "proof": _proof(key_leaves[stored.id], size, reader)
                if key_leaves.get(stored.id, size) < size
                else None,
            }
            for stored in key_entries
        ],
    }


def _entry_json(stored: StoredEntry, leaf_index: int | None) -> dict[str, Any]:
    return {"entry": stored.entry.fields, "signature": b64encode(stored.signature), "leaf_index": leaf_index}


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


def _key_entries(session: Session, ledger: Ledger, entries: list[StoredEntry]) -> list[StoredEntry]:
    """Key-chain entries that register and revoke the root, the log key and every key the
    batch's entries were signed with, in chain order."""
    wanted = {stored.entry.key_id for stored in entries}
    wanted.update(session.scalars(select(PublicKey.key_id).where(PublicKey.role.in_(("root", "log")))))
    client_ids = [f"keys.{verb}.{key_id}" for key_id in sorted(wanted) for verb in ("register", "revoke")]
    rows = session.scalars(
        select(EntryRow)
        .where(EntryRow.batch == KEYS_CHAIN, EntryRow.client_id.in_(client_ids))
        .order_by(EntryRow.seq)
    )
    return [ledger.by_hash(row.entry_hash) for row in rows]  # type: ignore[misc]
