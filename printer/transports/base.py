"""What a transport is, and the printer status queries that confirm delivery.

A transport moves bytes; `confirm()` returns only when everything sent so far is safe on the
other side, in that transport's sense (see docs/printing.md, "Delivery semantics"):
- raw TCP: the printer answered a status query sent after the labels (it has read them);
- spool directory: the chunk file was fsynced and atomically renamed into place;
- CUPS: `lp` accepted the chunk into the queue (CUPS persists it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from farmtrace.printer.errors import TransportError


class PrinterStatusError(TransportError):
    """The printer answered the status query with an error condition (paper out, head open...)."""


class Transport(Protocol):
    def open(self) -> None: ...

    def send(self, data: bytes) -> None: ...

    def confirm(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StatusQuery:
    """A request the printer answers only after reading everything sent before it."""

    name: str
    request: bytes
    complete: Callable[[bytes], bool]  # has the whole reply arrived?
    check: Callable[[bytes], None]  # raise PrinterStatusError on an error condition


def _zpl_hs_complete(reply: bytes) -> bool:
    return reply.count(b"\x03") >= 3


def zpl_check_host_status(reply: bytes) -> None:
    """ZPL II ~HS: three <STX>...<ETX><CR><LF> strings. String 1 field 2 is the paper-out flag;
    string 2 field 3 is head-up, field 4 ribbon-out (1 = condition present)."""
    strings = [part.split(b"\x03", 1)[0].decode("ascii", "replace") for part in reply.split(b"\x02")[1:]]
    if len(strings) < 3:
        raise PrinterStatusError(f"~HS reply: expected 3 status strings, found {reply!r}")
    one, two = strings[0].split(","), strings[1].split(",")
    if len(one) < 12 or len(two) < 9:
        raise PrinterStatusError(f"~HS reply: expected 12 and 11 fields, found {strings[:2]!r}")
    problems = [
        name
        for name, flag in (("paper out", one[1]), ("head up", two[2]), ("ribbon out", two[3]))
        if flag.strip() == "1"
    ]
    if problems:
        raise PrinterStatusError(f"printer status (~HS): {', '.join(problems)}")


# TSPL <ESC>!? returns one status byte; 0x10 (paused) and 0x20 (printing) are not errors.
_TSPL_STATUS_BITS = {
    0x01: "head opened",
    0x02: "paper jam",
    0x04: "out of paper",
    0x08: "out of ribbon",
    0x40: "other error (0x40)",
    0x80: "other error (0x80)",
}


def tspl_check_status(reply: bytes) -> None:
    if not reply:
        raise PrinterStatusError("<ESC>!? reply: expected one status byte, found none")
    status = reply[0]
    problems = [text for bit, text in _TSPL_STATUS_BITS.items() if status & bit]
    if problems:
        raise PrinterStatusError(f"printer status (<ESC>!? = 0x{status:02X}): {', '.join(problems)}")


ZPL_HOST_STATUS = StatusQuery("~HS", b"~HS", _zpl_hs_complete, zpl_check_host_status)
TSPL_STATUS = StatusQuery("<ESC>!?", b"\x1b!?", lambda reply: len(reply) >= 1, tspl_check_status)
