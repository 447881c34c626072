"""`farmtrace backup` and `farmtrace restore` (docs/operations.md, "Backups and restore").

A restore is verified before anyone relies on it: the whole store, from the pinned root
key, against every checkpoint known to have been published — the files given with
--checkpoint and the sequencer's own $FARMTRACE_HOME/checkpoints/latest. A backup older
than a published checkpoint lacks entries that checkpoint vouches for; signing new
checkpoints over it would fork the log, so the restore says so and exits non-zero.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
from sqlalchemy import Engine

from farmtrace.ledger.db import create_db_engine
from farmtrace.ledger.errors import LedgerError, StoreVerificationError
from farmtrace.ledger.verify import VerifyReport, verify_store
from farmtrace.web import migrate
from farmtrace.web.cli.backup_files import (
    BackupError,
    Manifest,
    backup_postgres,
    backup_sqlite,
    check_against_manifest,
    database_has_tables,
    discard,
    ensure_not_in_use,
    install_sqlite,
    manifest_path,
    read_manifest,
    restore_postgres,
    sqlite_file,
    stage_sqlite,
)
from farmtrace.web.cli.context import load_settings
from farmtrace.web.cli.published import checkpoint_of, latest_path
from farmtrace.web.cli.verify import _print_failure, _print_success, _read, _root_key
from farmtrace.web.settings import Settings

POSTGRES_PROCEDURE = """\
pg_dump is not on PATH. Install the PostgreSQL client tools of the server's major version
(Debian: apt-get install postgresql-client-15) and run `farmtrace backup` again, or by hand:

  pg_dump --format=custom --file=OUT "$FARMTRACE_DATABASE_URL"

