"""A fake ZPL network printer for the transport tests: a TCP server thread on 127.0.0.1 that
"prints" every complete ^XA...^XZ format it reads, answers ~HS, and can drop a connection at
a planned label, as a printer losing its network mid-job does."""

from __future__ import annotations

import re
import socket

from fake_tcp_server import FakeTcpServer

HS_OK = (
    b"\x02030,0,0,0240,000,0,0,0,000,0,0,0\x03\r\n"
    b"\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n"
    b"\x021234,0\x03\r\n"
)
HS_PAPER_OUT = HS_OK.replace(b"\x02030,0,", b"\x02030,1,", 1)


class FakeZebra(FakeTcpServer):
    def __init__(
        self,
        drop_at_label: list[int] | None = None,
        drop_before_reply: set[int] | None = None,
        status: bytes = HS_OK,
        reply: bool = True,
    ) -> None:
        super().__init__()
        # drop_at_label: when the n-th format (counted over all connections, from 0, printed
        # formats only) starts, close the connection and lose it and everything after it in
        # the buffer; each entry is used once, so [6, 6] drops twice at format 6.
        # drop_before_reply: print the n-th format, then close instead of answering ~HS.
        self.drop_at_label = list(drop_at_label or ())
        self.drop_before_reply = set(drop_before_reply or ())
        self.status = status
        self.reply = reply
        self.printed: list[str] = []
        self.formats_seen = 0

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        last_printed: int | None = None
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buffer += data
            while True:
                buffer = buffer.lstrip(b"\r\n ")
                if buffer.startswith(b"~HS"):
                    buffer = buffer[3:]
                    if last_printed is not None and last_printed in self.drop_before_reply:
                        self.drop_before_reply.discard(last_printed)
                        return
                    if self.reply:
                        conn.sendall(self.status)
                    continue
                if buffer.startswith(b"^XA"):
                    if self.formats_seen in self.drop_at_label:
                        self.drop_at_label.remove(self.formats_seen)
                        return  # connection lost: this format and the rest never arrive
                    end = buffer.find(b"^XZ")
                    if end < 0:
                        break
                    self._print(buffer[: end + 3])
                    last_printed = self.formats_seen
                    self.formats_seen += 1
                    buffer = buffer[end + 3 :]
                    continue
                break

    def _print(self, fmt: bytes) -> None:
        m = re.search(rb"\^FD[LMQH]A,(.*?)\^FS", fmt)
        self.printed.append(m.group(1).decode() if m else "?")
