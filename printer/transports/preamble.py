"""A transport wrapper that sends a preamble (for native ZPL, the job's font subset, ~DY) ahead
of the labels on every connection, and in every window when each window becomes its own spool
file or lp job, so the font reaches the printer before any label that needs it."""

from __future__ import annotations

from farmtrace.printer.transports.base import Transport


class WithPreamble:
    """Sends `preamble` (the ZPL font subset) in front of the first label after each open, and
    also after each confirm when every window is a separate file or print job."""

    def __init__(self, inner: Transport, preamble: bytes, every_window: bool) -> None:
        self.inner = inner
        self.preamble = preamble
        self.every_window = every_window
        self._due = True

    def open(self) -> None:
        self.inner.open()
        self._due = True

    def send(self, data: bytes) -> None:
        if self._due and data:
            data, self._due = self.preamble + data, False
        self.inner.send(data)

    def confirm(self) -> None:
        self.inner.confirm()
        self._due = self._due or self.every_window

    def close(self) -> None:
        self.inner.close()
