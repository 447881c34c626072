"""Backup files and their manifests, for `farmtrace backup` and `farmtrace restore`.

SQLite: an online copy through SQLite's backup API, in one step, so it is one read
snapshot of the database while the service goes on writing (WAL readers never block
writers). PostgreSQL: pg_dump's custom format, taken under a snapshot exported from the
transaction that also reads the manifest's checkpoint, so the two describe the same state.

Every backup is written to a temporary file beside its destination, fsynced and renamed,
and only then is its manifest written (the same way): a manifest always names a whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from farmtrace.ledger.db import create_db_engine
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.models import EntryRow
from farmtrace.web.cli.published import fsync_folder, write_atomically

MANIFEST_FORMAT = "farmtrace-backup/1"
MANIFEST_SUFFIX = ".manifest.json"


class BackupError(Exception):
    """A backup or restore step failed; the message says which and why, in one sentence."""


@dataclass(frozen=True)
class Manifest:
    format: str
    engine: str
    created_at: str
    file: str
    bytes: int
    sha256: str
    schema_revision: str | None
    entries: int
    tree_size: int
    checkpoint: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def read_manifest(backup: Path) -> Manifest | None:
    path = manifest_path(backup)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"manifest {str(path)!r} cannot be read: {exc}") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_against_manifest(backup: Path, manifest: Manifest) -> None:
    size = backup.stat().st_size
    if size != manifest.bytes:
        raise BackupError(
            f"{backup}: {size} bytes, but its manifest says {manifest.bytes}; the file is damaged"
        )
    found = sha256_file(backup)
    if found != manifest.sha256:
        raise BackupError(
            f"{backup}: sha256 {found}, but its manifest says {manifest.sha256}; the file is damaged"
        )


def state_of(conn: Connection) -> tuple[str | None, int, int, str | None]:
    """(schema revision, entries, latest checkpoint size, its note) as this connection sees them."""
    revision = None
    if inspect(conn).has_table("alembic_version"):  # a failed query would abort a PG transaction
        revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    entries = conn.scalar(select(func.count()).select_from(EntryRow)) or 0
    latest = conn.execute(
        select(CheckpointRow.tree_size, CheckpointRow.note).order_by(CheckpointRow.tree_size.desc()).limit(1)
    ).first()
    return revision, entries, (0 if latest is None else latest[0]), (None if latest is None else latest[1])


def _manifest(engine: str, temp: Path, out: Path, state: tuple[str | None, int, int, str | None]) -> Manifest:
    revision, entries, size, note = state
    return Manifest(
        format=MANIFEST_FORMAT,
        engine=engine,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        file=out.name,
        bytes=temp.stat().st_size,
        sha256=sha256_file(temp),
        schema_revision=revision,
        entries=entries,
        tree_size=size,
        checkpoint=note,
    )


@contextmanager
def _temp_beside(out: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path in the destination's folder (so the final rename is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix + ".tmp", dir=out.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _finish(temp: Path, out: Path, manifest: Manifest) -> Manifest:
    _fsync_file(temp)
    os.replace(temp, out)
    fsync_folder(out.parent)
    write_atomically(manifest_path(out), manifest.to_json().encode("utf-8"))
    return manifest


# -- SQLite ----------------------------------------------------------------------------------


def sqlite_file(database_url: str) -> Path:
    name = make_url(database_url).database
    if not name or name == ":memory:":
        raise BackupError(f"FARMTRACE_DATABASE_URL names no SQLite file ({database_url!r})")
    return Path(name)


def backup_sqlite(database: Path, out: Path) -> Manifest:
    """A consistent copy of a live SQLite database, as one self-contained file (no -wal)."""
    if not database.is_file():
        raise BackupError(f"the database file {str(database)!r} does not exist")
    with _temp_beside(out) as temp:
        source = sqlite3.connect(database, timeout=30)
        target = sqlite3.connect(temp)
        try:
            source.backup(target)  # pages=-1: one step, so one snapshot of the source
            target.execute("PRAGMA journal_mode=DELETE")  # the copy stands alone, without a -wal file
            problem = target.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupError(f"the copy fails SQLite's quick_check: {problem}")
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite backup of {database} failed: {exc}") from None
        finally:
            target.close()
            source.close()
        # A plain engine: farmtrace's own would switch the copy back to WAL mode.
        engine = create_engine(f"sqlite:///{temp}")
        try:
            with engine.connect() as conn:
                state = state_of(conn)
        finally:
            engine.dispose()
        _remove_sidecars(temp)
        return _finish(temp, out, _manifest("sqlite", temp, out, state))


def ensure_not_in_use(database: Path) -> None:
    """Refuse if any process (a server, a sequencer) has the database open.

    In WAL mode every open connection holds a shared lock, so an exclusive transaction in
    exclusive locking mode is granted only to the sole user of the file."""
    if not database.exists():
        return
    probe = sqlite3.connect(database, timeout=0.5, isolation_level=None)
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("COMMIT")
    except sqlite3.OperationalError:
        raise BackupError(
            f"the database {database} is in use by another process (a server or the sequencer); "
            "stop the service first"
        ) from None
    finally:
        probe.close()


def stage_sqlite(backup: Path, database: Path) -> Path:
    """Copy the backup beside the database under a temporary name; the caller installs it."""
    database.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{database.name}.restore-", dir=database.parent)
    os.close(handle)
    staged = Path(name)
    try:
        shutil.copyfile(backup, staged)
        _fsync_file(staged)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise BackupError(f"cannot copy {backup} to {staged}: {exc}") from None
    return staged


def install_sqlite(staged: Path, database: Path) -> None:
    """Put the staged copy in place atomically; the old file's -wal/-shm must not outlive it."""
    ensure_not_in_use(database)
    _remove_sidecars(staged)
    _remove_sidecars(database)
    os.replace(staged, database)
    fsync_folder(database.parent)


def discard(staged: Path) -> None:
    _remove_sidecars(staged)
    staged.unlink(missing_ok=True)


def _remove_sidecars(database: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


# -- PostgreSQL ------------------------------------------------------------------------------


def libpq_url(database_url: str) -> str:
    """The URL as libpq's tools (pg_dump, pg_restore) read it: no SQLAlchemy driver name."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def backup_postgres(database_url: str, out: Path, pg_dump: str) -> Manifest:
    """pg_dump -Fc under a snapshot shared with the transaction that reads the manifest."""
    engine = create_db_engine(database_url, poolclass=None)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
                state = state_of(conn)
                with _temp_beside(out) as temp:
                    _run(
                        [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={temp}"],
                        database_url,
                        "pg_dump",
                    )
                    return _finish(temp, out, _manifest("postgresql", temp, out, state))
    finally:
        engine.dispose()


def database_has_tables(database_url: str) -> bool:
    engine = create_db_engine(database_url, poolclass=None)
    try:
        with engine.connect() as conn:
            count = conn.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")
            )
    finally:
        engine.dispose()
    return bool(count)


def restore_postgres(backup: Path, database_url: str, pg_restore: str, replace: bool) -> None:
    """pg_restore in one transaction: the database holds all of the backup or none of it."""
    args = [pg_restore, "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges"]
    if replace:
        args += ["--clean", "--if-exists"]
    _run([*args, str(backup)], database_url, "pg_restore")


def _run(args: list[str], database_url: str, tool: str) -> None:
    # A password goes through PGPASSWORD, not the command line, which `ps` shows everyone.
    url = make_url(libpq_url(database_url))
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    command = [*args, "--dbname", url.set(password=None).render_as_string(hide_password=False)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(
            f"{tool} failed (exit {result.returncode}): {message[0] if message else 'no output'}"
        )
