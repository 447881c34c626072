"""Getting rendered labels to printers: raw TCP (port 9100), a spool directory, CUPS raw
queues, a file, and the PrintJob runner that streams, confirms and resumes."""

from farmtrace.printer.transports.base import (
    TSPL_STATUS,
    ZPL_HOST_STATUS,
    PrinterStatusError,
    StatusQuery,
    Transport,
)
from farmtrace.printer.transports.cups import CupsTransport
from farmtrace.printer.transports.file import FileTransport
from farmtrace.printer.transports.job import JobResult, PrintJob, Progress
from farmtrace.printer.transports.preamble import WithPreamble
from farmtrace.printer.transports.spool import SpoolTransport
from farmtrace.printer.transports.switch import RunSwitch
from farmtrace.printer.transports.tcp import TcpTransport

__all__ = [
    "TSPL_STATUS",
    "ZPL_HOST_STATUS",
    "CupsTransport",
    "FileTransport",
    "JobResult",
    "PrintJob",
    "PrinterStatusError",
    "Progress",
    "RunSwitch",
    "SpoolTransport",
    "StatusQuery",
    "TcpTransport",
    "Transport",
    "WithPreamble",
]
