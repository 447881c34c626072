"""`farmtrace backup` and `farmtrace restore` as an operator runs them, on the engine under test.

A writer process appends (acknowledging each id only after its commit) and the real
`farmtrace sequencer` integrates and publishes checkpoints while the backup is taken. The
restored store must verify and hold every entry acknowledged before the backup began.
Restoring that backup after a newer checkpoint was published must be refused, naming the
published size and the restored size, and the sequencer must refuse to sign over it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.errors import ChainConflict
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import EntryRow
from farmtrace.ledger.verify import format_root_key
from farmtrace.web import migrate
from farmtrace.web.cli import main as cli
from farmtrace.web.cli.backup_files import manifest_path

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
ORG = "coop-backup"
BATCHES = ("B-bk-0", "B-bk-1")


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(env: dict[str, str], *args: str) -> Ran:
    """The command in this process (a subprocess costs seconds of start-up on a busy machine)."""
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def writer(url: str, keys_dir: str, ack_path: str, stop_path: str, limit: int) -> None:
    """Append one entry per transaction to alternating batches until told to stop."""
    engine = create_db_engine(url)
    sessions = sessionmaker(bind=write_engine(engine))
    with sessions() as session:
        signer = KeyStore(session, MasterKey.load(Path(keys_dir) / "master.key")).signer_for(ORG)
    with open(ack_path, "a", encoding="utf-8") as acks:
        for i in range(limit):
            if os.path.exists(stop_path):
                break
            draft = Draft(
                BATCHES[i % 2], "farming.input", datetime.now(UTC), ORG, f"bk-{i:05d}", {"n": str(i)}
            )
            for attempt in range(100):
                try:
                    with sessions() as session:
                        Ledger(session).append(draft, signer)
                        session.commit()
                    break
                except (ChainConflict, OperationalError):  # a client retries these
                    time.sleep(0.01 * attempt)
            else:
                raise AssertionError(f"{draft.client_id} not stored")
            acks.write(draft.client_id + "\n")
            acks.flush()
    engine.dispose()


def prepare(env: dict[str, str], url: str) -> None:
    """What `farmtrace keys init` and `keys create` do, and two batches opened."""
    keys_dir = Path(env["FARMTRACE_HOME"]) / "keys"
    keys_dir.mkdir(parents=True)
    engine = create_db_engine(url)
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, MasterKey.load_or_create(keys_dir / "master.key"))
        root = keystore.bootstrap("county").root.public_key
        signer = keystore.create_org_key(ORG)
        for batch in BATCHES:
            registration = Draft(batch, "batch.registered", datetime.now(UTC), ORG, f"{batch}-reg", {})
            Ledger(session).open_chain(registration, signer)
        session.commit()
    engine.dispose()
    (keys_dir / "root.pub").write_text(format_root_key(root))


def acked(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for(condition, what: str, deadline_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stored_ids(url: str) -> set[str]:
    engine = create_db_engine(url)
    with Session(engine) as session:
        ids = set(session.scalars(select(EntryRow.client_id).where(EntryRow.client_id.like("bk-%"))))
    engine.dispose()
    return ids


def checkpoint_size(note: str) -> int:
    return int(note.split("\n")[1])


@pytest.fixture
def live(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A store with a writer appending and `farmtrace sequencer` publishing, while the test runs."""
    home = tmp_path / "home"
    env = {
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": database_url,
        "FARMTRACE_SEQUENCER_INTERVAL": "0.1",
    }
    prepare(env, database_url)
    acks, stop = tmp_path / "acks", tmp_path / "stop"
    process = multiprocessing.get_context("spawn").Process(
        target=writer, args=(database_url, str(home / "keys"), str(acks), str(stop), 100_000)
    )
    process.start()
    sequencer = subprocess.Popen(
        [FARMTRACE, "sequencer"], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def stop_all() -> None:
        stop.touch()
        process.join(60)
        sequencer.terminate()
        sequencer.wait(30)

    try:
        yield env, acks, stop_all
    finally:
        stop_all()


def test_backup_while_writing_then_restore_verifies(live, database_factory, tmp_path: Path) -> None:
    env, acks, stop_all = live
    wait_for(lambda: len(acked(acks)) >= 30, "30 acknowledged entries")
    # On a loaded machine the sequencer may not have signed yet; a backup must carry a checkpoint.
    latest = Path(env["FARMTRACE_HOME"]) / "checkpoints" / "latest"
    wait_for(latest.exists, "the sequencer's first published checkpoint")
    before = acked(acks)
    out = tmp_path / "backups" / "ft.backup"
    made = run(env, "backup", str(out))
    assert made.returncode == 0, made.stderr
    assert f"backup written to {out}" in made.stdout
    after_backup = len(acked(acks))
    wait_for(lambda: len(acked(acks)) >= after_backup + 10, "appends after the backup")
    stop_all()

    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["file"] == out.name and manifest["entries"] >= len(before) + len(BATCHES)
    assert manifest["tree_size"] == checkpoint_size(manifest["checkpoint"])
    published = tmp_path / "checkpoint-at-backup"
    published.write_text(manifest["checkpoint"])

    target_url = database_factory.new_url()
    target = {
        "FARMTRACE_HOME": str(tmp_path / "restored-home"),
        "FARMTRACE_DATABASE_URL": target_url,
        "FARMTRACE_KEYS_DIR": str(Path(env["FARMTRACE_HOME"]) / "keys"),  # root.pub pins the root key
    }
    restored = run(target, "restore", str(out), "--replace", "--checkpoint", str(published))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "OK: the store verifies" in restored.stdout
    assert "trusted      1 checkpoints" in restored.stdout
    ids = stored_ids(target_url)
    assert set(before) <= ids  # every entry acknowledged before the backup began is there
    engine = create_db_engine(target_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(EntryRow)) == manifest["entries"]
    engine.dispose()


def test_restoring_a_backup_older_than_a_published_checkpoint_is_refused(live, tmp_path: Path) -> None:
    env, _acks, stop_all = live
    latest = Path(env["FARMTRACE_HOME"]) / "checkpoints" / "latest"
    wait_for(latest.exists, "the sequencer's checkpoint file")
    out = tmp_path / "old.backup"
    assert run(env, "backup", str(out)).returncode == 0
    old_size = json.loads(manifest_path(out).read_text())["tree_size"]
    wait_for(lambda: checkpoint_size(latest.read_text()) >= old_size + 10, "a newer published checkpoint")
    stop_all()  # the service is stopped for a restore
    published = checkpoint_size(latest.read_text())
    live_ids = stored_ids(env["FARMTRACE_DATABASE_URL"])

    refused = run(env, "restore", str(out), "--replace")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (
        f"LOST ENTRIES: the checkpoint in {latest} was published at tree size {published:,}" in refused.stdout
    )
    assert "this backup is older than what was published" in refused.stdout
    assert "the log was truncated" in refused.stdout  # verify's own problem line, naming the leaves
    if not env["FARMTRACE_DATABASE_URL"].startswith("sqlite"):
        return
    # SQLite verifies before installing: the live database is untouched.
    assert "not restored" in refused.stdout
    assert stored_ids(env["FARMTRACE_DATABASE_URL"]) == live_ids


def test_sequencer_refuses_to_sign_over_a_log_smaller_than_the_published_checkpoint(
    database_url: str, tmp_path: Path
) -> None:
    env = {"FARMTRACE_HOME": str(tmp_path / "home"), "FARMTRACE_DATABASE_URL": database_url}
    prepare(env, database_url)
    assert run(env, "sequencer", "--once").returncode == 0
    latest = tmp_path / "home" / "checkpoints" / "latest"
    size = checkpoint_size(latest.read_text())
    # Pretend a larger checkpoint was published (a restore then lost its entries): any
    # well-formed note of a larger size will do, since the sequencer only compares sizes.
    lines = latest.read_text().split("\n")
    lines[1] = str(size + 5)
    latest.write_text("\n".join(lines))
    refused = run(env, "sequencer", "--once")
    assert refused.returncode == 1
    assert (
        f"the database's log has {size} leaves, but {latest} holds a published checkpoint of size {size + 5}"
        in (refused.stderr)
    )


def test_restore_refuses_a_sqlite_database_in_use(tmp_path: Path) -> None:
    # SQLite's own behaviour, so it runs on a SQLite file whichever engine the suite is on
    # (on PostgreSQL pg_restore runs in one transaction beside the service instead).
    database_url = f"sqlite:///{tmp_path / 'in-use.sqlite3'}"
    engine = create_db_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {"FARMTRACE_HOME": str(tmp_path / "home"), "FARMTRACE_DATABASE_URL": database_url}
    prepare(env, database_url)
    out = tmp_path / "b"
    assert run(env, "backup", str(out)).returncode == 0
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    holder.execute("PRAGMA journal_mode=WAL")
    try:
        refused = run(env, "restore", str(out), "--replace")
    finally:
        holder.close()
    assert refused.returncode == 1
    assert (
        "is in use by another process (a server or the sequencer); stop the service first" in refused.stderr
    )
    assert run(env, "restore", str(out), "--replace").returncode == 0


def test_a_damaged_backup_is_refused_before_anything_changes(database_url: str, tmp_path: Path) -> None:
    env = {"FARMTRACE_HOME": str(tmp_path / "home"), "FARMTRACE_DATABASE_URL": database_url}
    prepare(env, database_url)
    out = tmp_path / "b"
    assert run(env, "backup", str(out)).returncode == 0
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    refused = run(env, "restore", str(out), "--replace")
    assert refused.returncode == 1
    assert f"Error: {out}: sha256 " in refused.stderr and "the file is damaged" in refused.stderr
