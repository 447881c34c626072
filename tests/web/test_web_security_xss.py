"""Stored and reflected XSS: every text a person can type holds a payload (web_security_county),
and every HTML page where those texts appear is opened in headless Chromium with the
Content-Security-Policy switched off (Page.setBypassCSP), so that escaping is tested on its
own and the CSP stays a second line. A payload that runs calls `xss(marker)` (or alert,
confirm, prompt, print), which the page reports to the test through a CDP binding.

Also: each payload shows literally wherever its marker shows (escaped, not parsed, not
evaluated as a template); every field the API documents as free text was typed in by the
seed; every console form, submitted with a payload in each text field, answers a page
with none of it parsed as markup; and every HTML response carries the strict CSP.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
import web_security_county
from browser import Browser, Page, live_server
from flask import Flask
from test_web_console_kit import Console
from web_security_county import ORGS, PRINT_ROUTE
from web_security_kit import OPERATOR, County, Payloads, signed_in
from web_security_matrix import MATRIX, path_values, url_for_rule
from werkzeug.test import TestResponse

from farmtrace.web.security import CONTENT_SECURITY_POLICY, register_security_headers

BINDING = "__xssHit"
# Runs before any page script (CDP-injected): the payloads' `xss` and the dialogs report here.
TRAP = f"""
window.xss = (marker) => window.{BINDING}(String(marker === undefined ? "(no marker)" : marker));
for (const name of ["alert", "confirm", "prompt", "print"]) {{
  window[name] = (message) => window.{BINDING}("dialog " + name + ": " + message);
}}
"""
# What the page shows: its text, the values of its fields, and links or actions that run script.
COLLECT = """(() => {
  const values = [...document.querySelectorAll('input, textarea, select')].map(e => e.value);
  const titles = [...document.querySelectorAll('[title], [aria-label], [alt]')]
    .map(e => [e.getAttribute('title'), e.getAttribute('aria-label'), e.getAttribute('alt')].join(' '));
  const scripted = [...document.querySelectorAll('[href], [src], [action], [formaction]')]
    .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || e.getAttribute('formaction'))
    .filter(v => /^\\s*javascript:/i.test(v));
  const inline = [...document.querySelectorAll('script:not([src])')].length;
  return {text: document.body ? document.body.innerText : '', values, titles, scripted, inline};
})()"""
# The scan and batch pages verify their record in the page (verify.js): wait for the verdict.
SETTLED = """document.readyState === 'complete' && (v => !v || (v.dataset.state && v.dataset.state !== 'running'))(
  document.querySelector('#verify[data-bundle-url]'))"""
# Free-text fields of the API (strings without a pattern, choice or format in the OpenAPI
# document) that are not texts a person types for others to read.
NOT_TYPED_TEXT = {
    ("POST", "/api/v1/batches/{batch}/codes", ".layout"),  # a label layout name, checked against the list
    ("POST", "/api/v1/batches/{batch}/complaints", ".phone"),  # checked as a phone number
    ("POST", "/api/v1/batches/{batch}/complaints", ".serial"),  # checked as a serial
    ("POST", "/api/v1/batches/{batch}/corrections", ".amends"),  # an entry hash
    ("POST", "/api/v1/codes/reprints", ".code"),  # a serial or URI, looked up
    ("POST", "/api/v1/codes/voids", ".code"),
    ("POST", "/api/v1/entries", ".signature"),  # base64
    ("POST", "/api/v1/orgs/{org}/keys", ".public_key"),  # base64
    ("POST", "/api/v1/orgs/{org}/users", ".password"),  # never shown
}


# Typed texts no HTML page shows: they are in the signed record (API, EPCIS export, proof
# bundle, JSON only), so they never reach a page. A page that starts showing one is checked
# by the test like any other; this list only keeps the test from asking for it.
NOT_SHOWN = {
    "POST /api/v1/batches .payload.notes",
    "POST /api/v1/batches/{batch}/corrections .payload.active_ingredient",
    "POST /api/v1/batches/{batch}/corrections .payload.notes",
    "POST /api/v1/batches/{batch}/corrections .payload.registration_number",
    "POST /api/v1/batches/{batch}/corrections .reason",
    "POST /api/v1/batches/{batch}/events/conformity.decided .payload.reason",
    "POST /api/v1/batches/{batch}/events/farming.harvested .payload.notes",
    "POST /api/v1/batches/{batch}/events/lab.tested .payload.notes",
    "POST /api/v1/batches/{batch}/events/logistics.delivered .payload.notes",
    "POST /api/v1/batches/{batch}/events/logistics.handed_off .payload.notes",
    "POST /api/v1/batches/{batch}/events/logistics.picked_up .payload.notes",
    "POST /api/v1/batches/{batch}/events/logistics.picked_up .payload.vehicle",
    "POST /api/v1/batches/{batch}/events/logistics.temperature .payload.device",
    "POST /api/v1/batches/{batch}/events/logistics.warehouse_in .payload.notes",
    "POST /api/v1/batches/{batch}/events/logistics.warehouse_out .payload.notes",
    "POST /api/v1/batches/{batch}/events/packing.packed .payload.notes",
    "POST /api/v1/batches/{batch}/events/processing.recorded .payload.description",
    "POST /api/v1/batches/{batch}/events/processing.recorded .payload.step",
    "POST /api/v1/batches/{batch}/events/sale.recorded .payload.notes",
    "POST /api/v1/documents ?filename",
    "POST /api/v1/keys/{key_id}/revoke .reason",
    "POST /api/v1/orgs .name_en",  # pages name organisations in Chinese in both languages
    # In English, the scan and batch pages show these for their batch's product and places,
    # and the wall its towns': not every product or place is on one of them.
    "POST /api/v1/products .name_en",
    "POST /api/v1/places .name_en",
    "POST /api/v1/recalls/{recall_id}/lift .reason",
    f"POST {PRINT_ROUTE} brand",
}


@pytest.fixture(scope="module")
def county(database_factory: Any) -> County:
    return web_security_county.county(database_factory)


@pytest.fixture(scope="module")
def app(database_factory: Any, tmp_path_factory: pytest.TempPathFactory, county: County) -> Iterator[Flask]:
    app = web_security_county.county_app(database_factory, tmp_path_factory.mktemp("xss"), county)
    yield app
    app.extensions["farmtrace.engine"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as launched:
        yield launched


# -- without a browser: the seed's coverage, forms, headers --------------------------------------


def free_text_fields(app: Flask) -> set[tuple[str, str, str]]:
    """(method, path, field) of every request-body string the OpenAPI document leaves free."""
    spec = app.test_client().get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]

    def walk(schema: dict[str, Any], path: str, depth: int = 0) -> Iterator[str]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        if depth > 8:
            return
        for key in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(key, []):
                yield from walk(sub, path, depth + 1)
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        for name, sub in schema.get("properties", {}).items():
            yield from walk(sub, f"{path}.{name}", depth + 1)
        if "array" in types and "items" in schema:
            yield from walk(schema["items"], f"{path}[]", depth + 1)
        if "string" in types and not {"pattern", "enum", "format", "const"} & set(schema):
            yield path

    found = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for content in operation.get("requestBody", {}).get("content", {}).values():
                found.update((method.upper(), path, f) for f in walk(content.get("schema", {}), ""))
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if (
                    parameter.get("in") == "query"
                    and method != "get"
                    and not {"pattern", "enum"} & set(schema)
                ):
                    found.add((method.upper(), path, f"?{parameter['name']}"))
    return found


def test_the_county_typed_a_payload_into_every_free_text_field_of_the_api(app: Flask, county: County) -> None:
    expected = free_text_fields(app) - NOT_TYPED_TEXT
    assert len(expected) > 40
    missing = sorted(expected - county.typed)
    assert not missing, f"free-text fields the seed (web_security_county) types nothing into: {missing}"


class Markup(HTMLParser):
    """What of a page would run script: inline scripts, on* handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value}>")


def script_in(html: str) -> list[str]:
    parser = Markup()
    parser.feed(html)
    parser.close()
    return parser.found


def checked_html(response: TestResponse) -> str:
    assert response.headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, response.request.path
    html = response.get_data(as_text=True)
    assert not script_in(html), (response.request.path, script_in(html))
    return html


@dataclass
class Visit:
    user: str | None  # console user, or None for the public
    url: str
    typed: bool  # whether the page shows anything typed (a payload's marker or a lot)


TYPED = re.compile(r"Z[A-Z]\d{3}|/onload=xss\(\)")


@dataclass
class Crawl:
    """The HTML pages to open in the browser, found through the test client."""

    visits: list[Visit] = field(default_factory=list)
    consoles: dict[str, Console] = field(default_factory=dict)


def html_pages(app: Flask, county: County) -> Crawl:
    """Every GET route of the matrix that answers HTML, as its least privileged caller (the
    operator's pages as its admin, who sees every token and user), with more values where
    one page cannot show everything: the other batches, organisations and print job."""
    crawl = Crawl()
    values = path_values(county, "tok_0000000000000000")
    ids = county.ids
    more = {
        "/batch/<batch_id>": {"batch_id": [ids["split_output"], ids["recalled_batch"]]},
        "/console/coop/batches/<batch_id>": {"batch_id": [ids["split_output"], ids["recalled_batch"]]},
        "/console/operator/orgs/<org_id>": {
            "org_id": [OPERATOR, *(o["id"] for o in ORGS if o["id"] != "coop-a")]
        },
        "/console/printing/jobs/<int:job_id>": {"job_id": [1]},
    }
    for (method, rule), access in sorted(MATRIX.items()):
        if method != "GET" or access.kind not in ("public", "console") or rule in SAME_PAGE:
            continue
        urls = [url_for_rule(rule, {**values, **access.args})]
        for name, others in more.get(rule, {}).items():
            urls += [url_for_rule(rule, {**values, name: other}) for other in others]
        user = (
            None
            if access.kind == "public"
            else ("op-admin" if access.area == "operator" else access.allowed_user)
        )
        client = _client(app, crawl, user)
        for url in urls:
            response = client.get(url)
            if response.mimetype == "text/html" and response.status_code == 200:
                html = checked_html(response)
                crawl.visits.append(Visit(user, url, TYPED.search(html) is not None))
    return crawl


