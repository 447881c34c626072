"""Real headless Chromium for web tests: a live server on a socket and a browser driven
over the Chrome DevTools Protocol (CDP) on a pipe. Standard library only.

Why a pipe: `--remote-debugging-pipe` makes Chromium read CDP commands from fd 3 and write
replies and events to fd 4, NUL-separated. No port, no websocket client, nothing to race
for; and unlike `--dump-dom --virtual-time-budget`, the test can wait for a condition in the
page (an async fetch plus WebCrypto work finishes when it finishes, not when a virtual
clock says so).

API (import from a test in tests/web/ as `from browser import ...`):

    chromium_path() -> str
        Debian's `chromium`, or pytest.skip("chromium not installed: apt-get install chromium").

    live_server(app) -> ContextManager[str]
        Serves a WSGI app (e.g. create_app(...)) with werkzeug's threaded server on
        127.0.0.1:<free port>; yields the base URL "http://127.0.0.1:PORT". Test-only routes
        can be added to the app (a Blueprint) before entering.

    Browser.launch(**chromium_flags) -> ContextManager[Browser]
        One headless Chromium process (about 1 s to start: share it per module with a
        module-scoped fixture). Its flags are BASE_FLAGS.

    Browser.new_page(width=390, height=844, mobile=True, scale=1, javascript=True,
                     accept_language=None, init_scripts=()) -> Page
        A fresh, isolated browser context (own cookies/storage) with one tab, emulating a
        phone viewport (mobile=True: a page without <meta name=viewport> lays out 980 px wide,
        as on a real phone). `accept_language` is a plain list like "en-GB,en" (Chromium adds the
        q-values: "en-GB,en;q=0.9"). `init_scripts` run before any page script on every navigation
        (CDP-injected, so the page's CSP does not block them): use them to patch browser
        APIs in a test. Close with page.close() or use it as a context manager.

    Page.goto(url, wait_for=None, timeout=10.0) -> Page
        Navigate and wait for the load event; if `wait_for` is a JavaScript expression,
        also wait until it is truthy (e.g. "document.querySelector('#verify')
        .dataset.state !== 'running'"). On timeout, AssertionError with the page text and
        the console log.
    Page.evaluate(expression, await_promise=True) -> JSON value
        Runs in the page; a thrown exception becomes PageError with its description.
    Page.wait_for(expression, timeout=10.0) -> JSON value (the first truthy result)
    Page.text(selector="body") -> str           innerText of the first match ("" if none)
    Page.attribute(selector, name) -> str | None
    Page.screenshot(name) -> Path               PNG of the viewport in ARTIFACTS_DIR/<name>.png
    Page.console -> list[str]                   console messages, uncaught exceptions, CSP
                                                violations and other browser log entries
    Page.responses -> list[Response]            url, status, mime type, encoded (on-the-wire)
                                                bytes of every response of the page
    Page.transferred_bytes() -> int             sum of Response.encoded_bytes

    dump_dom(url, budget_ms=5000, width=390, height=844) -> str
        One-shot `chromium --headless --dump-dom --virtual-time-budget=...`: the serialized
        DOM after load. Fine for pages whose content does not wait on async work.

    ARTIFACTS_DIR = <repo>/test-artifacts (gitignored); screenshots go there.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from base64 import b64decode
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"

BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
)


class PageError(AssertionError):
    """JavaScript evaluated in the page threw, or the browser refused a command."""


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    mime_type: str
    encoded_bytes: int


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium); browser tests skipped")
    return path


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port> in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def dump_dom(url: str, budget_ms: int = 5000, width: int = 390, height: int = 844) -> str:
    """The DOM after load, from a one-shot headless Chromium (no CDP)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        result = subprocess.run(
            [
                chromium_path(),
                *BASE_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
    return result.stdout.decode("utf-8")


class _Connection:
    """CDP over a pair of pipes: commands out, replies and events in, NUL-separated."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self._write_fd = write_fd
        self._read_fd = read_fd
        self._next_id = 0
        self._send_lock = threading.Lock()
        self._changed = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self._listeners: dict[str, list[Any]] = {}
        self.closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()

    def listen(self, session_id: str, callback: Any) -> None:
        self._listeners.setdefault(session_id, []).append(callback)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        with self._send_lock:
            self._next_id += 1
            ident = self._next_id
            message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            os.write(self._write_fd, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + timeout
        with self._changed:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise PageError(
                        f"CDP {method}: no reply ({'browser gone' if self.closed else 'timed out'})"
                    )
                self._changed.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise PageError(f"CDP {method}: {reply['error'].get('message')} {reply['error'].get('data', '')}")
        return reply.get("result", {})

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._changed:
                        self._replies[message["id"]] = message
                        self._changed.notify_all()
                else:
                    for callback in self._listeners.get(message.get("sessionId", ""), []):
                        callback(message["method"], message.get("params", {}))
        with self._changed:
            self.closed = True
            self._changed.notify_all()


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], connection: _Connection, profile: str) -> None:
        self.process = process
        self.cdp = connection
        self.profile = profile
        self.user_agent = connection.call("Browser.getVersion")["userAgent"]

    @classmethod
    @contextmanager
    def launch(cls, extra_flags: Sequence[str] = ()) -> Iterator[Browser]:
        executable = chromium_path()
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Move the child's ends above fd 9 so the shell's 3<&N 4>&M cannot clobber them.
        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        os.set_inheritable(child_in, True)
        os.set_inheritable(child_out, True)
        log = open(Path(profile) / "chromium.log", "wb")  # noqa: SIM115 - closed below
        # bash puts the pipe ends on fds 3 and 4 and execs Chromium (no preexec_fn, which
        # is unsafe beside the live server's threads).
        process = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$0" "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-',
                executable,
                *BASE_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                *extra_flags,
                "about:blank",
            ],
            pass_fds=(child_in, child_out),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        os.close(child_in)
        os.close(child_out)
        connection = _Connection(to_browser_w, from_browser_r)
        browser = None
        try:
            try:
                browser = cls(process, connection, profile)
            except PageError as exc:
                log.flush()
                tail = (Path(profile) / "chromium.log").read_bytes()[-2000:].decode("utf-8", "replace")
                raise PageError(f"chromium did not start ({exc}); its log ends:\n{tail}") from None
            yield browser
        finally:
            if browser is not None:
                with suppress(PageError):
                    connection.call("Browser.close", timeout=5)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(to_browser_w)
            os.close(from_browser_r)
            log.close()
            shutil.rmtree(profile, ignore_errors=True)

    def new_page(
        self,
        width: int = 390,
        height: int = 844,
        mobile: bool = True,
        scale: float = 1,
        javascript: bool = True,
        accept_language: str | None = None,
        init_scripts: Sequence[str] = (),
    ) -> Page:
        context = self.cdp.call("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
        target = self.cdp.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})[
            "targetId"
        ]
        session = self.cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target, context)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
        )
        if not javascript:
            page.call("Emulation.setScriptExecutionDisabled", {"value": True})
        if accept_language:
            page.call(
                "Emulation.setUserAgentOverride",
                {"userAgent": self.user_agent, "acceptLanguage": accept_language},
            )
        for source in init_scripts:
            page.call("Page.addScriptToEvaluateOnNewDocument", {"source": source})
        return page


class Page:
    def __init__(self, browser: Browser, session: str, target: str, context: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target
        self.context = context
        self.console: list[str] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._finished: dict[str, int] = {}
        self._loaded = threading.Event()
        browser.cdp.listen(session, self._on_event)

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        return self.browser.cdp.call(method, params, self.session, timeout)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            self.console.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.console.append(
                f"exception: {details.get('exception', {}).get('description', details['text'])}"
            )
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.console.append(f"log.{entry['level']} ({entry['source']}): {entry['text']}")
        elif method == "Network.responseReceived":
            self._responses[params["requestId"]] = params["response"]
        elif method == "Network.loadingFinished":
            self._finished[params["requestId"]] = int(params["encodedDataLength"])

    @property
    def responses(self) -> list[Response]:
        return [
            Response(r["url"], r["status"], r["mimeType"], self._finished.get(request, 0))
            for request, r in list(self._responses.items())
        ]

    def transferred_bytes(self) -> int:
        return sum(response.encoded_bytes for response in self.responses)

    def goto(self, url: str, wait_for: str | None = None, timeout: float = 10.0) -> Page:
        self._loaded.clear()
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise PageError(f"navigation to {url} failed: {result['errorText']}")
        if not self._loaded.wait(timeout):
            raise AssertionError(f"{url}: no load event within {timeout} s\n{self._diagnosis()}")
        if wait_for is not None:
            self.wait_for(wait_for, timeout)
        return self

    def evaluate(self, expression: str, await_promise: bool = True) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": await_promise, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise PageError(details.get("exception", {}).get("description") or details["text"])
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {expression}\n{self._diagnosis()}")
            time.sleep(0.05)

    def text(self, selector: str = "body") -> str:
        return self.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''")

    def attribute(self, selector: str, name: str) -> str | None:
        return self.evaluate(
            f"(e => e && e.getAttribute({json.dumps(name)}))(document.querySelector({json.dumps(selector)}))"
        )

    def screenshot(self, name: str) -> Path:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        path = ARTIFACTS_DIR / f"{name}.png"
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.browser.cdp.call("Target.closeTarget", {"targetId": self.target}, timeout=5)
            self.browser.cdp.call(
                "Target.disposeBrowserContext", {"browserContextId": self.context}, timeout=5
            )
        except PageError:
            pass

    def _diagnosis(self) -> str:
        try:
            body = self.text()
        except PageError as exc:
            body = f"(cannot read the page: {exc})"
        return f"page text:\n{body}\nconsole:\n" + "\n".join(self.console)
