"""The data wall (大数据展示墙): a full-screen page for the operations centre's display.

GET /wall shows today's and this month's county figures, this month's activity per town,
30-day trends as server-rendered SVG, the latest lab results and the recalls in force; it
refreshes itself every 60 s (static/wall.js, or a <noscript> meta refresh).

/wall needs no login, by design: it shows only aggregate, non-personal figures (Report.public():
no household or complainant appears, poverty figures behind fewer than three households are
withheld), so it is safe on a screen facing a visitors' hall, or on the internet. `?date=`
shows another day (rehearsals, screenshots); figures are cached for WALL_CACHE_SECONDS per
day, so any number of screens costs one computation per interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from flask import Blueprint, Response, current_app, g, make_response, render_template, request
from markupsafe import Markup
from sqlalchemy.orm import Session

from farmtrace.trace.reports import charts, live
from farmtrace.trace.reports.figures import Figures
from farmtrace.trace.reports.period import COUNTY_TZ, day, month, parse_period
from farmtrace.trace.reports.report import ReportRow, county_figures, scope_rows
from farmtrace.trace.reports.scopes import Scope
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("datawall", __name__)
T = TypeVar("T")

REFRESH_SECONDS: Final = 60
WALL_CACHE_SECONDS: Final = 30
TREND_DAYS: Final = 30


@dataclass(frozen=True)
class WallView:
    county: str
    day: date
    today: Figures
    month: Figures
    towns: tuple[ReportRow, ...]
    scans_chart: Markup
    sales_chart: Markup
    lab_results: tuple[live.LabResultView, ...]
    recalls: tuple[live.RecallView, ...]
    computed_at: datetime


def build_wall(session: Session, on: date, now: datetime) -> WallView:
    """Everything the wall shows for day `on` (public figures only)."""
    this_month = month(on.year, on.month)
    series = live.daily_series(session, on, TREND_DAYS)
    labels = [d.strftime("%m-%d") for d in series["scans"].days]
    scans_chart = charts.bar_chart_svg(
        labels, series["scans"].values, title=translate("wall.chart.scans", days=TREND_DAYS)
    )
    sales_chart = charts.line_chart_svg(
        labels, series["sales"].values, title=translate("wall.chart.sales", days=TREND_DAYS)
    )
    return WallView(
        county=live.county_name(session) or translate("site.name"),
        day=on,
        today=county_figures(session, day(on)).public(),
        month=county_figures(session, this_month).public(),
        towns=tuple(
            ReportRow(r.member, r.figures.public()) for r in scope_rows(session, this_month, Scope.TOWN)
        ),
        # The SVG functions escape every label they are given.
        scans_chart=Markup(scans_chart),  # noqa: S704
        sales_chart=Markup(sales_chart),  # noqa: S704
        lab_results=tuple(live.latest_lab_results(session, limit=6)),
        recalls=tuple(live.recalls_in_force(session, limit=4)),
        computed_at=now,
    )


class TtlCache:
    """Values by key for a few seconds; thread-safe, one per app and use. Public pages and the
    feed share figures that cost seconds on a large store: compute them once per interval."""

    def __init__(self, seconds: float, max_entries: int = 64) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        value = make()
        with self._lock:
            if len(self._values) >= self.max_entries:
                self._values.clear()
            self._values[key] = (time.monotonic() + self.seconds, value)
        return value

    @staticmethod
    def of(name: str, seconds: float) -> TtlCache:
        """The app's cache called `name` (made on first use)."""
        caches = current_app.extensions.setdefault("farmtrace.ttl_caches", {})
        return caches.setdefault(name, TtlCache(seconds))


@bp.get("/wall")
def wall() -> Response:
    now = datetime.now(UTC)
    text = request.args.get("date")
    on = now.astimezone(COUNTY_TZ).date() if not text else parse_period("day", text).start
    view = TtlCache.of("wall", WALL_CACHE_SECONDS).get(
        (on, g.locale), lambda: build_wall(get_session(), on, now)
    )
    html = render_template("wall/wall.html", v=view, refresh=REFRESH_SECONDS, fmt=Formats())
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


class Formats:
    """Number formatting for the wall: large, round, with separators."""

    @staticmethod
    def count(value: int | None) -> str:
        return "—" if value is None else f"{value:,}"

    @staticmethod
    def quantity(value: Decimal | None) -> str:
        if value is None:
            return "—"
        if value >= 10_000:
            return f"{value / 1000:,.1f} " + translate("wall.unit.tonnes")
        return f"{value:,.0f} " + translate("wall.unit.kg")

    @staticmethod
    def percent(value: Decimal | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    @staticmethod
    def hours(value: Decimal | None) -> str:
        return "—" if value is None else f"{value:.1f} h"

    @staticmethod
    def time(moment: datetime) -> str:
        return moment.astimezone(COUNTY_TZ).strftime("%m-%d %H:%M")

    @staticmethod
    def clock(moment: datetime) -> str:
        return moment.astimezone(COUNTY_TZ).strftime("%H:%M")
