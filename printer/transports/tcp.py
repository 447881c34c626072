"""Raw TCP transport (the JetDirect / "port 9100" protocol Zebra and TSC network printers
speak): bytes in, optional status replies out.

Confirmation: with a `status_query` (ZPL ~HS, TSPL <ESC>!?), `confirm()` sends the query and
waits for the reply; TCP delivers in order and the printer reads its input in order, so a
reply proves every label sent before the query reached the printer's buffer. Without one
(printers whose network port is write-only), `confirm()` only proves the kernel accepted the
bytes; a connection lost afterwards may have lost them.
"""

from __future__ import annotations

import socket

from farmtrace.printer.errors import TransportError
from farmtrace.printer.transports.base import StatusQuery


class TcpTransport:
    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        status_query: StatusQuery | None = None,
        connect_timeout: float = 5.0,
        io_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.status_query = status_query
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._sock: socket.socket | None = None

    def _where(self) -> str:
        return f"printer {self.host}:{self.port}"

    def open(self) -> None:
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise TransportError(f"{self._where()}: cannot connect ({exc})") from exc
        sock.settimeout(self.io_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"{self._where()}: not connected")
        return self._sock

    def send(self, data: bytes) -> None:
        sock = self._require()
        try:
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"{self._where()}: send failed ({exc})") from exc

    def confirm(self) -> None:
        sock = self._require()
        query = self.status_query
        if query is None:
            return
        reply = b""
        try:
            sock.sendall(query.request)
            while not query.complete(reply):
                chunk = sock.recv(4096)
                if not chunk:
                    raise TransportError(f"{self._where()}: connection closed before the {query.name} reply")
                reply += chunk
        except OSError as exc:
            self.close()
            raise TransportError(f"{self._where()}: no {query.name} reply ({exc})") from exc
        query.check(reply)

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
