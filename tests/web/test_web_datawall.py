"""The data wall in headless Chromium at 1920×1080, on the engine under test.

The county's demonstration season is loaded, then on 1 December (the wall's "today") codes
are issued, items scanned and a complaint with a phone number received. The wall must show
those figures, fit the screen without scrolling, obey the CSP (no violation logged), refresh
itself by swapping in a fresh #wall, and never show a person's name or phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from browser import Browser, live_server
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Ledger
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.scans import Scanner, record_scan
from farmtrace.trace.complaints import ComplaintService
from farmtrace.trace.demo import load_demo
from farmtrace.trace.reports.charts import bar_chart_svg, line_chart_svg, meter_svg
from farmtrace.trace.services import trace_services
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings

TODAY = "2026-12-01"
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 in the county
PHONE = "13912345678"
SCANS = [0, 0, 1, 2, 2, 2, 5]  # item offsets: 7 scans of 4 items


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass(frozen=True)
class Seeded:
    items_coded: int
    scans: int
    unique_items: int


def seed(engine: Engine, home) -> Seeded:  # type: ignore[no-untyped-def]
    clock = Clock(NOON - timedelta(days=1))
    master = MasterKey.load_or_create(home / "keys" / "master.key")
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master, Ledger(session, clock=clock))
        demo = load_demo(session, keystore, clock)
        session.commit()
        clock.now = NOON
        t = trace_services(session, keystore, clock)
        issued = CodeService(t.ctx).issue("packer-wuhua", demo.batches["sweet-potato"], 40)
        from farmtrace.trace.codes.models import CodeRange

        first = session.get(CodeRange, issued.range_id).first_n  # type: ignore[union-attr]
        for i, offset in enumerate(SCANS):
            record_scan(
                session, first + offset, NOON + timedelta(minutes=i), Scanner(b"\x02" * 16, "n0011223344")
            )
        ComplaintService(t.ctx).submit(demo.batches["sweet-potato"], "quality", "红薯发芽了", phone=PHONE)
        session.commit()
    return Seeded(items_coded=40, scans=len(SCANS), unique_items=len(set(SCANS)))


@pytest.fixture(scope="module")
def wall_app(database_factory, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One seeded database for the module: the tests only read."""
    engine = create_db_engine(database_factory.new_url())
    tmp_path = tmp_path_factory.mktemp("wall")
    seeded = seed(engine, tmp_path)
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(tmp_path),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        }
    )
    yield create_app(settings, engine=engine), seeded
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as browser:
        yield browser


def test_the_wall_shows_the_figures_at_1920x1080(wall_app, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    app, seeded = wall_app
    # Every setTimeout of the page waits at most 300 ms: the 60 s refresh happens during the test.
    fast_timers = "const t = window.setTimeout; window.setTimeout = (f, ms) => t(f, Math.min(ms, 300));"
    with (
        live_server(app) as base,
        browser.new_page(
            1920, 1080, mobile=False, accept_language="zh-CN,zh", init_scripts=[fast_timers]
        ) as page,
    ):
        page.goto(f"{base}/wall?date={TODAY}")
        assert page.text("#today-scans") == str(seeded.scans)
        assert page.text("#today-codes") == str(seeded.items_coded)
        assert page.text("#month-scans") == str(seeded.scans)
        assert f"{seeded.unique_items}" in page.text("#kpi-today")
        assert "投诉 1 件" in page.text("#kpi-today")
        assert "五华县农村电子商务公共服务中心" in page.text("header")
        towns = page.text(".towns")
        assert "长布镇" in towns and "横陂镇" in towns
        assert "茶亭岗金柚" in page.text(".recalls"), "the pomelo recall is in force"
        assert "梅菜" in page.text(".labs") or "金柚" in page.text(".labs")
        assert page.evaluate("document.querySelectorAll('svg.chart').length") == 2
        assert page.evaluate("document.querySelectorAll('svg.chart rect.bar').length") == 30
        # Readable from across the room: big figures, and everything on one screen.
        assert (
            page.evaluate("parseFloat(getComputedStyle(document.querySelector('#today-scans')).fontSize)")
            >= 48
        )
        assert page.evaluate("document.documentElement.scrollHeight") <= 1080
        assert page.evaluate("document.documentElement.scrollWidth") <= 1920
        shot = page.screenshot("datawall-1920x1080")
        assert shot.stat().st_size > 20_000
        body = page.text("body")
        assert PHONE not in body and "张氏农户" not in body and "household-" not in body
        # The refresh swaps #wall for a freshly fetched one (marker gone, figures still there).
        page.evaluate("document.getElementById('wall').dataset.marker = 'old'")
        page.wait_for(
            "document.getElementById('wall') && !document.getElementById('wall').dataset.marker", timeout=10
        )
        assert page.text("#today-scans") == str(seeded.scans)
        problems = [
            m for m in page.console if re.search(r"Content Security Policy|Refused|Uncaught|exception", m)
        ]
        assert problems == []


def test_the_wall_needs_no_login_and_holds_no_personal_data(wall_app) -> None:  # type: ignore[no-untyped-def]
    app, _seeded = wall_app
    client = app.test_client()
    response = client.get(f"/wall?date={TODAY}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert PHONE not in html and "张氏农户" not in html and "household-zhang" not in html
    assert "<script>" not in html and " style=" not in html, "CSP: no inline script or style"
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in html
    assert client.get(f"/wall?date={TODAY}&lang=en").status_code == 200
    bad = client.get("/wall?date=2026-02-30")
    assert bad.status_code == 422
    assert "date: &#39;2026-02-30&#39; is not a real day" in bad.get_data(
        as_text=True
    ) or "is not a real day" in bad.get_data(as_text=True)


def test_charts_are_escaped_svg() -> None:
    svg = bar_chart_svg(["<a>", "b&c"], [3, 7], title='扫码 "<script>"', width=200, height=100, label_every=1)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') and svg.endswith("</svg>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;a&gt;" in svg and "b&amp;c" in svg
    heights = [
        float(h)
        for h in re.findall(r'<rect class="bar[^"]*" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)
    ]
    assert len(heights) == 2 and heights[0] / heights[1] == pytest.approx(3 / 7, rel=0.02)
    assert 'class="bar now"' in svg, "the latest day is marked"
    assert " style=" not in svg
    empty = bar_chart_svg([], [], title="none")
    assert "<rect" not in empty and empty.endswith("</svg>")
    line = line_chart_svg(["1", "2", "3"], [0, 5, 10], title="t", width=200, height=100)
    assert line.count("<polyline") == 1 and line.count("<circle") == 1
    assert 'width="150"' in meter_svg(0.5, title="x") and 'width="0"' in meter_svg(None, title="x")
    with pytest.raises(ValueError, match="labels and values differ in length: 1 and 2"):
        bar_chart_svg(["a"], [1, 2], title="t")