For point-in-time recovery use pg_basebackup with WAL archiving instead (docs/operations.md,
"Backups and restore")."""


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def backup(out: Path) -> None:
    """Write a consistent backup of the database to OUT, while the service runs.

    SQLite: one self-contained file, copied through SQLite's backup API in one snapshot.
    PostgreSQL: pg_dump's custom format (needs pg_dump on PATH). Beside it, OUT.manifest.json
    records the time, the entry count, the latest checkpoint and the file's sha256.
    """
    settings = load_settings()
    try:
        if settings.is_sqlite:
            manifest = backup_sqlite(sqlite_file(settings.database_url), out)
        else:
            pg_dump = shutil.which("pg_dump")
            if pg_dump is None:
                click.echo(POSTGRES_PROCEDURE, err=True)
                sys.exit(1)
            manifest = backup_postgres(settings.database_url, out, pg_dump)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {out} ({manifest.bytes:,} bytes, sha256 {manifest.sha256})")
    click.echo(f"  entries     {manifest.entries:,}; latest checkpoint: tree size {manifest.tree_size:,}")
    click.echo(f"  manifest    {manifest_path(out)}")


@click.command()
@click.argument("backup_file", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint published after the backup (repeatable); the restored log must contain it. "
    "$FARMTRACE_HOME/checkpoints/latest is used too when it exists.",
)
@click.option("--root-key", help="The root public key (as for `farmtrace verify`). Default: root.pub.")
@click.option("--replace", is_flag=True, help="Replace a database that already holds data.")
@click.option(
    "--force",
    is_flag=True,
    help="SQLite: put the backup in place even if it fails verification (the exit status is still 1).",
)
@click.option("--workers", type=click.IntRange(1, 256), help="Processes verifying signatures.")
def restore(
    backup_file: Path,
    checkpoint_files: tuple[Path, ...],
    root_key: str | None,
    replace: bool,
    force: bool,
    workers: int | None,
) -> None:
    """Restore the database from IN (a `farmtrace backup` file), then verify it.

    Exit status 0 only if the restored store verifies and contains every published
    checkpoint; 1 otherwise, naming the checkpoint and the sizes. On SQLite the backup is
    verified beside the database and put in place (atomically) only if it passes; stop
    the service first (a database in use is refused). On PostgreSQL it is restored with
    pg_restore in one transaction into the configured database, then verified.
    """
    settings = load_settings()
    manifest = _checked_manifest(backup_file, settings)
    notes = _published(settings, checkpoint_files)
    try:
        if settings.is_sqlite:
            _restore_sqlite(settings, backup_file, notes, root_key, replace, force, workers)
        else:
            _restore_postgres(settings, backup_file, notes, root_key, replace, workers)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if manifest is not None and manifest.schema_revision != migrate.head_revision():
        click.echo(
            f"note: the backup's schema is at revision {manifest.schema_revision}; "
            "run `farmtrace db upgrade` before starting the service",
            err=True,
        )


def _checked_manifest(backup_file: Path, settings: Settings) -> Manifest | None:
    try:
        manifest = read_manifest(backup_file)
        if manifest is None:
            click.echo(
                f"warning: no {manifest_path(backup_file).name}: the file's integrity is not checked",
                err=True,
            )
            return None
        check_against_manifest(backup_file, manifest)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    engine = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest.engine != engine:
        raise click.ClickException(
            f"{backup_file} is a {manifest.engine} backup, but FARMTRACE_DATABASE_URL is {engine}"
        )
    click.echo(
        f"backup of {manifest.created_at}: {manifest.entries:,} entries, checkpoint size {manifest.tree_size:,}"
    )
    return manifest


def _published(settings: Settings, files: tuple[Path, ...]) -> list[tuple[str, str]]:
    """(where it came from, note) of every checkpoint the restored log must contain."""
    notes = [(str(path), _read(path, "checkpoint file")) for path in files]
    latest = latest_path(settings.home)
    if latest.is_file():
        notes.append((str(latest), _read(latest, "checkpoint file")))
    if not notes:
        click.echo(
            f"warning: no published checkpoint to check against ({latest} does not exist, no --checkpoint): "
            "a backup that lost entries cannot be told from a complete one",
            err=True,
        )
    return notes


def _restore_sqlite(
    settings: Settings,
    backup_file: Path,
    notes: list[tuple[str, str]],
    root_key: str | None,
    replace: bool,
    force: bool,
    workers: int | None,
) -> None:
    database = sqlite_file(settings.database_url)
    if database.exists() and database.stat().st_size > 0 and not replace:
        raise BackupError(f"the database {database} exists; pass --replace to replace it with the backup")
    ensure_not_in_use(database)
    staged = stage_sqlite(backup_file, database)
    engine = create_db_engine(f"sqlite:///{staged}")
    try:
        passed = _verify(engine, settings, notes, root_key, workers)
    finally:
        engine.dispose()
    if not passed and not force:
        discard(staged)
        click.echo(f"not restored: {database} is unchanged (pass --force to restore this backup anyway)")
        sys.exit(1)
    install_sqlite(staged, database)
    click.echo(f"restored {backup_file} to {database}")
    if not passed:
        click.echo("restored despite the failed verification (--force): do not start the service on it")
        sys.exit(1)


def _restore_postgres(
    settings: Settings,
    backup_file: Path,
    notes: list[tuple[str, str]],
    root_key: str | None,
    replace: bool,
    workers: int | None,
) -> None:
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError(
            "pg_restore is not on PATH; install the PostgreSQL client tools of the server's version"
        )
    if database_has_tables(settings.database_url) and not replace:
        raise BackupError(
            "the configured database holds tables; pass --replace to replace them with the backup"
        )
    restore_postgres(backup_file, settings.database_url, pg_restore, replace)
    click.echo(f"restored {backup_file} into the configured database")
    engine = create_db_engine(settings.database_url)
    try:
        passed = _verify(engine, settings, notes, root_key, workers)
    finally:
        engine.dispose()
    if not passed:
        click.echo("the restored database fails verification: do not start the service on it")
        sys.exit(1)


def _verify(
    engine: Engine,
    settings: Settings,
    notes: list[tuple[str, str]],
    root_key: str | None,
    workers: int | None,
) -> bool:
    """verify_store against the published checkpoints; prints the outcome, returns whether it passed."""
    root, source = _root_key(settings, root_key, engine)
    try:
        report = verify_store(
            engine, root, trusted_checkpoints=[note for _where, note in notes], workers=workers
        )
    except StoreVerificationError as exc:
        _report_loss(exc.report, notes)
        _print_failure(exc, root, source, as_json=False)
        return False
    except LedgerError as exc:
        raise BackupError(f"verification could not run: {exc}") from None
    _print_success(report, root, source, as_json=False)
    return True


def _report_loss(report: object, notes: list[tuple[str, str]]) -> None:
    """Name each published checkpoint the restored log is smaller than."""
    if not isinstance(report, VerifyReport):
        return
    for where, note in notes:
        try:
            size = checkpoint_of(note).size
        except LedgerError:
            continue
        if size > report.leaves:
            click.echo(
                f"LOST ENTRIES: the checkpoint in {where} was published at tree size {size:,}, "
                f"but the restored log has {report.leaves:,} leaves ({size - report.leaves:,} missing): "
                "this backup is older than what was published"
            )
