"""QR Code symbols (ISO/IEC 18004:2015) for label URIs, encoded with segno.

segno was chosen over qrcode on measured speed (see docs/printing.md and
bench/bench_printer.py) and because it exposes the chosen version and mode directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import segno

from farmtrace.printer.errors import QRFitError

ERROR_LEVELS = ("L", "M", "Q", "H")
# ISO/IEC 18004:2015 §7.4.4: the alphanumeric mode character set (45 characters).
ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
# ISO/IEC 18004:2015 §9.1: the quiet zone is 4 modules wide on all four sides.
QUIET_ZONE_MODULES = 4


@dataclass(frozen=True)
class QRSymbol:
    """One encoded QR symbol; `rows` excludes the quiet zone, 1 = dark module."""

    data: str
    version: int
    error: str
    mode: str
    size: int  # modules per side, 17 + 4 * version (ISO/IEC 18004:2015 §6.3.1)
    rows: tuple[bytes, ...] = field(repr=False)

    @property
    def size_with_quiet_zone(self) -> int:
        return self.size + 2 * QUIET_ZONE_MODULES

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """Horizontal runs of dark modules as (row, first column, length)."""
        runs = []
        for y, row in enumerate(self.rows):
            x = 0
            n = len(row)
            while x < n:
                if row[x]:
                    start = x
                    while x < n and row[x]:
                        x += 1
                    runs.append((y, start, x - start))
                else:
                    x += 1
        return runs


def qr_mode(data: str) -> str:
    """The single QR mode a label URI is encoded in: alphanumeric when it can be, else byte."""
    if data and all(ch in ALPHANUMERIC for ch in data):
        return "alphanumeric"
    return "byte"


def encode_qr(data: str, error: str = "M") -> QRSymbol:
    """Encode `data` in one segment at error-correction level `error`, smallest version."""
    if error not in ERROR_LEVELS:
        raise QRFitError(f"QR error level: expected one of L, M, Q, H, found {error!r}")
    mode = qr_mode(data)
    try:
        # One segment, no error boost: the printers' own QR encoders (ZPL ^BQ, TSPL
        # QRCODE in auto mode) pick the same version for the same data and level.
        qr = segno.make_qr(data, error=error, mode=mode, boost_error=False, encoding="utf-8")
    except segno.DataOverflowError as exc:
        raise QRFitError(
            f"URI of {len(data)} characters: too long for any QR version at error level "
            f"{error} in {mode} mode ({exc})"
        ) from exc
    rows = tuple(bytes(row) for row in qr.matrix)
    return QRSymbol(data=data, version=int(qr.version), error=error, mode=mode, size=len(rows), rows=rows)
