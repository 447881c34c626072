"""`farmtrace verify`: check the whole store, or one batch, starting from the root public key.

The root key is the one thing the check must not take from the database it checks: an
insider able to rewrite the database could replace keys/0 too. So it comes from
--root-key, else from root.pub in the keys directory (written by `farmtrace keys init`),
and only as a last resort, with a warning, from the database itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from farmtrace.ledger.encoding import b64decode
from farmtrace.ledger.entry import KEYS_CHAIN, parse_stored_entry
from farmtrace.ledger.errors import LedgerError, StoreVerificationError
from farmtrace.ledger.keys import key_id_for
from farmtrace.ledger.models import EntryRow
from farmtrace.ledger.verify import BatchReport, VerifyReport, parse_root_key, verify_batch, verify_store
from farmtrace.web.cli.context import connect, load_settings
from farmtrace.web.settings import Settings

ROOT_KEY_FILE = "root.pub"


@click.command()
@click.option("--batch", help="Check only this batch: its chain, signatures and inclusion proof.")
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A signed checkpoint kept outside this database (repeatable); the store must extend it.",
)
@click.option(
    "--root-key",
    help="The root public key ('<key id> <base64>', base64, or a file holding it). "
    f"Default: {ROOT_KEY_FILE} in the keys directory.",
)
@click.option(
    "--workers", type=click.IntRange(1, 256), help="Processes verifying signatures (default: one per CPU)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    batch: str | None,
    checkpoint_files: tuple[Path, ...],
    root_key: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Verify the ledger: encodings, hashes, chains, signatures, Merkle log, checkpoints.

    Exit status 0 only if everything holds; 1 if anything does not, naming the first bad
    item (batch/seq and leaf index, leaf, or checkpoint).
    """
    settings = load_settings()
    engine = connect(settings)
    root, source = _root_key(settings, root_key, engine)
    notes = [_read(path, "checkpoint file") for path in checkpoint_files]
    try:
        if batch is not None:
            with Session(engine) as session:
                report: VerifyReport | BatchReport = verify_batch(session, batch, root)
        else:
            report = verify_store(
                engine, root, trusted_checkpoints=notes, progress=_progress(as_json), workers=workers
            )
    except StoreVerificationError as exc:
        _print_failure(exc, root, source, as_json)
        sys.exit(1)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    _print_success(report, root, source, as_json)


def _root_key(settings: Settings, option: str | None, engine: Engine) -> tuple[bytes, str]:
    """The pinned root public key and where it came from."""
    try:
        if option is not None:
            path = Path(option)
            if path.is_file():
                return parse_root_key(_read(path, "root key file")), str(path)
            return parse_root_key(option), "--root-key"
        path = settings.keys_dir / ROOT_KEY_FILE
        if path.is_file():
            return parse_root_key(_read(path, "root key file")), str(path)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"warning: no --root-key and no {path}: trusting the root key recorded in the database "
        "(keys/0), which anyone able to rewrite the database could have replaced",
        err=True,
    )
    with Session(engine) as session:
        canonical = session.scalar(
            select(EntryRow.canonical).where(EntryRow.batch == KEYS_CHAIN, EntryRow.seq == 0)
        )
    if canonical is None:
        raise click.ClickException("no root key: the store has no key chain; run `farmtrace keys init` first")
    try:
        entry = parse_stored_entry(bytes(canonical))
        return b64decode(entry.payload["public_key"], "keys/0 payload.public_key"), "the database (keys/0)"
    except (LedgerError, KeyError, TypeError) as exc:
        raise click.ClickException(f"keys/0 does not hold a usable root key: {exc}") from None


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{what} {str(path)!r} cannot be read: {exc}") from None


def _progress(quiet: bool):  # type: ignore[no-untyped-def]
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\rchecked {done:,} of {total:,} entries", nl=done >= total, err=True)

    return show


def _print_success(report: VerifyReport | BatchReport, root: bytes, source: str, as_json: bool) -> None:
    if as_json:
        data = report.to_json() if isinstance(report, VerifyReport) else {**asdict(report), "ok": True}
        click.echo(json.dumps({**data, "root_key_source": source}, ensure_ascii=False, indent=2))
        return
    if isinstance(report, BatchReport):
        click.echo(f"OK: batch {report.batch} verifies (root key {key_id_for(root)} from {source})")
        click.echo(f"  entries      {report.entries:,}, {report.signatures:,} signatures verified")
        click.echo(
            f"  Merkle log   {report.included:,} of them in the checkpoint of size {report.tree_size:,} "
            f"({report.log_origin}), by an inclusion proof of the latest"
        )
        click.echo(f"  time         {report.elapsed_s:.2f} s")
        return
    click.echo(f"OK: the store verifies (root key {report.root_key_id} from {source})")
    _print_counts(report)


def _print_counts(report: VerifyReport) -> None:
    click.echo(
        f"  entries      {report.entries:,} in {report.batches:,} batches, {report.signatures:,} signatures "
        f"verified, {report.unsequenced:,} waiting for the sequencer"
    )
    click.echo(f"  Merkle log   {report.leaves:,} leaves, {report.stored_hashes:,} stored hashes recomputed")
    latest = (
        ""
        if report.root_hash is None
        else f"; latest: {report.log_origin} size {report.tree_size:,} root {report.root_hash}"
    )
    click.echo(f"  checkpoints  {report.checkpoints:,} checked{latest}")
    click.echo(f"  trusted      {report.trusted_checkpoints:,} checkpoints from outside the database")
    click.echo(f"  time         {report.elapsed_s:.2f} s ({report.entries_per_second():,.0f} entries/s)")


def _print_failure(exc: StoreVerificationError, root: bytes, source: str, as_json: bool) -> None:
    report = exc.report
    if as_json:
        data = report.to_json() if isinstance(report, VerifyReport) else {**asdict(report), "ok": False}  # type: ignore[call-overload]
        data["problems"] = [problem.to_json() for problem in exc.problems]
        click.echo(json.dumps({**data, "root_key_source": source}, ensure_ascii=False, indent=2))
        return
    click.echo(f"FAILED: {exc.problems[0]}")
    shown = exc.problems[:20]
    more = len(exc.problems) - len(shown) + getattr(report, "more_problems", 0)
    total = len(exc.problems) + getattr(report, "more_problems", 0)
    click.echo(f"  {total:,} {'problem' if total == 1 else 'problems'}, in order:")
    for problem in shown:
        click.echo(f"    {problem}")
    if more:
        click.echo(f"    ... and {more:,} more")
    click.echo(f"  checked with root key {key_id_for(root)} from {source}")
    if isinstance(report, VerifyReport):
        _print_counts(report)
