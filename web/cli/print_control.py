"""Steering a running print job from outside its label loop: a second thread polls the job row
for the console's pause / resume / cancel and writes the heartbeat by which other processes
tell a live job from a dead one; Ctrl-C and SIGTERM stop after the current label.

Both act on the run's RunSwitch: PrintJob for the ZPL and TSPL formats, Gate for a PDF.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.ledger.errors import LedgerError
from farmtrace.printer import LabelData
from farmtrace.printer.transports import RunSwitch
from farmtrace.trace import printing
from farmtrace.trace.errors import TraceError
from farmtrace.trace.printing import PrintJobView
from farmtrace.web.cli.context import write_session

POLL_SECONDS = float(os.environ.get("FARMTRACE_PRINT_POLL", "1"))


class Gate(RunSwitch):
    """The switch of a PDF run (PrintJob is its own): the label stream waits while paused and
    ends when cancelled, and `passed` counts the labels handed to the renderer."""

    def __init__(self) -> None:
        super().__init__()
        self.passed = 0

    def stream(self, labels: Iterator[LabelData | None]) -> Iterator[LabelData]:
        for label in labels:
            self.wait_while_paused()
            if self.cancelled:
                return
            self.passed += 1
            if label is not None:
                yield label


class Control(threading.Thread):
    """Polls the job row for the console's requests and writes the heartbeat.

    Used as a context manager around the run: started on entry, stopped and joined on exit,
    and when the run ended normally but another process took the job over meanwhile, that
    refusal is raised as the command's error."""

    def __init__(self, engine: Engine, job: PrintJobView, runner: str, target: RunSwitch) -> None:
        super().__init__(daemon=True, name=f"print-job-{job.id}-control")
        self.engine, self.job, self.runner, self.target = engine, job, runner, target
        self.stop = threading.Event()
        self.error: str | None = None

    def __enter__(self) -> Control:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.stop.set()
        self.join()
        if exc_type is None and self.error is not None:
            raise click.ClickException(self.error)

    def run(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            try:
                self._poll()
            except (TraceError, LedgerError) as exc:
                self.error = str(exc)  # taken over by another process: stop printing
                self.target.cancel()
                return
            except SQLAlchemyError:
                continue  # a database hiccup: try again on the next poll

    def _poll(self) -> None:
        with write_session(self.engine) as session:
            requested = printing.record_progress(session, self.job.id, self.runner, datetime.now(UTC))
        if requested == "cancelled":
            self.target.cancel()
        elif requested == "paused" and not self.target.paused:
            self.target.pause()
        elif requested == "running" and self.target.paused:
            self.target.resume()
            with write_session(self.engine) as session:
                printing.record_progress(
                    session, self.job.id, self.runner, datetime.now(UTC), state="running"
                )


@contextlib.contextmanager
def stop_on_signals(target: RunSwitch) -> Iterator[None]:
    """SIGINT / SIGTERM: stop after the current label, confirm what was sent, record it.
    A second Ctrl-C interrupts at once."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: Any) -> None:
        click.echo("stopping after the current label (Ctrl-C again to abort at once)", err=True)
        target.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
