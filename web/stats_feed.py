"""The statistics feed for the upstream statistics system: GET /api/v1/stats/<kind>?date=.

kind is daily (date=2026-09-14), monthly (date=2026-09) or annual (date=2026); the body is
trace.reports.feed.feed_document, version "1", documented in docs/reports.md. Public and
unauthenticated: it holds county aggregates only (no person is named; poverty figures of
fewer than three households are withheld). Kept out of web/api (the token-scoped record
API) on purpose: a statistics system polls it with a plain GET.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.reports.feed import feed_document
from farmtrace.trace.reports.period import FEED_KINDS, parse_period
from farmtrace.web.datawall import TtlCache
from farmtrace.web.db import get_session

bp = Blueprint("stats_feed", __name__)

# A period still running changes by the minute; a finished one only when something is
# recorded late, which the rules allow, so it is not cached for long either.
CURRENT_MAX_AGE = 60
PAST_MAX_AGE = 600
# Pollers of the same period share one computation (a year of 10M scans takes seconds).
FEED_CACHE_SECONDS = 60


@bp.get("/api/v1/stats/<kind>")
def stats(kind: str) -> Response:
    date_text = request.args.get("date", "")
    if not date_text:
        raise InvalidInput(
            "date", "date: required, e.g. ?date=2026-09-14 (daily), 2026-09 (monthly), 2026 (annual)"
        )
    now = datetime.now(UTC)
    cache = TtlCache.of("stats_feed", FEED_CACHE_SECONDS)
    # A malformed kind or date raises InvalidInput (422) inside, and nothing is cached.
    document = cache.get((kind, date_text), lambda: feed_document(get_session(), kind, date_text, now=now))
    response = jsonify(document)
    ended = parse_period(FEED_KINDS[kind], date_text).utc_bounds()[1] <= now
    response.headers["Cache-Control"] = f"public, max-age={PAST_MAX_AGE if ended else CURRENT_MAX_AGE}"
    return response
