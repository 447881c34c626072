"""`farmtrace sequencer`: integrate new entries into the Merkle log and sign checkpoints."""

from __future__ import annotations

import signal
import sys
import threading

import click
from sqlalchemy.orm import Session

from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.sequencer import Integration, integrate, latest_checkpoint, run_loop
from farmtrace.web.cli.context import connect, load_settings, log_signer, master_key, write_session
from farmtrace.web.cli.published import checkpoint_of, latest_path, read_published, record_published
from farmtrace.web.settings import Settings


@click.command()
@click.option("--once", is_flag=True, help="Integrate what is waiting, sign one checkpoint, and exit.")
def sequencer(once: bool) -> None:
    """Run the sequencer (exactly one integrates at a time, however many run).

    Each checkpoint it signs is also kept in $FARMTRACE_HOME/checkpoints/latest, which
    `farmtrace restore` verifies a restored database against."""
    settings = load_settings()
    engine = connect(settings)
    try:
        with write_session(engine) as session:
            signer = log_signer(settings, KeyStore(session, master_key(settings)))
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    with Session(engine) as session:
        latest = latest_checkpoint(session)
    _refuse_to_fork(settings, 0 if latest is None else latest.tree_size, latest and bytes(latest.root_hash))
    if latest is not None:
        _publish(settings, latest.note)
    if once:
        with write_session(engine) as session:
            done = integrate(session, signer)
        if done is not None:
            _publish(settings, done.note)
        click.echo(
            "nothing to integrate" if done is None else f"tree size {done.old_size} -> {done.new_size}"
        )
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"sequencer: integrating every {settings.sequencer_interval_s} s")

    def report(exc: Exception) -> None:
        print(
            f"sequencer: round failed, will retry: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True
        )

    def published(done: Integration) -> None:
        _publish(settings, done.note)

    run_loop(engine, signer, settings.sequencer_interval_s, stop, on_error=report, on_integrated=published)


def _refuse_to_fork(settings: Settings, size: int, root: bytes | None) -> None:
    """Signing over a log smaller than (or different from) a published checkpoint forks it."""
    path = latest_path(settings.home)
    note = read_published(path)
    if note is None:
        return
    try:
        published = checkpoint_of(note)
    except LedgerError:
        return  # unreadable: proves nothing (and is replaced by the next checkpoint)
    if published.size > size or (published.size == size and root is not None and published.root_hash != root):
        raise click.ClickException(
            f"the database's log has {size} leaves, but {path} holds a published checkpoint of size "
            f"{published.size}{' with another root' if published.size == size else ''}: the database was "
            "restored from an older backup or lost entries, and signing now would fork the log. "
            "Restore a newer backup (`farmtrace restore` checks it against that file), or, to accept "
            "the loss, move the file aside (every witness that saw the checkpoint will raise an alarm)."
        )


def _publish(settings: Settings, note: str) -> None:
    """Keep the checkpoint in the local file; a failure to write it never stops the sequencer."""
    path = latest_path(settings.home)
    try:
        outcome = record_published(path, note)
    except (OSError, LedgerError) as exc:
        print(f"sequencer: cannot write {path}: {exc}", file=sys.stderr, flush=True)
        return
    if outcome == "older":
        print(
            f"sequencer: WARNING: signed a checkpoint smaller than the one published in {path}; "
            "if no other sequencer is ahead of this one, the log has lost entries",
            file=sys.stderr,
            flush=True,
        )
    if outcome == "conflict":
        print(
            f"sequencer: WARNING: {path} holds a checkpoint of the same size with another root; "
            "the database has forked from what was published. The file is kept as evidence.",
            file=sys.stderr,
            flush=True,
        )
