"""The statistics feed for the upstream statistics system (数据统计), version 1.

GET /api/v1/stats/{daily|monthly|annual}?date=... serves feed_document(); docs/reports.md
("JSON feed") is its contract. Compatibility promise of version "1": members are only ever
added, never renamed, removed or retyped; a figure's definition never changes meaning
under the same name; a breaking change is a new version at a new path (/api/v2/...).
The feed is public data: county aggregates only, Report.public() applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.reports.export import common_sections, figure_json, period_json
from farmtrace.trace.reports.figures import PUBLIC_MIN_HOUSEHOLDS
from farmtrace.trace.reports.period import FEED_KINDS, parse_period
from farmtrace.trace.reports.report import ReportRow, build_report, scope_rows
from farmtrace.trace.reports.scopes import Scope

FEED_VERSION: Final = "1"
FEED_KIND_NAMES: Final = tuple(FEED_KINDS)


def feed_document(session: Session, kind: str, date_text: str, now: datetime | None = None) -> dict[str, Any]:
    """The feed for one day ("daily", "2026-09-14"), month ("monthly", "2026-09") or year
    ("annual", "2026"). Raises InvalidInput naming `kind` or `date` when malformed."""
    if kind not in FEED_KINDS:
        raise InvalidInput("kind", f"kind: expected one of {', '.join(FEED_KIND_NAMES)}, found {kind[:40]!r}")
    period = parse_period(FEED_KINDS[kind], date_text)
    generated_at = now or datetime.now(UTC)
    report = build_report(session, period, Scope.TOWN, now=generated_at).public()
    products = tuple(
        ReportRow(r.member, r.figures.public()) for r in scope_rows(session, period, Scope.PRODUCT)
    )
    return {
        "version": FEED_VERSION,
        "kind": kind,
        "period": period_json(report),
        "generated_at": generated_at.isoformat(),
        "county": figure_json(report.county),
        "towns": [_row(r) for r in report.rows],
        "products": [_row(r) for r in products],
        **common_sections(report),
        "withheld": (
            "poverty_* figures are null where fewer than "
            f"{PUBLIC_MIN_HOUSEHOLDS} poverty-alleviation households are behind them"
        ),
    }


def _row(row: ReportRow) -> dict[str, Any]:
    return {
        "id": row.member.key,
        "name_zh": row.member.name_zh,
        "name_en": row.member.name_en,
        "figures": figure_json(row.figures),
    }
