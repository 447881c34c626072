"""PrintJob: stream rendered labels to a transport in constant memory, confirm them in
windows, reconnect with backoff, and report how far printing is known to have got.

Indices: the job's chunks are labels `start_index`, `start_index + 1`, ... (one chunk per
label, as iter_zpl/iter_tspl yield them). `confirmed_until` is the index of the first label
NOT yet confirmed: a caller records it, and a later job resumes with
`start_index=confirmed_until` and the labels from there on.

Delivery is at-least-once: after a lost connection the unconfirmed window (at most
`confirm_every` labels) is sent again, so a label the printer had already read but not yet
acknowledged prints twice. With `confirm_every=1` and a status query, a duplicate needs the
connection to drop between the printer reading a label and its status reply. Labels are never
skipped: a missing label is worse on a packing line than a duplicate of the same code.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from farmtrace.printer.errors import PrinterError, TransportError
from farmtrace.printer.transports.base import Transport
from farmtrace.printer.transports.switch import RunSwitch


@dataclass(frozen=True)
class Progress:
    sent: int  # labels handed to the transport in this run (resends not counted)
    confirmed_until: int  # first label index not yet confirmed
    state: str  # "running", "paused", "reconnecting", "done", "cancelled", "failed"


@dataclass(frozen=True)
class JobResult:
    start_index: int
    confirmed_until: int
    cancelled: bool
    reconnects: int

    @property
    def confirmed(self) -> int:
        return self.confirmed_until - self.start_index


class PrintJob(RunSwitch):
    """Prints `chunks` through `transport` (see the module docstring). pause(), resume() and
    cancel() may come from any thread; pause stops after the current label and confirms what
    was sent before waiting, cancel stops after confirming what was sent."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        transport: Transport,
        *,
        start_index: int = 0,
        confirm_every: int = 50,
        on_progress: Callable[[Progress], None] | None = None,
        max_retries: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        if confirm_every < 1:
            raise PrinterError(f"confirm_every: expected >= 1, found {confirm_every}")
        super().__init__()
        self._chunks = chunks
        self._transport = transport
        self.start_index = start_index
        self.confirm_every = confirm_every
        self._on_progress = on_progress
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.sent = 0
        self.confirmed_until = start_index
        self.reconnects = 0

    # -- the run --------------------------------------------------------------------------------
    def _report(self, state: str) -> None:
        if self._on_progress is not None:
            self._on_progress(Progress(self.sent, self.confirmed_until, state))

    def run(self) -> JobResult:
        """Print everything (blocking). Raises TransportError when the printer stays
        unreachable after `max_retries` reconnects, and re-raises a render error from the
        chunk iterator, in both cases after confirming what it can; `confirmed_until` is then
        where to resume."""
        chunks = iter(self._chunks)
        pending: deque[bytes] = deque()  # sent, not confirmed: at most confirm_every chunks
        failures = 0
        connected = False
        exhausted = False
        render_error: PrinterError | None = None
        try:
            while True:
                try:
                    if not connected:
                        self._transport.open()
                        connected = True
                        for chunk in pending:  # at-least-once: resend the unconfirmed window
                            self._transport.send(chunk)
                    while (
                        len(pending) < self.confirm_every
                        and not exhausted
                        and render_error is None
                        and self._running.is_set()
                        and not self._cancel.is_set()
                    ):
                        try:
                            chunk = next(chunks)
                        except StopIteration:
                            exhausted = True
                            break
                        except PrinterError as exc:
                            render_error = exc
                            break
                        pending.append(chunk)
                        self._transport.send(chunk)
                        self.sent += 1
                    if pending:
                        self._transport.confirm()
                        self.confirmed_until += len(pending)
                        pending.clear()
                        self._report("running")
                    failures = 0
                except TransportError as exc:
                    self._transport.close()
                    connected = False
                    failures += 1
                    if failures > self.max_retries or self._cancel.is_set():
                        self._report("failed")
                        # Same class (PrinterStatusError stays one) with where to resume.
                        raise type(exc)(
                            f"{exc}; gave up after {failures} attempts; labels before index "
                            f"{self.confirmed_until} are confirmed, resume from there"
                        ) from exc
                    self.reconnects += 1
                    self._report("reconnecting")
                    delay = min(self.backoff_max, self.backoff_initial * 2 ** (failures - 1))
                    self._cancel.wait(delay)
                    continue
                if render_error is not None:
                    raise render_error
                if exhausted:
                    self._report("done")
                    return self._result(False)
                if self._cancel.is_set():
                    self._report("cancelled")
                    return self._result(True)
                if not self._running.is_set():
                    self._report("paused")
                    self._running.wait()
        finally:
            self._transport.close()

    def _result(self, cancelled: bool) -> JobResult:
        return JobResult(self.start_index, self.confirmed_until, cancelled, self.reconnects)
