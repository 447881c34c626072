"""The console in real headless Chromium at 390×844 (a phone), across roles:
register a batch (with a validation failure that keeps the form's values) → record a
pesticide → the harvest, whose pre-harvest warning shows before submitting → a lab result
with its PDF → hand-off to the packing station → issue codes → scan a code back with the
camera (a stand-in BarcodeDetector). Screenshots go to test-artifacts/console-*.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_web_console_kit as kit
from browser import ARTIFACTS_DIR, Browser, Page, PageError, live_server
from flask import Flask
from test_web_console_kit import PASSWORD, PDF, local

app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")

# A camera and a barcode detector for a headless browser: the "camera" is a canvas stream,
# and the detector "sees" whatever window.__scanValue holds.
FAKE_CAMERA = """
window.BarcodeDetector = class {
  constructor() {}
  detect() {
    return Promise.resolve(window.__scanValue ? [{ rawValue: window.__scanValue, format: 'qr_code' }] : []);
  }
};
Object.defineProperty(navigator, 'mediaDevices', { configurable: true, value: {
  getUserMedia: function () {
    var canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    var context = canvas.getContext('2d');
    setInterval(function () { context.fillRect(0, 0, 64, 64); }, 50);
    return Promise.resolve(canvas.captureStream(10));
  }
}});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as launched:
        yield launched


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def settle(page: Page, expression: str, timeout: float = 15.0) -> object:
    """Wait for `expression` across navigations (a page being replaced answers nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = page.evaluate(f"!!({expression})")
        except PageError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"waited {timeout} s for {expression}\n{page.text()}\n" + "\n".join(page.console)
            )
        time.sleep(0.05)


def fill(page: Page, form: str, values: dict[str, str | bool]) -> None:
    page.evaluate(
        f"""(() => {{
          const form = document.querySelector({json.dumps(form)});
          const values = {json.dumps(values)};
          for (const [name, value] of Object.entries(values)) {{
            const controls = form.querySelectorAll(`[name="${{name}}"]`);
            if (!controls.length) throw new Error('no field ' + name);
            for (const control of controls) {{
              if (control.type === 'checkbox') control.checked = value === true || control.value === value;
              else control.value = value;
            }}
            controls[0].dispatchEvent(new Event('change', {{ bubbles: true }}));
          }}
        }})()"""
    )


def submit(page: Page, button: str, arrived: str) -> None:
    """Click `button` (a real click: the form's submit button) and wait until `arrived` holds."""
    page.evaluate(
        f"window.__leaving = true; setTimeout(() => document.querySelector({json.dumps(button)}).click(), 0)"
    )
    settle(page, f"!window.__leaving && document.readyState === 'complete' && !!({arrived})")


def login(browser: Browser, base_url: str, username: str, **page_options: object) -> Page:
    page = browser.new_page(width=390, height=844, accept_language="zh-CN,zh", **page_options)
    page.goto(f"{base_url}/console/login")
    fill(page, "form", {"username": username, "password": PASSWORD})
    submit(page, "form button[type=submit]", "location.pathname === '/console/'")
    return page


def upload(page: Page, selector: str, path: Path) -> None:
    document = page.call("DOM.getDocument", {"depth": -1})
    node = page.call("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector})
    page.call("DOM.setFileInputFiles", {"files": [str(path)], "nodeId": node["nodeId"]})


def no_csp_violations(page: Page) -> None:
    assert not [m for m in page.console if "Content Security Policy" in m or "exception" in m], page.console


def test_the_main_flow_across_roles_on_a_phone(browser: Browser, base_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)

    # -- the cooperative registers a batch; the first try has a mistake ----------------------
    coop = login(browser, base_url, "coop-user")
    coop.goto(f"{base_url}/console/coop/batches/new")
    fill(
        coop,
        "#register-form",
        {
            "product": "changbu-potato",
            "producers": "coop-changbu",
            "origin_place": "changbu-field",
            "unit": "kg",
            "quantity": "三百",
            "expected_quantity": "1200",
            "notes": "高山红薯，<b>霜降</b>前采收",
            "event_time": local(now - timedelta(days=10)),
        },
    )
    submit(coop, "#register-form button[type=submit]", "document.querySelector('#f-quantity-error')")
    assert coop.evaluate("document.querySelector('#f-quantity').value") == "三百"
    assert coop.evaluate("document.querySelector('#f-expected_quantity').value") == "1200"
    assert coop.evaluate("document.querySelector('#f-notes').value") == "高山红薯，<b>霜降</b>前采收"
    assert coop.evaluate("document.querySelector('#f-product').value") == "changbu-potato"
    assert coop.evaluate("document.querySelector('input[name=producers]').checked") is True
    assert "三百" in coop.text("#f-quantity-error")
    assert coop.evaluate("document.querySelector('#f-quantity').getAttribute('aria-invalid')") == "true"
    # 360-390 px: nothing wider than the screen.
    assert coop.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    coop.screenshot("console-register-error")
    fill(coop, "#register-form", {"quantity": ""})
    submit(
        coop,
        "#register-form button[type=submit]",
        "/\\/console\\/coop\\/batches\\/B[0-9A-Z]{12}$/.test(location.pathname)",
    )
    batch = coop.evaluate("location.pathname.split('/').pop()")
    assert "已登记批次" in coop.text(".flash")

    # -- a pesticide two days ago, then the harvest today ---------------------------------------
    coop.goto(f"{base_url}/console/coop/batches/{batch}/input")
    fill(
        coop,
        "#event-form",
        {
            "kind": "pesticide",
            "product_name": "吡虫啉",
            "registration_number": "PD20080123",
            "active_ingredient": "吡虫啉",
            "dose": "20",
            "dose_unit": "g/mu",
            "pre_harvest_interval_days": "7",
            "event_time": local(now - timedelta(days=2)),
        },
    )
    submit(coop, "#event-form button[type=submit]", f"location.pathname.endsWith('/batches/{batch}')")
    coop.goto(f"{base_url}/console/coop/batches/{batch}/harvest")
    # The warning shows as soon as the page knows the time: before anything is submitted.
    settle(coop, "!document.getElementById('phi-live').hidden")
    assert "安全间隔期" in coop.text("#phi-live")
    fill(coop, "#event-form", {"quantity": "800", "unit": "kg"})
    coop.screenshot("console-harvest-warning")
    fill(coop, "#event-form", {"event_time": local(now - timedelta(days=2) + timedelta(days=8))})
    settle(coop, "document.getElementById('phi-live').hidden")  # outside the interval: no warning
    fill(coop, "#event-form", {"event_time": local(now)})
    settle(coop, "!document.getElementById('phi-live').hidden")
    submit(coop, "#event-form button[type=submit]", "document.querySelector('#confirm-harvest')")
    assert coop.evaluate("document.querySelector('#f-quantity').value") == "800"
    submit(coop, "#confirm-harvest", f"location.pathname.endsWith('/batches/{batch}')")
    assert "未过安全间隔期" in coop.text("#flags")
    no_csp_violations(coop)
    coop.close()

    # -- the lab: the sample is waiting; results with the report PDF ------------------------------
    lab = login(browser, base_url, "lab-user")
    lab.goto(f"{base_url}/console/lab/")
    assert batch in lab.text("#awaiting")
    lab.goto(f"{base_url}/console/lab/batches/{batch}/test")
    fill(
        lab,
        "#lab-form",
        {
            "sample_id": "MZ-2026-0412",
            "verdict": "pass",
            "results-0-analyte": "吡虫啉",
            "results-0-method": "GB/T 20769-2008",
            "results-0-value": "0.02",
            "results-0-limit": "0.5",
            "results-0-limit_standard": "GB 2763-2021",
            "results-0-unit": "mg/kg",
            "results-0-verdict": "pass",
        },
    )
    report = tmp_path / "检测报告.pdf"
    report.write_bytes(PDF)
    upload(lab, "#f-report", report)
    # Not signed yet: refused, and the typed results and the uploaded report are kept.
    submit(lab, "#lab-form button.primary", "document.querySelector('#f-sign-error')")
    assert lab.evaluate("document.querySelector('#f-results-0-value').value") == "0.02"
    assert "已上传" in lab.text("#report-kept")
    lab.screenshot("console-lab-sign-missing")
    fill(lab, "#lab-form", {"sign": True})
    submit(lab, "#lab-form button.primary", "location.pathname === '/console/lab/'")
    assert "已签名记录" in lab.text(".flash")
    assert (
        batch not in lab.text("#awaiting") if lab.evaluate("!!document.querySelector('#awaiting')") else True
    )
    no_csp_violations(lab)
    lab.close()

    # -- the cooperative hands the batch to the packing station -----------------------------------
    coop = login(browser, base_url, "coop-user")
    coop.goto(f"{base_url}/console/logistics/batches/{batch}")
    coop.evaluate("document.getElementById('section-handoff').open = true")
    fill(coop, "#form-handoff", {"movement": "handed_off", "to": "packer-wuhua", "place": "county-warehouse"})
    coop.screenshot("console-handoff")
    submit(coop, "#form-handoff button[type=submit]", "document.querySelector('.flash')")
    assert "五华包装站" in coop.text("#custodian")
    coop.close()

    # -- the packing station issues codes, then scans one back -----------------------------------
    packer = login(browser, base_url, "packer-user", init_scripts=[FAKE_CAMERA])
    packer.goto(f"{base_url}/console/packing/batches/{batch}")
    fill(packer, "#form-issue", {"count": "0"})
    submit(packer, "#form-issue button[type=submit]", "document.querySelector('#f-count-error')")
    assert packer.evaluate("document.querySelector('#f-count').value") == "0"
    fill(packer, "#form-issue", {"count": "5"})
    submit(packer, "#form-issue button[type=submit]", "document.querySelector('.flash')")
    assert "已签发 5 个码" in packer.text(".flash")
    packer.screenshot("console-codes-issued")
    export = packer.evaluate(
        "fetch(document.querySelector('a[href$=\"codes.csv\"]').href).then(r => r.text())"
    )
    uri = export.splitlines()[1].split(",")[1]
    packer.goto(f"{base_url}/console/packing/")
    packer.evaluate(f"window.__scanValue = {json.dumps(uri)}")
    settle(packer, "document.querySelector('.scan-button')")
    submit(packer, ".scan-button", f"location.pathname.endsWith('/packing/batches/{batch}')")
    no_csp_violations(packer)
    packer.close()
    assert (ARTIFACTS_DIR / "console-harvest-warning.png").stat().st_size > 0


def test_without_javascript_the_harvest_check_step_still_warns(browser: Browser, base_url: str) -> None:
    coop = login(browser, base_url, "coop-user")
    coop.goto(f"{base_url}/console/coop/batches/new")
    fill(
        coop,
        "#register-form",
        {
            "product": "changbu-potato",
            "unit": "kg",
            "expected_quantity": "9",
            "event_time": local(datetime.now(UTC) - timedelta(days=5)),
        },
    )
    submit(
        coop, "#register-form button[type=submit]", "/\\/batches\\/B[0-9A-Z]{12}$/.test(location.pathname)"
    )
    batch = coop.evaluate("location.pathname.split('/').pop()")
    coop.goto(f"{base_url}/console/coop/batches/{batch}/input")
    fill(
        coop,
        "#event-form",
        {
            "kind": "pesticide",
            "product_name": "阿维菌素",
            "registration_number": "PD20070404",
            "active_ingredient": "阿维菌素",
            "dose": "30",
            "dose_unit": "mL/mu",
            "pre_harvest_interval_days": "14",
            "event_time": local(datetime.now(UTC) - timedelta(days=1)),
        },
    )
    submit(coop, "#event-form button[type=submit]", f"location.pathname.endsWith('/batches/{batch}')")
    coop.close()
    # A browser without JavaScript (page scripts off; the test still reads the page over CDP).
    plain = browser.new_page(width=360, height=740, javascript=False, accept_language="zh-CN,zh")
    plain.goto(f"{base_url}/console/login")
    fill(plain, "form", {"username": "coop-user", "password": PASSWORD})
    plain.evaluate("document.querySelector('form button[type=submit]').click()")
    settle(plain, "location.pathname === '/console/' && document.readyState === 'complete'")
    plain.goto(f"{base_url}/console/coop/batches/{batch}/harvest")
    assert plain.evaluate("document.getElementById('phi-live').hidden") is True  # console-phi.js did not run
    fill(plain, "#event-form", {"quantity": "100", "unit": "kg"})
    plain.evaluate("document.querySelector('#event-form button[type=submit]').click()")
    settle(plain, "document.querySelector('#confirm-harvest') && document.readyState === 'complete'")
    assert "未过 14 天的安全间隔期" in plain.text("#phi-live")
    plain.screenshot("console-harvest-check-step-no-js")
    plain.close()
