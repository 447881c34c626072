"""`farmtrace sequencer`: integrate new entries into the Merkle log and sign checkpoints."""

from __future__ import annotations

import signal
import sys
import threading

import click

from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.sequencer import integrate, run_loop
from farmtrace.web.cli.context import connect, load_settings, log_signer, master_key, write_session


@click.command()
@click.option("--once", is_flag=True, help="Integrate what is waiting, sign one checkpoint, and exit.")
def sequencer(once: bool) -> None:
    """Run the sequencer (exactly one integrates at a time, however many run)."""
    settings = load_settings()
    engine = connect(settings)
    try:
        with write_session(engine) as session:
            signer = log_signer(settings, KeyStore(session, master_key(settings)))
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        with write_session(engine) as session:
            done = integrate(session, signer)
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

    run_loop(engine, signer, settings.sequencer_interval_s, stop, on_error=report)
