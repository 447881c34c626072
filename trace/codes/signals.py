"""What a scan says about copies: pure functions of facts already read (docs/codes.md §11).

A genuine label is normally scanned a few times by one household. A copied label is one
genuine serial printed many times, so its scans pile up, spread over places, and may begin
before the batch was even packed (someone photographed the roll at the packing station).
None of these proves a fake; each is shown to the consumer as a warning with its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from farmtrace.trace.codes.scans import ScanSummary

FIRST_SCAN: Final = "first_scan"
REPEAT_SCANS: Final = "repeat_scans"
NOT_PACKED: Final = "not_packed"
BEFORE_PACKING: Final = "before_packing"
VOIDED: Final = "voided"
BURST: Final = "burst"
RECALLED: Final = "recalled"

# "Bursts from many places": this many distinct coarse places within the window.
BURST_PLACES: Final = 3
BURST_WINDOW: Final = timedelta(hours=24)

INFO, WARNING, DANGER = "info", "warning", "danger"


@dataclass(frozen=True)
class Signal:
    code: str
    level: str  # info, warning or danger
    count: int | None = None
    since: datetime | None = None
    reason: str | None = None


def scan_signals(
    summary: ScanSummary | None,
    *,
    packed_at: datetime | None,
    void_reason: str | None,
    recent_places: int,
    recalled: bool = False,
) -> tuple[Signal, ...]:
    """The signals for an issued code, most serious first."""
    signals: list[Signal] = []
    if void_reason is not None:
        signals.append(Signal(VOIDED, DANGER, reason=void_reason))
    if recalled:
        signals.append(Signal(RECALLED, DANGER))
    if summary is not None:
        if recent_places >= BURST_PLACES:
            signals.append(Signal(BURST, WARNING, count=recent_places))
        if packed_at is None:
            signals.append(Signal(NOT_PACKED, WARNING, since=summary.first_at))
        elif summary.first_at < packed_at:
            signals.append(Signal(BEFORE_PACKING, WARNING, since=summary.first_at))
        if summary.count > 1:
            signals.append(Signal(REPEAT_SCANS, WARNING, count=summary.count, since=summary.first_at))
        else:
            signals.append(Signal(FIRST_SCAN, INFO, count=1, since=summary.first_at))
    return tuple(signals)
