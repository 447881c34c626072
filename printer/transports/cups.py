"""CUPS raw transport: each confirmed chunk becomes one `lp -o raw` job.

Bytes are buffered in an unnamed temporary file (not memory) until `confirm()`, which runs
`lp -d DEST -o raw` with the chunk on stdin and succeeds when lp exits 0: CUPS has accepted
the job into its spool (persisted; cupsd delivers it). A failed lp means the chunk was not
queued, so resending it does not duplicate, except when lp dies after cupsd accepted the job,
which this transport cannot see.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import BinaryIO

from farmtrace.printer.errors import TransportError


class CupsTransport:
    def __init__(
        self, destination: str, title: str = "farmtrace labels", lp: str = "lp", timeout: float = 60.0
    ) -> None:
        self.destination = destination
        self.title = title
        self.lp = lp
        self.timeout = timeout
        self._buffer: BinaryIO | None = None
        self.job_ids: list[str] = []

    def open(self) -> None:
        if shutil.which(self.lp) is None:
            raise TransportError(
                f"CUPS: {self.lp!r} not found on PATH; install the CUPS client (cups-client) "
                "or use the TCP or spool transport"
            )
        self.close()
        self._buffer = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())

    def send(self, data: bytes) -> None:
        if self._buffer is None:
            raise TransportError("CUPS transport: send before open")
        self._buffer.write(data)

    def confirm(self) -> None:
        buffer = self._buffer
        if buffer is None or buffer.tell() == 0:
            return
        buffer.seek(0)
        command = [self.lp, "-d", self.destination, "-o", "raw", "-t", self.title]
        try:
            done = subprocess.run(
                command, stdin=buffer, capture_output=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TransportError(f"CUPS: {' '.join(command)} failed ({exc})") from exc
        if done.returncode != 0:
            raise TransportError(
                f"CUPS: {' '.join(command)} exited {done.returncode}: "
                f"{done.stderr.decode(errors='replace').strip()}"
            )
        self.job_ids.append(done.stdout.decode(errors="replace").strip())
        buffer.seek(0)
        buffer.truncate()

    def close(self) -> None:
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
