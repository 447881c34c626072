"""A TCP server thread on 127.0.0.1 for fake network devices (printers) in tests.

Subclasses implement `_handle(conn)`; this class accepts one connection at a time, counts
them, and stops when the `with` block ends.
"""

from __future__ import annotations

import socket
import threading
from typing import Self


class FakeTcpServer:
    def __init__(self) -> None:
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(0.2)
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError
