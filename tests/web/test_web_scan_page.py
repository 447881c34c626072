"""The consumer's scan and batch pages: the Flask test client for statuses, headers, escaping,
404s and the report form; real headless Chromium at 390x844 for what a phone shows, the
in-browser verification (clean and tampered), CSP and inert producer-typed markup.

The site is Wuhua County's demo season (trace/demo/) plus a batch whose product name,
producer name and event text are XSS payloads. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser import Browser, Page, live_server
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from test_web_verify_js import edit_payload

from farmtrace.ledger.append import Ledger
from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SignerKey,
    format_verifier_key,
    generate_signer_key,
    parse_note,
)
from farmtrace.ledger.sequencer import integrate, latest_checkpoint
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.demo import OPERATOR, load_demo
from farmtrace.trace.serials import make_serial
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings
from farmtrace.web.witnessing import store_cosignatures

ORIGIN = "trace.wuhua.example.cn/farmtrace-log"
WITNESS = "witness.example.org"
XSS_NAME = '<script>alert("name")</script>javascript:alert(1)'
XSS_ORG = '<img src=x onerror=alert("org")>合作社'
XSS_TEXT = 'javascript:alert("text")<svg onload=alert(2)>'
PACKER = "packer-wuhua"
SETTLED = "document.getElementById('verify').dataset.state && document.getElementById('verify').dataset.state !== 'running'"
WEIGHT_LIMIT = 50 * 1024
ZH = "zh-CN,zh"  # a Chinese phone (Chromium here defaults to en-US)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass
class Site:
    engine: Engine
    settings: Settings
    batches: dict[str, str]
    serials: dict[str, list[str]]

    def app(self) -> Flask:
        return create_app(self.settings, engine=self.engine)

    def scan_path(self, name: str, index: int = 0) -> str:
        return f"/c/{self.serials[name][index]}"


def build_site(engine: Engine, home: Path, witness: bool = True) -> Site:
    clock = Clock(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    master = MasterKey.load_or_create(home / "keys" / "master.key")
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master, Ledger(session, clock=clock))
        demo = load_demo(session, keystore, clock)
        from farmtrace.trace.services import trace_services

        t = trace_services(session, keystore, clock)
        batches = dict(demo.batches)
        t.orgs.register(
            OPERATOR, {"id": "coop-xss", "kind": "cooperative", "name_zh": XSS_ORG, "place": "wuhua.changbu"}
        )
        t.products.register(
            "coop-xss", {"id": "xss-product", "name_zh": XSS_NAME, "category": "fruit", "unit": "kg"}
        )
        batches["xss"] = t.batches.register(
            "coop-xss",
            {
                "product": "xss-product",
                "lot": "X-1",
                "producers": ["coop-xss"],
                "origin_place": "changbu-highland-field",
                "unit": "kg",
                "expected_quantity": "10",
            },
            event_time=clock.now,
            client_id="xss-reg",
        ).batch
        t.events.record(
            batches["xss"],
            "farming.input",
            {
                "kind": "fertiliser",
                "product_name": XSS_TEXT,
                "dose": "1",
                "dose_unit": "kg/mu",
                "place": "changbu-highland-field",
                "area_mu": "1",
            },
            actor="coop-xss",
            event_time=clock.now,
            client_id="xss-input",
        )
        codes = CodeService(t.ctx)
        serials: dict[str, list[str]] = {}
        for name in ("sweet-potato", "meicai", "lychee", "xss"):
            issued = codes.issue(PACKER, batches[name], 8)
            row = session.get(CodeRange, issued.range_id)
            key = codes.keyring().get(row.key_id)
            serials[name] = [make_serial(key, n) for n in range(row.first_n, row.last_n + 1)]
        t.recalls.issue(
            OPERATOR, batches["lychee"], "抽检发现标签与实物不符 (test recall)", client_id="recall-1"
        )
        integrate(session, SignerKey(ORIGIN, keystore.log_key().seed))
        witness_keys = ""
        if witness:
            checkpoint = latest_checkpoint(session)
            assert checkpoint is not None
            signer = generate_signer_key(WITNESS, SIG_TYPE_COSIGNATURE_V1)
            line = cosign(parse_note(checkpoint.note).text, signer, 1_796_000_000)
            store_cosignatures(session, checkpoint, [line], [signer.verifier_key()], clock.now)
            witness_keys = format_verifier_key(signer.verifier_key())
        session.commit()
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(home),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "FARMTRACE_LOG_ORIGIN": ORIGIN,
            "FARMTRACE_PUBLIC_BASE_URL": "https://trace.wuhua.example.cn",
            "FARMTRACE_WITNESS_KEYS": witness_keys,
        }
    )
    return Site(engine, settings, batches, serials)


@pytest.fixture(scope="module")
def site(database_factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    engine = create_db_engine(database_factory.new_url())
    yield build_site(engine, tmp_path_factory.mktemp("scan-site"))
    engine.dispose()


@pytest.fixture(scope="module")
def app(site: Site) -> Flask:
    return site.app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def html_of(client: FlaskClient, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text[:500]
    return response.text


# -- the test client: statuses, headers, escaping ---------------------------------------------


def test_clean_scan_page_headers_verdicts_and_verify_section(site: Site, client: FlaskClient) -> None:
    response = client.get(site.scan_path("sweet-potato"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    html = response.text
    assert "五华高山红薯" in html and "五华县长布镇高山农产品专业合作社" in html
    assert "长布镇 · 元桥村" in html and "2026-10-15" in html
    assert "追溯码：正品" in html and "检测：1 次检测全部合格" in html and "召回：未被召回" in html
    assert "记录：服务器已核验" in html
    batch = site.batches["sweet-potato"]
    assert f'data-bundle-url="/bundle/{batch}.json"' in html and f'data-batch="{batch}"' in html
    assert f'data-origin="{ORIGIN}"' in html and re.search(r'data-root-key="[A-Za-z0-9+/]{43}="', html)
    assert re.search(r'<script src="/static/verify\.js\?v=[0-9a-f]{12}" defer>', html)
    assert 'role="alert"' not in html, "a clean batch shows no warning"
    assert "铅 Pb" in html and "GB 2762-2022" in html and "≤ 0.1 mg/kg" in html
    assert re.search(r'href="/documents/[0-9a-f]{64}" download', html)
    assert "要求 10～15 °C，实测 13.1 / 12.6 / 12.2 °C" in html
    assert 'name="csrf_token"' in html, "the scan page carries the report form"
    assert "农产品地理标志" in html
    assert re.search(r"公开检查点 #\d+，1 个独立见证方已联署", html)


def test_english_by_accept_language_and_switch(site: Site, client: FlaskClient) -> None:
    english = html_of(client, site.scan_path("sweet-potato"), **{"Accept-Language": "en-GB,en;q=0.9"})
    assert "Wuhua highland sweet potato" in english and "Tests: all 1 passed" in english
    assert '<html lang="en">' in english and 'href="?lang=zh"' in english
    assert "Tests: all" in html_of(client, f"/batch/{site.batches['sweet-potato']}?lang=en")


def test_warnings_recalled_failed_cold_chain(site: Site, client: FlaskClient) -> None:
    recalled = html_of(client, site.scan_path("lychee"))
    assert 'data-alert="recalled"' in recalled and "本批产品已被召回，请勿食用" in recalled
    assert "抽检发现标签与实物不符" in recalled and "12315" in recalled
    assert "召回：已被召回" in recalled
    assert "扶贫产品" in recalled, "the lychee's household has the poverty-alleviation mark on"
    assert "扶贫产品" not in html_of(client, site.scan_path("sweet-potato"))
    failed = html_of(client, site.scan_path("meicai"))
    assert 'data-alert="lab_failed"' in failed and "检测：有不合格项目" in failed
    assert "亚硝酸盐 nitrite (as NaNO2)：32 mg/kg（限量 20 mg/kg，GB 2762-2022）" in failed
    assert failed.index('data-alert="lab_failed"') < failed.index('class="timeline"'), "bad news first"
    no_test = html_of(client, f"/batch/{site.batches['xss']}")
    assert 'data-alert="no_test"' in no_test and "检测：暂无检测记录" in no_test


def test_counterfeit_suspect_after_many_scans(site: Site, client: FlaskClient) -> None:
    path = site.scan_path("sweet-potato", 3)
    for _ in range(6):
        client.get(path)
    html = html_of(client, path)
    assert 'data-alert="counterfeit"' in html and "疑似复制的标签" in html and "7 次" in html


def test_batch_page_etag_304_and_no_scan_count(site: Site, client: FlaskClient) -> None:
    path = f"/batch/{site.batches['sweet-potato']}"
    first = client.get(path)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "public, max-age=60"
    etag = first.headers["ETag"]
    assert etag and "Accept-Language" in first.headers["Vary"]
    assert "扫码次数" not in first.text and 'name="csrf_token"' not in first.text
    assert "Set-Cookie" not in first.headers, "a cacheable page sets no cookie"
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    english = client.get(path, headers={"If-None-Match": etag, "Accept-Language": "en"})
    assert english.status_code == 200 and english.headers["ETag"] != etag


def test_static_files_versioned_and_long_lived(client: FlaskClient) -> None:
    response = client.get("/static/verify.js?v=abc")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_documents_download_is_an_immutable_pdf_attachment(site: Site, client: FlaskClient) -> None:
    html = html_of(client, f"/batch/{site.batches['sweet-potato']}")
    sha = re.search(r'href="/documents/([0-9a-f]{64})"', html).group(1)  # type: ignore[union-attr]
    response = client.get(f"/documents/{sha}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "immutable" in response.headers["Cache-Control"]
    import hashlib

    assert hashlib.sha256(response.data).hexdigest() == sha
    assert client.get(f"/documents/{'0' * 64}").status_code == 404
    assert client.get("/documents/not-a-hash").status_code == 404


def test_unknown_codes_and_batches_get_a_friendly_404(site: Site, client: FlaskClient) -> None:
    for path in ("/batch/B000000000000", "/batch/nonsense", "/batch/<script>"):
        response = client.get(path)
        assert response.status_code == 404 and "没有找到这个批次" in response.text, path
        assert "<script>" not in response.text
    forged = client.get("/c/" + site.serials["sweet-potato"][0][:-3] + "ZZZ")
    assert forged.status_code == 404 and "追溯" in forged.text


def test_producer_typed_markup_is_escaped(site: Site, client: FlaskClient) -> None:
    for path in (site.scan_path("xss"), f"/batch/{site.batches['xss']}"):
        html = html_of(client, path)
        assert '<script>alert("name")' not in html and "<img src=x" not in html and "<svg onload" not in html
        assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;javascript:alert(1)" in html
        assert "&lt;img src=x onerror=alert(&#34;org&#34;)&gt;合作社" in html
        assert "javascript:alert(&#34;text&#34;)&lt;svg onload=alert(2)&gt;" in html
        assert 'href="javascript' not in html.lower() and "<script>" not in html


# -- the report form ----------------------------------------------------------------------------


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_report_form_posts_a_complaint(site: Site, app: Flask) -> None:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.0.1"
    batch = site.batches["sweet-potato"]
    token = _token(html_of(client, site.scan_path("sweet-potato", 1)))
    form = {
        "csrf_token": token,
        "problem_type": "quality",
        "text": "箱子里的红薯发霉了",
        "phone": "138 0013 8000",
    }
    form["serial"] = site.serials["sweet-potato"][1]
    done = client.post(f"/batch/{batch}/report", data=form)
    assert done.status_code == 200 and "已收到您的报告" in done.text
    from farmtrace.trace.complaints import ComplaintService
    from farmtrace.trace.context import TraceContext

    with Session(site.engine) as session:
        found = ComplaintService(TraceContext(session, None)).list(batch_id=batch)  # type: ignore[arg-type]
        assert any(c.text == "箱子里的红薯发霉了" and c.phone is None for c in found)


def test_report_form_refuses_missing_csrf_and_keeps_values(site: Site, app: Flask) -> None:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.0.2"
    batch = site.batches["sweet-potato"]
    form = {"problem_type": "safety", "text": "吃了不舒服 <b>", "phone": ""}
    refused = client.post(f"/batch/{batch}/report", data=form)
    assert refused.status_code == 400 and "表单已过期" in refused.text
    assert "吃了不舒服 &lt;b&gt;</textarea>" in refused.text and 'value="safety" selected' in refused.text
    page = client.get(f"/batch/{batch}/report")
    assert page.headers["Cache-Control"] == "no-store"
    bad_phone = client.post(
        f"/batch/{batch}/report", data={**form, "csrf_token": _token(page.text), "phone": "12"}
    )
    assert bad_phone.status_code == 422 and "电话号码格式不对" in bad_phone.text
    assert "吃了不舒服 &lt;b&gt;</textarea>" in bad_phone.text


def test_report_form_rate_limited(site: Site, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARMTRACE_RATE_LIMIT_FEEDBACK_CLIENT", "2/3600")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.0.3"
    batch = site.batches["meicai"]
    token = _token(client.get(f"/batch/{batch}/report").text)
    statuses = [
        client.post(
            f"/batch/{batch}/report",
            data={"csrf_token": token, "problem_type": "other", "text": f"第 {i} 次"},
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


# -- page weight ---------------------------------------------------------------------------------


def test_page_weight_under_50_kb_compressed(site: Site, client: FlaskClient) -> None:
    html = client.get(site.scan_path("sweet-potato", 2)).data
    css = client.get("/static/site.css").data
    js = client.get("/static/verify.js").data
    sizes = {name: len(gzip.compress(body, 9)) for name, body in (("html", html), ("css", css), ("js", js))}
    total = sum(sizes.values())
    print(
        f"\nscan page weight (gzip -9): {sizes} total {total} B; uncompressed {len(html) + len(css) + len(js)} B"
    )
    assert total < WEIGHT_LIMIT


# -- real Chromium at 390x844 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app: Flask) -> Iterator[str]:
    with live_server(app) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser.new_page(accept_language=ZH) as opened:
        yield opened


def csp_violations(page: Page) -> list[str]:
    return [line for line in page.console if "Content Security Policy" in line or "Refused to" in line]


def verify_state(page: Page) -> str:
    return page.evaluate("document.getElementById('verify').dataset.state")


def test_browser_clean_batch_verifies_on_the_phone(site: Site, server: str, page: Page) -> None:
    page.goto(server + site.scan_path("sweet-potato", 4), wait_for=SETTLED)
    assert verify_state(page) in ("verified", "partial"), page.text("#verify")
    text = page.text("#verify")
    assert ("在本机验证通过" if verify_state(page) == "verified" else "在本机核对了哈希和证明") in text
    if verify_state(page) == "verified":  # cosignatures are checked only where Ed25519 is
        assert "本站公布的 1 个独立见证方中，有 1 个联署了此检查点（已在本机核验）。" in text
    body = page.text()
    assert "五华高山红薯" in body and "检测：1 次检测全部合格" in body and "召回：未被召回" in body
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling at 390 px"
    assert not csp_violations(page), page.console
    page.screenshot("scan-page-clean")
    print(f"\nscan page transferred (uncompressed, werkzeug): {page.transferred_bytes()} B")


def test_browser_recalled_failed_counterfeit(site: Site, server: str, browser: Browser) -> None:
    cases = {
        "recalled": (site.scan_path("lychee", 1), "本批产品已被召回，请勿食用"),
        "failed": (site.scan_path("meicai", 1), "检测不合格"),
    }
    counterfeit = site.scan_path("sweet-potato", 5)
    for name, (path, warning) in cases.items():
        with browser.new_page(accept_language=ZH) as page:
            page.goto(server + path, wait_for=SETTLED)
            assert warning in page.text(".alerts"), name
            assert page.evaluate("document.querySelector('.alerts').getBoundingClientRect().top") < 844
            assert not csp_violations(page), page.console
            page.screenshot(f"scan-page-{name}")
    with browser.new_page(accept_language=ZH) as page:
        for _ in range(6):
            page.goto(server + counterfeit)
        page.goto(server + counterfeit, wait_for=SETTLED)
        assert "疑似复制的标签" in page.text(".alerts")
        page.screenshot("scan-page-counterfeit")


def test_browser_without_javascript_shows_the_server_check(site: Site, server: str, browser: Browser) -> None:
    with browser.new_page(javascript=False, accept_language=ZH) as page:
        page.goto(server + f"/batch/{site.batches['sweet-potato']}")
        text = page.text("#verify")
        assert "记录：服务器已核验" in text and "需要开启 JavaScript" in text
        page.screenshot("batch-page-no-js")


def test_browser_producer_markup_is_inert(site: Site, server: str, browser: Browser) -> None:
    trap = "window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));"
    with browser.new_page(init_scripts=[trap], accept_language=ZH) as page:
        url = server + site.scan_path("xss")
        page.goto(url, wait_for=SETTLED)
        assert page.evaluate("window.__alerts.length") == 0
        assert page.evaluate("location.href") == url
        assert XSS_NAME in page.text("h1")
        assert page.evaluate("document.querySelectorAll('script:not([src]), img, svg').length") == 0
        assert page.evaluate("[...document.links].filter(a => a.protocol === 'javascript:').length") == 0
        assert not csp_violations(page), page.console
        page.screenshot("scan-page-xss")


def test_browser_tampered_store_fails_verification(
    database_factory, tmp_path: Path, browser: Browser
) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(database_factory.new_url())
    try:
        tampered = build_site(engine, tmp_path, witness=False)
        batch = tampered.batches["sweet-potato"]
        edit_payload(engine, batch, 3, {"verdict": "pass", "sample_id": "FORGED"})
        with live_server(tampered.app()) as base, browser.new_page(accept_language=ZH) as page:
            page.goto(base + tampered.scan_path("sweet-potato"), wait_for=SETTLED)
            assert verify_state(page) == "failed"
            text = page.text("#verify")
            assert "验证失败：" in text and f"{batch}/3" in text, text
            assert "此批次的记录未通过核验" in page.text(".alerts")
            assert "记录：服务器核验未通过" in page.text("#verify")
            assert "尚无独立见证方联署" in page.text(".witnesses")
            page.screenshot("scan-page-tampered")
    finally:
        engine.dispose()


# -- the view model alone (web/public/story.py is pure) -----------------------------------------


def _input(check=None, **changes: object):  # type: ignore[no-untyped-def]
    from farmtrace.web.public.story import PlaceName, ServerCheck, StoryInput

    batch = {
        "id": "B000000000001",
        "lot": "L1",
        "product": {"name_zh": "脐橙", "name_en": None, "specification": None, "certificates": []},
        "producers": [
            {"id": "h1", "kind": "household", "name_zh": "农户"},
            {"id": "c1", "kind": "cooperative", "name_zh": "合作社"},
        ],
        "origin_place": "field",
        "production_date": None,
        "lab_tests": [{"verdict": "pass", "results": []}],
        "recalls": [],
        "recalled": False,
        "flags": [],
        "certificates": [
            {"scheme": "organic", "number": "N1", "issuer": "I", "valid_until": "2020-01-01", "valid": False}
        ],
        "inputs": [{"batch": "B000000000002"}, {"batch": "javascript:alert(1)"}],
        "outputs": [],
        "poverty_mark": False,
    }
    batch.update(changes)
    places = {
        "field": PlaceName("果园", None, "field", "v"),
        "v": PlaceName("村", None, "village", "t"),
        "t": PlaceName("镇", None, "town", None),
    }
    return StoryInput(batch=batch, entries=[], places=places, orgs={}, check=check or ServerCheck("ok", 3, 9))


def test_story_orders_bad_news_first_and_keeps_only_batch_links() -> None:
    from farmtrace.web.public.story import ServerCheck, build_story
    from farmtrace.web.public.story_load import translator

    flags = [
        {"seq": 4, "kind": "temperature_excursion", "message": "2 of 3 readings outside 2 to 8 °C"},
        {"seq": 5, "kind": "pre_harvest_interval", "message": "harvest 3 days after 多菌灵"},
    ]
    story = build_story(_input(flags=flags), translator("zh"))
    assert [a.code for a in story.alerts] == ["phi", "cold_chain", "cert_expired"]
    assert [a.level for a in story.alerts] == ["bad", "warn", "warn"]
    assert story.producers == ("合作社", "农户") and (story.town, story.village, story.origin) == (
        "镇",
        "村",
        "果园",
    )
    assert story.upstream == ("B000000000002",), "only a well-formed batch id becomes a link"
    assert [v.state for v in story.verdicts] == ["ok", "ok", "ok"]
    failed = build_story(_input(check=ServerCheck("failed", detail="B1/3: bad link")), translator("en"))
    assert (
        failed.alerts[0].code == "tampered"
        and failed.verdicts[-1].text == "Record: FAILED the server's check"
    )