SAME_PAGE = {"/c/<path:_serial>"}  # the view of /C/<serial>


def _client(app: Flask, crawl: Crawl, user: str | None) -> Any:
    if user is None:
        return app.test_client()
    if user not in crawl.consoles:
        crawl.consoles[user] = signed_in(app, user)
    return crawl.consoles[user].client


FORM = re.compile(r'<form [^>]*method="post"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
TEXT_FIELD = re.compile(
    r'<(?:input (?=[^>]*type="(?:text|search|number|tel|date|datetime-local|url)")[^>]*name="([^"]+)"'
    r'|textarea [^>]*name="([^"]+)")'
)


@pytest.fixture(scope="module")
def crawl(app: Flask, county: County) -> Crawl:
    return html_pages(app, county)


@pytest.fixture(scope="module")
def console_typed() -> Payloads:
    """Payloads the form test types into the console; the browser test checks them too."""
    return Payloads(prefix="ZF")


def test_every_console_form_answers_a_payload_in_each_field_without_markup(
    crawl: Crawl, console_typed: Payloads
) -> None:
    """Reflected XSS: each form found on each console page, every text field a payload; the
    answer (a 422 page with the values kept, or the page after a redirect) shows it escaped."""
    p = console_typed
    submitted = 0
    for visit in crawl.visits:
        if visit.user is None:
            continue
        console = crawl.consoles[visit.user]
        page = console.get(visit.url).get_data(as_text=True)
        for action, body in FORM.findall(page):
            if "/logout" in action or "/lang/" in action:
                continue
            fields = {a or b: p(500) for a, b in TEXT_FIELD.findall(body)}
            if not fields:
                continue
            response = console.post(action.replace("&amp;", "&"), fields, follow_redirects=True)
            assert response.status_code < 500, (action, response.status_code)
            if response.mimetype == "text/html":
                checked_html(response)
            submitted += 1
    assert submitted >= 15, submitted


# -- in the browser --------------------------------------------------------------------------


class Trap:
    """One tab with the CSP bypassed and `xss` wired to the test; collects every call, with
    the page it came from. The console user is switched by replacing the session cookie."""

    def __init__(self, browser: Browser) -> None:
        self.page: Page = browser.new_page(width=1280, height=900, mobile=False)
        self.hits: list[str] = []
        self.url = ""
        self._lock = threading.Lock()
        browser.cdp.listen(self.page.session, self._on_event)
        self.page.call("Page.setBypassCSP", {"enabled": True})
        self.page.call("Runtime.addBinding", {"name": BINDING})
        self.page.call("Page.addScriptToEvaluateOnNewDocument", {"source": TRAP})

    def __enter__(self) -> Trap:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.page.close()

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.bindingCalled" and params.get("name") == BINDING:
            with self._lock:
                self.hits.append(f"{self.url}: {params.get('payload', '')}")
        elif method == "Page.javascriptDialogOpening":
            with self._lock:
                self.hits.append(f"{self.url}: dialog {params.get('message')}")

    def sign_in(self, base_url: str, console: Console | None) -> None:
        """Browse as `console`'s user from now on (None: as the public)."""
        cdp, context = self.page.browser.cdp, self.page.context
        cdp.call("Storage.clearCookies", {"browserContextId": context})
        if console is None:
            return
        cookie = console.client.get_cookie("ft_session")
        assert cookie is not None
        session = {"name": "ft_session", "value": cookie.value, "url": base_url, "httpOnly": True}
        cdp.call("Storage.setCookies", {"browserContextId": context, "cookies": [session]})

    def open(self, url: str) -> dict[str, Any]:
        self.url = url
        self.page.goto(url, wait_for=SETTLED)
        # The reply comes after every event the page sent before it: no hit is left in flight.
        return self.page.evaluate(COLLECT)


# In English the scan and batch pages and the wall show products' and places' name_en (the
# console and the other pages name things in Chinese in both languages).
ENGLISH = ("/01/", "/C/", "/batch/", "/wall")


def test_no_payload_runs_and_each_shows_literally_on_every_page(
    app: Flask, county: County, crawl: Crawl, console_typed: Payloads, browser: Browser
) -> None:
    visits = [visit for visit in crawl.visits if visit.typed]  # the others hold nothing anyone typed
    assert len(visits) > 30, [v.url for v in crawl.visits]
    typed = {**county.payloads, **console_typed.texts}
    shown: dict[str, set[str]] = {}
    problems: list[str] = []
    by_user: dict[str | None, list[str]] = {}
    for visit in visits:
        by_user.setdefault(visit.user, []).append(visit.url + ("&" if "?" in visit.url else "?") + "lang=zh")
    by_user[None] += [url.replace("lang=zh", "lang=en") for url in by_user[None] if url.startswith(ENGLISH)]
    with live_server(app) as base, Trap(browser) as trap:
        for user, urls in by_user.items():
            trap.sign_in(base, None if user is None else crawl.consoles[user])
            for url in urls:
                seen = trap.open(base + url)
                problems += _literal_problems(typed, seen, url)
                if seen["scripted"] or seen["inline"]:
                    problems.append(f"{url}: javascript: URL or inline script {seen['scripted']}")
                for marker, text in county.payloads.items():
                    if text in _visible(seen):
                        shown.setdefault(marker, set()).add(url)
    problems += [f"payload ran on {hit}" for hit in trap.hits]
    assert not problems, "\n".join(problems)
    never = {
        county.where.get(text, marker) for marker, text in county.payloads.items() if marker not in shown
    }
    assert not never - NOT_SHOWN, "typed texts no page shows:\n" + "\n".join(sorted(never - NOT_SHOWN))


def _visible(seen: dict[str, Any]) -> str:
    return "\n".join([seen["text"], *seen["values"], *seen["titles"]])


def _literal_problems(payloads: dict[str, str], seen: dict[str, Any], url: str) -> list[str]:
    """A marker on the page without its payload beside it, whole or cut short with an
    ellipsis (lists shorten long texts): part of it was parsed as markup."""
    visible = _visible(seen)
    problems = []
    for marker, text in payloads.items():
        if not re.fullmatch(r"Z[A-Z]\d{3}", marker) or text in visible:
            continue
        for shown in re.finditer(rf"{marker}(?!\d)([^\n]*)", visible):
            line = shown.group(0)
            cut = re.search(r"(…|\.\.\.)", line)
            if cut is None or not text.startswith(line[: cut.start()]):
                problems.append(f"{url}: {marker} shown, but not as typed: {line[:160]!r}")
    return problems


def test_every_html_response_of_the_crawl_carries_the_strict_csp(app: Flask, crawl: Crawl) -> None:
    assert crawl.visits  # html_pages checked the header (and the markup) of each page it found
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    anonymous = app.test_client()
    for path in ("/no/such/page", "/batch/B000000000000", f"/console/operator/orgs/{OPERATOR}"):
        response = anonymous.get(path)
        if response.mimetype == "text/html":
            assert response.headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, path


def test_the_trap_sees_a_payload_that_runs_under_the_sites_own_csp(browser: Browser) -> None:
    """The browser test can fail: an unescaped payload, served with the site's CSP header,
    runs once the CSP is bypassed and is reported; the literal check sees the markup eaten."""
    page = Flask("xss-trap-check")
    register_security_headers(page)
    payloads = {"ZT001": "ZT001<img src=x onerror=xss('ZT001')>", "ZT002": "ZT002<b>x</b>"}

    @page.get("/")
    def unescaped() -> str:
        return f"<!doctype html><title>t</title><p>{payloads['ZT001']}</p><p>{payloads['ZT002']}</p>"

    with live_server(page) as base, Trap(browser) as trap:
        seen = trap.open(base + "/")
    assert trap.hits == [f"{base}/: ZT001"]
    assert len(_literal_problems(payloads, seen, "/")) == 2
