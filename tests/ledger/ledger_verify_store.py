"""A small but complete store for verification tests, and a way to tamper with it.

`build_store` makes three batches, a key rotation, several checkpoints and one entry still
waiting for the sequencer, and commits. `tamper` edits the database behind the append path
the way an insider with database access would: on SQLite by dropping the append-only
triggers around the edit (and with foreign keys off), on PostgreSQL with
session_replication_role = replica (which disables the triggers and foreign keys).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger_env import LedgerEnv
from sqlalchemy import Engine, select, text

from farmtrace.ledger.append import Draft
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.models import Checkpoint, EntryRow, MerkleLeaf
from farmtrace.ledger.sequencer import integrate

WHEN = datetime(2026, 8, 30, 9, 30, tzinfo=UTC)


@dataclass
class Store:
    env: LedgerEnv
    engine: Engine
    coop: SigningKey
    lab: SigningKey
    notes: list[str]  # every checkpoint note, oldest first

    @property
    def root(self) -> bytes:
        return self.env.keys.root.public_key

    def row(self, batch: str, seq: int) -> dict[str, Any]:
        """The stored row of batch/seq with its leaf index (None while queued)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(EntryRow.__table__, MerkleLeaf.leaf_index)
                .outerjoin(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
                .where(EntryRow.batch == batch, EntryRow.seq == seq)
            ).one()
        return dict(found._mapping)

    def checkpoint_sizes(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)))


def build_store(env: LedgerEnv, engine: Engine) -> Store:
    keystore, ledger = env.keystore, env.ledger
    coop = keystore.create_org_key("coop-1")
    lab = keystore.create_org_key("lab-1")
    notes = [integrate(env.session, env.log_signer).note]

    def add(batch: str, kind: str, author: SigningKey, org: str, n: int, payload: dict | None = None) -> None:
        draft = Draft(batch, kind, WHEN, org, f"{batch}-{kind}-{n}", payload or {"n": str(n)})
        if kind == "batch.registered":
            ledger.open_chain(draft, author)
        else:
            ledger.append(draft, author)

    add("B1", "batch.registered", coop, "coop-1", 0, {"product": "赣南脐橙", "weight_kg": "1200.5"})
    add("B2", "batch.registered", coop, "coop-1", 0, {"product": "Navel orange"})
    add("B1", "farming.input", coop, "coop-1", 1, {"input": "有机肥", "dose_kg_per_mu": "12.5"})
    add("B2", "farming.input", coop, "coop-1", 1)
    notes.append(integrate(env.session, env.log_signer).note)
    add("B3", "batch.registered", coop, "coop-1", 0)
    add("B1", "lab.tested", lab, "lab-1", 2, {"analyte": "chlorpyrifos", "value": "0.01", "verdict": "pass"})
    add("B2", "harvest.recorded", coop, "coop-1", 2)
    add("B3", "farming.input", coop, "coop-1", 1)
    add("B1", "harvest.recorded", coop, "coop-1", 3)
    notes.append(integrate(env.session, env.log_signer).note)
    coop = keystore.rotate("coop-1")
    add("B1", "logistics.pickup", coop, "coop-1", 4, {"temperature_c": "-18.5"})
    add("B3", "harvest.recorded", coop, "coop-1", 2)
    add("B2", "logistics.pickup", coop, "coop-1", 3)
    notes.append(integrate(env.session, env.log_signer).note)
    add("B2", "logistics.delivered", coop, "coop-1", 4)
    add("B3", "logistics.pickup", coop, "coop-1", 3)
    add("B2", "retail.received", coop, "coop-1", 5)
    notes.append(integrate(env.session, env.log_signer).note)
    add("B1", "logistics.delivered", coop, "coop-1", 5)  # left waiting for the sequencer
    env.session.commit()
    return Store(env, engine, coop, lab, notes)


def tamper(engine: Engine, *statements: tuple[str, dict[str, Any]]) -> None:
    """Run SQL statements (':name' parameters) in one transaction, bypassing the triggers."""
    if engine.dialect.name == "sqlite":
        connection = sqlite3.connect(engine.url.database, isolation_level=None, timeout=30)
        try:
            triggers = connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
            connection.execute("BEGIN IMMEDIATE")
            for name, _sql in triggers:
                connection.execute(f"DROP TRIGGER {name}")
            for sql, params in statements:
                connection.execute(sql, params)
            for _name, sql in triggers:
                connection.execute(sql)
            connection.execute("COMMIT")
        finally:
            connection.close()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            conn.execute(text(sql), params)
