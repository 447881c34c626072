"""Spool-directory transport: one file per confirmed chunk of labels, renamed into place
atomically, for a print server or a USB-attached printer's watcher to pick up.

A chunk is written to a hidden `.name.tmp` file; `confirm()` fsyncs it and renames it to
`{job}-{first:08d}-{last:08d}.{extension}` (os.replace is atomic within one filesystem), so
a consumer never sees half a chunk and a crash leaves only a temp file, which `open()` of the
same job removes. Each label lands in exactly one visible file: exactly-once into the
directory (what the consumer does with it is the consumer's business).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from farmtrace.printer.errors import TransportError


class SpoolTransport:
    def __init__(self, directory: Path, job_id: str, extension: str = "zpl", start_index: int = 0) -> None:
        if not job_id or any(c in job_id for c in "/\\\0") or job_id.startswith("."):
            raise TransportError(f"job_id: expected a plain file-name stem, found {job_id!r}")
        self.directory = Path(directory)
        self.job_id = job_id
        self.extension = extension
        self.next_index = start_index  # label index of the next byte chunk sent
        self._first = start_index
        self._file: BinaryIO | None = None
        self._temp: Path | None = None

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for stale in self.directory.glob(f".{self.job_id}-*.tmp"):
                stale.unlink()
        except OSError as exc:
            raise TransportError(f"spool directory {self.directory}: {exc}") from exc
        self._discard()

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self.next_index = self._first  # the job resends the unconfirmed labels
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def send(self, data: bytes) -> None:
        """Append one label's bytes to the current chunk."""
        try:
            if self._file is None:
                self._first = self.next_index
                self._temp = self.directory / f".{self.job_id}-{self._first:08d}.tmp"
                self._file = open(self._temp, "wb")  # noqa: SIM115 (closed in confirm/close)
            self._file.write(data)
        except OSError as exc:
            raise TransportError(f"spool file {self._temp}: write failed ({exc})") from exc
        self.next_index += 1

    def confirm(self) -> None:
        if self._file is None or self._temp is None:
            return
        last = self.next_index - 1
        final = self.directory / f"{self.job_id}-{self._first:08d}-{last:08d}.{self.extension}"
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._temp, final)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # make the rename itself durable
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise TransportError(f"spool file {final}: could not commit ({exc})") from exc
        finally:
            self._file = None
        self._temp = None

    def close(self) -> None:
        # Unconfirmed bytes are dropped, never half-published.
        self._discard()
