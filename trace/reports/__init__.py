"""Statistics for the county: reports for any period and scope, computed by the database.

build_report(session, period, scope) -> Report (trace.reports.report); periods from
trace.reports.period (day, month, year, custom, parse_period); exports in
trace.reports.export (CSV, XLSX, JSON); the versioned feed document in trace.reports.feed;
the data wall's and disclosure page's extra queries in trace.reports.live. Every figure is
defined in docs/reports.md.
"""
