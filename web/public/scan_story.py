"""The story and the report form of a scan page (web/public/resolver.py renders them)."""

from __future__ import annotations

from typing import Any

from flask import g

from farmtrace.trace.codes.facts import ScanFacts
from farmtrace.web.api.context import services, settings
from farmtrace.web.public.feedback import problem_types
from farmtrace.web.public.pages import story_page_args
from farmtrace.web.public.story_load import load_story, note_head, scan_info


def scan_page_extras(facts: ScanFacts, signals: list[dict[str, str]]) -> dict[str, Any]:
    """`story`, the page's verify section arguments and the inline report form's values."""
    codes = [s.code for s in facts.signals]
    translated = [{"code": code, **signal} for code, signal in zip(codes, signals, strict=True)]
    locale = g.get("locale", "zh")
    assert facts.batch_id is not None
    note_head(facts.batch_id, facts.head)  # read with the code: no second query for it
    story = load_story(
        services().ctx,
        facts.batch_id,
        locale=locale,
        origin=settings().log_origin,
        scan=scan_info(facts, translated),
    )
    if story is None:
        return {"story": None, "report": None}
    return {
        **story_page_args(story),
        "report": {"values": {"serial": facts.serial or ""}, "errors": {}, "types": problem_types(locale)},
    }
