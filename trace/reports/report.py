"""A report: the county's figures for a period, broken down by a scope, plus the lab
failures by analyte and sales by channel. Built by build_report(session, period, scope)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy.orm import Session

from farmtrace.trace.reports import queries, sales, shipments
from farmtrace.trace.reports.figures import Figures, figures_from
from farmtrace.trace.reports.period import Period
from farmtrace.trace.reports.scopes import COUNTY_KEY, UNASSIGNED, Member, Scope, members
from farmtrace.trace.reports.sql import as_decimal

GROUPS: Final = (
    queries.batches,
    queries.codes,
    queries.scans,
    queries.lab_tests,
    queries.recalls,
    shipments.shipments,
    queries.excursions,
    sales.sales,
    queries.complaints,
)


@dataclass(frozen=True)
class ReportRow:
    member: Member
    figures: Figures


@dataclass(frozen=True)
class AnalyteFailures:
    analyte: str
    failures: int  # failed results
    batches: int


@dataclass(frozen=True)
class ChannelSales:
    channel: str
    sales: int
    kg: Decimal
    litres: Decimal
    units: Decimal


@dataclass(frozen=True)
class HouseholdSales:
    """PERSONAL DATA: one poverty-alleviation household's sales. Operator exports only."""

    household: str
    name_zh: str
    sales: int
    kg: Decimal
    litres: Decimal
    units: Decimal


@dataclass(frozen=True)
class ComplaintRecord:
    """PERSONAL DATA (the phone number): one complaint. Operator exports only."""

    id: int
    batch_id: str
    product_id: str | None
    problem_type: str
    status: str
    created_at: datetime
    phone: str | None


@dataclass(frozen=True)
class Report:
    period: Period
    scope: Scope
    generated_at: datetime
    county: Figures
    rows: tuple[ReportRow, ...]
    failures_by_analyte: tuple[AnalyteFailures, ...]
    sales_by_channel: tuple[ChannelSales, ...]
    complaints_by_type: tuple[tuple[str, int], ...]
    # None unless asked for: households by name and complaints with phone numbers make the
    # report personal data (exports then say so on their first row / first sheet).
    households: tuple[HouseholdSales, ...] | None = None
    complaint_records: tuple[ComplaintRecord, ...] | None = None

    @property
    def personal_data(self) -> bool:
        return self.households is not None or self.complaint_records is not None

    def public(self) -> Report:
        """The report as it may be published: no household list, small poverty counts withheld."""
        return replace(
            self,
            county=self.county.public(),
            rows=tuple(ReportRow(r.member, r.figures.public()) for r in self.rows),
            households=None,
            complaint_records=None,
        )


def figures_by_key(
    session: Session, period: Period, scope: Scope, window: queries.Window | None = None
) -> dict[str | None, Figures]:
    """Figures per scope key (only keys that had anything in the period)."""
    window = window or queries.Window.open(session, period, scope)
    merged = queries._merge(*(group(window) for group in GROUPS))
    return {key: figures_from(values) for key, values in merged.items()}


def county_figures(session: Session, period: Period, window: queries.Window | None = None) -> Figures:
    return figures_by_key(session, period, Scope.COUNTY, window).get(COUNTY_KEY, Figures())


def scope_rows(session: Session, period: Period, scope: Scope) -> tuple[ReportRow, ...]:
    """One row per member of `scope` (every town, cooperative or product, active or not),
    then "unassigned" when it had anything, so the rows add up to the county."""
    by_key = figures_by_key(session, period, scope)
    listed = members(session, scope)
    rows = tuple(ReportRow(m, by_key.get(m.key, Figures())) for m in listed)
    if None in by_key:
        rows += (ReportRow(UNASSIGNED[scope], by_key[None]),)
    known = {m.key for m in listed}
    # A key that is no longer a member (a place re-kinded) still adds up to the county.
    stray = sorted(k for k in by_key if k is not None and k not in known)
    return rows + tuple(ReportRow(Member(k, k, k), by_key[k]) for k in stray)


def build_report(
    session: Session,
    period: Period,
    scope: Scope = Scope.COUNTY,
    *,
    include_personal: bool = False,
    now: datetime | None = None,
) -> Report:
    """The report for `period`: county totals, one row per member of `scope` (every town,
    cooperative or product, active or not, plus "unassigned" when it had anything)."""
    generated_at = now or datetime.now(UTC)
    window = queries.Window.open(session, period, Scope.COUNTY)
    county = county_figures(session, period, window)
    rows = (
        (ReportRow(UNASSIGNED[Scope.COUNTY], county),)
        if scope is Scope.COUNTY
        else scope_rows(session, period, scope)
    )
    failures = tuple(AnalyteFailures(a, n, b) for a, n, b in queries.failures_by_analyte(window))
    channels = tuple(_channel(row) for row in sales.sales_by_channel(window))
    by_type = tuple(queries.complaints_by_type(window))
    households = records = None
    if include_personal:
        records = tuple(
            ComplaintRecord(**{**row, "created_at": _aware(row["created_at"])})
            for row in queries.complaint_list(window)
        )
        households = tuple(
            HouseholdSales(
                row["household"],
                row["name_zh"],
                int(row["sales"] or 0),
                as_decimal(row["sales_mass"]),
                as_decimal(row["sales_volume"]),
                as_decimal(row["sales_count"]),
            )
            for row in sales.household_sales(window)
        )
    return Report(period, scope, generated_at, county, rows, failures, channels, by_type, households, records)


def _channel(row: dict[str, Any]) -> ChannelSales:
    return ChannelSales(
        str(row["channel"]),
        int(row["sales"] or 0),
        as_decimal(row["sales_mass"]),
        as_decimal(row["sales_volume"]),
        as_decimal(row["sales_count"]),
    )


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
