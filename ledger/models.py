"""Ledger tables. Rows of ledger_chain, ledger_entry, merkle_leaf, merkle_hash and
ledger_checkpoint are never updated or deleted: database triggers refuse it (see the
migration that creates them). The other tables are indexes and queues derived from those.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base

# SQLite gives INTEGER PRIMARY KEY autoincrement semantics only to INTEGER, not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

APPEND_ONLY_TABLES = ("ledger_chain", "ledger_entry", "merkle_leaf", "merkle_hash", "ledger_checkpoint")


class Chain(Base):
    """One row per chain (a batch, or the key history); its row lock serialises appenders."""

    __tablename__ = "ledger_chain"

    batch: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EntryRow(Base):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("batch", "seq"),
        Index("ix_ledger_entry_author_type", "author", "entry_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(ForeignKey("ledger_chain.batch"))
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    entry_type: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Unsequenced(Base):
    """Entries waiting for the sequencer. A queue, not part of the record: rows leave it."""

    __tablename__ = "ledger_unsequenced"

    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entry.id"), primary_key=True)


class MerkleLeaf(Base):
    __tablename__ = "merkle_leaf"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entry.id"), unique=True)


class MerkleHash(Base):
    """Stored hashes of complete subtrees, indexed as in Go's sumdb/tlog StoredHashIndex."""

    __tablename__ = "merkle_hash"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    __tablename__ = "ledger_checkpoint"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PublicKey(Base):
    """Index of the key history recorded in the `keys` chain (the chain is the authority)."""

    __tablename__ = "ledger_public_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SealedKey(Base):
    """Custodial private keys, sealed with AES-256-GCM under the master key file."""

    __tablename__ = "ledger_sealed_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CosignatureRow(Base):
    """A witness's cosignature (c2sp.org/tlog-cosignature) on one of our checkpoints.

    Verified against a configured witness key before it is stored; kept so that the
    checkpoint can be served with every cosignature it has collected.
    """

    __tablename__ = "ledger_cosignature"
    __table_args__ = (UniqueConstraint("tree_size", "witness_name", "key_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_checkpoint.tree_size"))
    witness_name: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(8))  # 8 lower-case hex digits, as in a vkey
    signature_line: Mapped[str] = mapped_column(Text)  # "— <name> <base64>" without the newline
    timestamp: Mapped[int] = mapped_column(BigInteger)  # the cosignature's own time, POSIX seconds
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
