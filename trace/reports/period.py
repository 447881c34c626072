"""Report periods: a day, a month, a year or any [from, to) range of county days.

A period is a half-open range of local calendar days in the county's time zone
(China Standard Time by default); its bounds in UTC are what the queries compare stored
times against. China keeps no daylight saving time, so one fixed offset per period is
exact; the offset is still taken from the zone database at the period's start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from farmtrace.trace.errors import InvalidInput

COUNTY_TZ: Final = ZoneInfo("Asia/Shanghai")
KINDS: Final = ("day", "month", "year", "custom")
# The feed's names for the same kinds (docs/reports.md §JSON feed).
FEED_KINDS: Final = {"daily": "day", "monthly": "month", "annual": "year"}

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_MONTH = re.compile(r"\d{4}-\d{2}\Z", re.ASCII)
_YEAR = re.compile(r"\d{4}\Z", re.ASCII)
_EXPECTED = {"day": "YYYY-MM-DD like 2026-09-14", "month": "YYYY-MM like 2026-09", "year": "YYYY like 2026"}
MAX_CUSTOM_DAYS: Final = 3660


@dataclass(frozen=True)
class Period:
    """Local days `start` (inclusive) to `end` (exclusive) in `tz`."""

    kind: str
    start: date
    end: date
    tz: tzinfo = COUNTY_TZ

    @property
    def label(self) -> str:
        """2026-09-14, 2026-09, 2026, or 2026-09-01..2026-09-15 (end exclusive)."""
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "month":
            return self.start.strftime("%Y-%m")
        if self.kind == "year":
            return f"{self.start.year:04d}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def local_start(self) -> datetime:
        return datetime.combine(self.start, time(0), self.tz)

    def local_end(self) -> datetime:
        return datetime.combine(self.end, time(0), self.tz)

    def utc_bounds(self) -> tuple[datetime, datetime]:
        return self.local_start().astimezone(UTC), self.local_end().astimezone(UTC)

    def utc_offset_hours(self) -> float:
        offset = self.local_start().utcoffset()
        assert offset is not None
        return offset.total_seconds() / 3600

    def previous(self) -> Period:
        """The period of the same kind just before this one (for a comparison column)."""
        if self.kind == "day":
            return day(self.start - timedelta(days=1), self.tz)
        if self.kind == "month":
            last = self.start - timedelta(days=1)
            return month(last.year, last.month, self.tz)
        if self.kind == "year":
            return year(self.start.year - 1, self.tz)
        return custom(self.start - timedelta(days=self.days), self.start, self.tz)


def day(on: date, tz: tzinfo = COUNTY_TZ) -> Period:
    return Period("day", on, on + timedelta(days=1), tz)


def month(year_: int, month_: int, tz: tzinfo = COUNTY_TZ) -> Period:
    start = date(year_, month_, 1)
    end = date(year_ + 1, 1, 1) if month_ == 12 else date(year_, month_ + 1, 1)
    return Period("month", start, end, tz)


def year(year_: int, tz: tzinfo = COUNTY_TZ) -> Period:
    return Period("year", date(year_, 1, 1), date(year_ + 1, 1, 1), tz)


def custom(start: date, end: date, tz: tzinfo = COUNTY_TZ) -> Period:
    if not start < end:
        raise InvalidInput(
            "to", f"to: expected a day after from ({start.isoformat()}), found {end.isoformat()}"
        )
    if (end - start).days > MAX_CUSTOM_DAYS:
        raise InvalidInput(
            "to", f"to: a custom period is at most {MAX_CUSTOM_DAYS} days, found {(end - start).days}"
        )
    return Period("custom", start, end, tz)


def parse_period(kind: str, text: str, tz: tzinfo = COUNTY_TZ) -> Period:
    """`("month", "2026-09")` -> September 2026; `("custom", "2026-09-01..2026-09-15")`."""
    if kind == "custom":
        start_text, sep, end_text = text.partition("..")
        if not sep:
            raise InvalidInput(
                "date", f"date: expected FROM..TO like 2026-09-01..2026-09-15 (TO excluded), found {text!r}"
            )
        return custom(_parse_day(start_text, "from"), _parse_day(end_text, "to"), tz)
    if kind not in _EXPECTED:
        raise InvalidInput("period", f"period: expected one of {', '.join(KINDS)}, found {kind!r}")
    pattern = {"day": _DAY, "month": _MONTH, "year": _YEAR}[kind]
    if not isinstance(text, str) or not pattern.match(text):
        raise InvalidInput("date", f"date: expected {_EXPECTED[kind]} for a {kind}, found {str(text)[:40]!r}")
    try:
        if kind == "day":
            return day(date.fromisoformat(text), tz)
        if kind == "month":
            return month(int(text[:4]), int(text[5:7]), tz)
        return year(int(text), tz)
    except ValueError:
        raise InvalidInput("date", f"date: {text!r} is not a real {kind}") from None


def _parse_day(text: str, field: str) -> date:
    if not _DAY.match(text):
        raise InvalidInput(field, f"{field}: expected YYYY-MM-DD like 2026-09-01, found {text[:40]!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{field}: {text!r} is not a real day") from None


def containing(kind: str, moment: datetime, tz: tzinfo = COUNTY_TZ) -> Period:
    """The day, month or year (in `tz`) that contains `moment`."""
    local = moment.astimezone(tz).date()
    if kind == "day":
        return day(local, tz)
    if kind == "month":
        return month(local.year, local.month, tz)
    if kind == "year":
        return year(local.year, tz)
    raise InvalidInput("period", f"period: expected day, month or year, found {kind!r}")
