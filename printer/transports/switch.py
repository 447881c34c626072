"""Pause / resume / cancel for a run of labels: set from any thread (a console poller, a signal
handler), read by the run between labels."""

from __future__ import annotations

import threading


class RunSwitch:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()

    def pause(self) -> None:
        """Stop after the current label."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait_while_paused(self) -> None:
        """Block until resumed or cancelled; returns at once while running."""
        self._running.wait()
