"""`farmtrace verify` as an operator runs it: a real process, real exit codes, the bad entry named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ledger_verify_store import tamper
from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey, SigningKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import Checkpoint, EntryRow, MerkleLeaf
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.verify import format_root_key, parse_root_key
from farmtrace.web.settings import Settings

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
WHEN = datetime(2026, 8, 30, tzinfo=UTC)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FARMTRACE, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


@pytest.fixture
def cli(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An initialised store: the key chain and batch B1 (5 entries, the last one waiting)."""
    env = {"FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": database_url}
    init = run(env, "keys", "init")
    assert init.returncode == 0, init.stderr
    assert f"root public key written to {tmp_path / 'keys' / 'root.pub'}" in init.stdout
    engine = create_db_engine(database_url)
    origin = Settings.from_env(env).log_origin
    with Session(write_engine(engine)) as session:
        # The same keys the CLI created (and the sequencer's work, done here in-process:
        # `farmtrace sequencer --once` is the same integrate() call, and slow to start).
        keystore = KeyStore(session, MasterKey.load(tmp_path / "keys" / "master.key"))
        log = SignerKey(origin, keystore.log_key().seed)
        coop = keystore.create_org_key("coop-1")
        keystore.ledger.open_chain(Draft("B1", "batch.registered", WHEN, "coop-1", "reg"), coop)
        for n in range(2):
            keystore.ledger.append(Draft("B1", "farming.input", WHEN, "coop-1", f"in-{n}"), coop)
        integrate(session, log)
        keystore.ledger.append(Draft("B1", "harvest.recorded", WHEN, "coop-1", "h"), coop)
        integrate(session, log)
        keystore.ledger.append(Draft("B1", "retail.received", WHEN, "coop-1", "d"), coop)
        session.commit()
    yield env, engine, tmp_path
    engine.dispose()


def test_a_clean_store_verifies_with_a_summary(cli) -> None:  # type: ignore[no-untyped-def]
    env, _engine, home = cli
    result = run(env, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    root_file = home / "keys" / "root.pub"
    assert (
        lines[0] == f"OK: the store verifies (root key {root_file.read_text().split()[0]} from {root_file})"
    )
    assert lines[1].startswith(
        "  entries      8 in 2 batches, 8 signatures verified, 1 waiting for the sequencer"
    )
    assert lines[2] == "  Merkle log   7 leaves, 11 stored hashes recomputed"
    assert lines[3].startswith("  checkpoints  2 checked; latest: ")
    assert lines[5].startswith("  time         ")
    assert result.stderr == ""


def test_one_batch_verifies(cli) -> None:  # type: ignore[no-untyped-def]
    env, _engine, _home = cli
    result = run(env, "verify", "--batch", "B1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: batch B1 verifies")
    assert "  entries      5, 5 signatures verified" in result.stdout
    assert "  Merkle log   4 of them in the checkpoint of size 7" in result.stdout


def test_a_tampered_store_fails_naming_the_entry(cli) -> None:  # type: ignore[no-untyped-def]
    env, engine, _home = cli
    with engine.connect() as conn:
        row = conn.execute(
            select(EntryRow.id, EntryRow.signature, EntryRow.key_id, MerkleLeaf.leaf_index)
            .join(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
            .where(EntryRow.batch == "B1", EntryRow.seq == 2)
        ).one()
    changed = bytes([row.signature[0] ^ 0x80]) + bytes(row.signature[1:])
    tamper(engine, ("UPDATE ledger_entry SET signature = :s WHERE id = :id", {"s": changed, "id": row.id}))
    named = f"B1/2 (leaf {row.leaf_index}): signature does not verify with key {row.key_id}"

    result = run(env, "verify")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == f"FAILED: {named}"
    assert "  1 problem, in order:" in result.stdout

    batch = run(env, "verify", "--batch", "B1")
    assert batch.returncode == 1 and batch.stdout.splitlines()[0] == f"FAILED: {named}"

    as_json = run(env, "verify", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["problems"][0]["message"] == named
    assert (report["problems"][0]["batch"], report["problems"][0]["seq"]) == ("B1", 2)


def test_a_truncated_store_fails_against_a_kept_checkpoint(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, engine, _home = cli
    with engine.connect() as conn:
        note = conn.scalar(select(Checkpoint.note).order_by(Checkpoint.tree_size.desc()).limit(1))
        leaf = conn.execute(
            select(MerkleLeaf.leaf_index, MerkleLeaf.entry_id).where(MerkleLeaf.leaf_index == 6)
        ).one()
    kept = tmp_path / "checkpoint-7.txt"
    kept.write_text(note, encoding="utf-8")
    assert run(env, "verify", "--checkpoint", str(kept)).returncode == 0
    with engine.connect() as conn:
        queued = conn.scalar(select(EntryRow.id).where(EntryRow.batch == "B1", EntryRow.seq == 4))
    tamper(
        engine,
        ("DELETE FROM merkle_leaf WHERE leaf_index = 6", {}),
        ("DELETE FROM ledger_unsequenced WHERE entry_id = :id", {"id": queued}),
        ("DELETE FROM ledger_entry WHERE id IN (:a, :b)", {"a": leaf.entry_id, "b": queued}),
        ("DELETE FROM merkle_hash WHERE idx >= 10", {}),
        ("DELETE FROM ledger_checkpoint WHERE tree_size = 7", {}),
    )
    assert run(env, "verify").returncode == 0  # what the database holds is self-consistent
    result = run(env, "verify", "--checkpoint", str(kept))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "FAILED: trusted checkpoint #1 (size 7): the stored tree has only 6 leaves: "
        "the log was truncated (leaf 6 is missing)"
    )


def test_without_root_pub_the_database_is_trusted_with_a_warning(cli) -> None:  # type: ignore[no-untyped-def]
    env, _engine, home = cli
    pinned = (home / "keys" / "root.pub").read_text()
    (home / "keys" / "root.pub").unlink()
    result = run(env, "verify")
    assert result.returncode == 0
    assert result.stderr.startswith("warning: no --root-key and no ")
    assert "from the database (keys/0)" in result.stdout
    # --root-key takes the key itself or a file
    assert run(env, "verify", "--root-key", pinned.strip()).returncode == 0
    other = SigningKey.from_seed(bytes(32))
    wrong = run(env, "verify", "--root-key", format_root_key(other.public_key).strip())
    assert wrong.returncode == 1
    assert wrong.stdout.startswith(
        f"FAILED: keys/0 (leaf 0): key history: keys/0 registers {pinned.split()[0]}"
    )


def test_keys_init_again_keeps_root_pub(cli) -> None:  # type: ignore[no-untyped-def]
    env, _engine, home = cli
    before = (home / "keys" / "root.pub").read_text()
    again = run(env, "keys", "init")
    assert again.returncode == 0 and again.stderr == ""
    assert (home / "keys" / "root.pub").read_text() == before
    assert parse_root_key(before)
