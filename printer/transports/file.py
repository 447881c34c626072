"""File transport: labels appended to one file, fsynced at each confirmation.

The confirmed length is what a caller records; reopening with that length (a reconnect, or a
resumed job) cuts the file back to it first, so every label is in the file exactly once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from farmtrace.printer.errors import TransportError


class FileTransport:
    """Labels appended to one file; `confirm()` fsyncs and remembers the length. Reopening
    (a retry, or a resumed job given its recorded length) cuts the file back to the last
    confirmed length, so every label is in the file exactly once."""

    def __init__(self, path: Path, confirmed_bytes: int = 0) -> None:
        self.path = path
        self.confirmed_bytes = confirmed_bytes
        self._file: BinaryIO | None = None

    def check(self) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self.confirmed_bytes:
            raise TransportError(
                f"{self.path}: expected at least the {self.confirmed_bytes:,} bytes confirmed so far, "
                f"found {size:,}; the file was changed since"
            )

    def open(self) -> None:
        self.close()
        try:
            self.check()
            self._file = open(self.path, "r+b" if self.path.exists() else "w+b")  # noqa: SIM115
            self._file.truncate(self.confirmed_bytes)
            self._file.seek(self.confirmed_bytes)
        except OSError as exc:
            raise TransportError(f"{self.path}: cannot open ({exc})") from exc

    def send(self, data: bytes) -> None:
        if self._file is None:
            raise TransportError(f"{self.path}: send before open")
        try:
            self._file.write(data)
        except OSError as exc:
            raise TransportError(f"{self.path}: write failed ({exc})") from exc

    def confirm(self) -> None:
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise TransportError(f"{self.path}: could not commit ({exc})") from exc
        self.confirmed_bytes = self._file.tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
