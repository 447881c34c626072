"""Helpers for the console tests (this module holds no tests): an app on the engine under
test, a small county seeded through the domain (as `farmtrace` commands would), one user
per console area, and a test client that signs in and sends the form's CSRF token.

Only the seeding goes through the domain; the tests themselves act through HTTP.
"""

from __future__ import annotations

import io
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace import accounts
from farmtrace.trace.services import trace_services
from farmtrace.web.api.context import MASTER_KEY_FILE
from farmtrace.web.app import create_app
from farmtrace.web.console.forms import CST
from farmtrace.web.settings import Settings

OPERATOR = "wuhua-county"
PASSWORD = "correct horse 1"
PDF = b"%PDF-1.4\n% lab report for the console tests\n%%EOF\n"

# username -> (organisation, roles)
USERS: dict[str, tuple[str, list[str]]] = {
    "op-admin": (OPERATOR, ["admin", "recorder"]),
    "op-viewer": (OPERATOR, ["viewer"]),
    "coop-user": ("coop-changbu", ["recorder"]),
    "coop-viewer": ("coop-changbu", ["viewer"]),
    "coop2-user": ("coop-hengpi", ["recorder"]),
    "lab-user": ("lab-meizhou", ["recorder"]),
    "carrier-user": ("carrier-wuhua", ["recorder"]),
    "station-user": ("station-yuanqiao", ["recorder"]),
    "packer-user": ("packer-wuhua", ["recorder"]),
}

PLACES = (
    {"id": "wuhua", "kind": "county", "name_zh": "五华县"},
    {"id": "wuhua.changbu", "kind": "town", "name_zh": "长布镇", "parent": "wuhua"},
    {"id": "wuhua.changbu.yuanqiao", "kind": "village", "name_zh": "元桥村", "parent": "wuhua.changbu"},
    {"id": "changbu-field", "kind": "field", "name_zh": "长布高山田", "parent": "wuhua.changbu"},
    {"id": "county-warehouse", "kind": "warehouse", "name_zh": "县仓库", "parent": "wuhua"},
    {"id": "packing-hall", "kind": "facility", "name_zh": "包装车间", "parent": "wuhua"},
)
ORGS = (
    {"id": "coop-changbu", "kind": "cooperative", "name_zh": "长布红薯合作社", "place": "wuhua.changbu"},
    {"id": "coop-hengpi", "kind": "cooperative", "name_zh": "横陂丝苗米合作社"},
    {"id": "lab-meizhou", "kind": "lab", "name_zh": "梅州检测中心"},
    {"id": "carrier-wuhua", "kind": "carrier", "name_zh": "五华物流"},
    {
        "id": "station-yuanqiao",
        "kind": "village_station",
        "name_zh": "元桥村服务站",
        "place": "wuhua.changbu.yuanqiao",
    },
    {"id": "packer-wuhua", "kind": "packing_station", "name_zh": "五华包装站"},
)
PRODUCT = {
    "id": "changbu-potato",
    "name_zh": "长布红薯",
    "category": "vegetable",
    "unit": "kg",
    "specification": "5 kg/箱",
    "gtin": "6901234567892",
}
OTHER_PRODUCT = {"id": "hengpi-rice", "name_zh": "横陂丝苗米", "category": "grain", "unit": "kg"}


@pytest.fixture
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt at N=2**10 instead of 2**14 for the console tests, which sign in hundreds of
    times: the same code path (the cost travels in each stored hash), a sixteenth of the
    work. The dummy hash for unknown names is reset so that no other test inherits it."""
    monkeypatch.setattr(accounts, "SCRYPT_N", 2**10)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)


@dataclass
class Clock:
    """The console's clock (CONSOLE_CLOCK), moved by the throttle tests."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_settings(database_url: str, home: Path, base_url: str = "http://127.0.0.1:8000") -> Settings:
    return Settings.from_env(
        {
            "FARMTRACE_HOME": str(home),
            "FARMTRACE_DATABASE_URL": database_url,
            "FARMTRACE_PUBLIC_BASE_URL": base_url,
        }
    )


def make_app(database_url: str, home: Path, clock: Clock | None = None, **settings: Any) -> Flask:
    config: dict[str, Any] = {"TESTING": True}
    if clock is not None:
        config["CONSOLE_CLOCK"] = clock
    return create_app(make_settings(database_url, home, **settings), test_config=config)


def seed(app: Flask) -> None:
    """The county: operator, places, a cooperative, a lab, a carrier, a station, a packing
    station, one product, and the USERS."""
    settings: Settings = app.config["FARMTRACE"]
    master = MasterKey.load_or_create(settings.keys_dir / MASTER_KEY_FILE)
    _readers, writers = app.extensions["farmtrace.sessions"]
    with writers() as session:
        services = trace_services(session, KeyStore(session, master))
        services.orgs.bootstrap_operator({"id": OPERATOR, "name_zh": "五华县运营中心"})
        for place in PLACES:
            services.places.register(OPERATOR, place)
        for org in ORGS:
            services.orgs.register(OPERATOR, org)
        services.products.register("coop-changbu", PRODUCT)
        services.products.register("coop-hengpi", OTHER_PRODUCT)
        for username, (org, roles) in USERS.items():
            services.accounts.add_user(
                OPERATOR,
                {
                    "org": org,
                    "username": username,
                    "display_name": username,
                    "password": PASSWORD,
                    "roles": roles,
                },
            )
        session.commit()


_SEEDED: dict[str, tuple[str, Path]] = {}


def seeded_app(database_factory: Any, home: Path, clock: Clock | None = None, **settings: Any) -> Flask:
    """An app on a fresh copy of a database seeded once per test session (seeding signs
    ledger entries and hashes eight passwords: seconds, too slow to repeat for every test).

    The copy is a file copy on SQLite and CREATE DATABASE ... TEMPLATE on PostgreSQL; the
    master key that sealed the seeded organisations' keys is copied into `home`.
    """
    if "template" not in _SEEDED:
        template_home = database_factory.root / "console-seeded-home"
        url = database_factory.new_url()
        app = make_app(url, template_home)
        seed(app)
        app.extensions["farmtrace.engine"].dispose()
        _SEEDED["template"] = (url, template_home)
    url, template_home = _SEEDED["template"]
    (home / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
    master = home / "keys" / MASTER_KEY_FILE
    shutil.copyfile(template_home / "keys" / MASTER_KEY_FILE, master)
    master.chmod(0o600)
    return make_app(_copy_database(database_factory, url), home, clock, **settings)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_factory: Any, tmp_path: Path, clock: Clock, cheap_scrypt: None) -> Iterator[Flask]:
    """The seeded county on a fresh database, with the console's clock under the test's control."""
    app = seeded_app(database_factory, tmp_path, clock)
    yield app
    app.extensions["farmtrace.engine"].dispose()


def _copy_database(factory: Any, url: str) -> str:
    name = f"ft_{uuid.uuid4().hex[:12]}"
    if factory.backend == "sqlite":
        path = factory.root / f"{name}.sqlite3"
        shutil.copyfile(url.removeprefix("sqlite:///"), path)
        return f"sqlite:///{path}"
    template = make_url(url).database
    factory._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    factory.created.append(name)
    return factory._url_for(name)


def local(moment: datetime) -> str:
    """A datetime-local form value."""
    return moment.astimezone(CST).strftime("%Y-%m-%dT%H:%M")


TOKEN_IN_PAGE = re.compile(r'name="csrf_token" value="([^"]+)"')
CLIENT_ID_IN_PAGE = re.compile(r'name="client_id" value="(console-[0-9a-f]{24})"')
BATCH_IN_LOCATION = re.compile(r"/batches/(B[0-9A-Z]{12})")


class Console:
    """A browser-like test client: signs in, keeps the cookie, sends the CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        page = self.client.get("/console/login")
        token = TOKEN_IN_PAGE.search(page.text)
        assert token is not None, page.text
        return self.client.post(
            "/console/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
        )

    def token(self) -> str:
        with self.client.session_transaction() as session:
            value = session.get("csrf")
        assert value, "no CSRF token in the session: load a page first"
        return value

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def post(
        self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any
    ) -> TestResponse:
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.token())
        return self.client.post(path, data=body, **kwargs)

    def form_client_id(self, path: str) -> str:
        page = self.get(path)
        found = CLIENT_ID_IN_PAGE.search(page.text)
        assert found is not None, page.text
        return found.group(1)


def signed_in(app: Flask, username: str) -> Console:
    console = Console(app.test_client())
    response = console.login(username)
    assert response.status_code == 303, response.text
    return console


def register_batch(console: Console, days_ago: float = 10, quantity: str | None = None) -> str:
    """Register a batch of the product as the cooperative, through the form; its id."""
    when = datetime.now(UTC) - timedelta(days=days_ago)
    data = {
        "product": "changbu-potato",
        "producers": "coop-changbu",
        "origin_place": "changbu-field",
        "unit": "kg",
        "expected_quantity": "1200",
        "event_time": local(when),
        "client_id": console.form_client_id("/console/coop/batches/new"),
    }
    if quantity is not None:
        data["quantity"] = quantity
    response = console.post("/console/coop/batches/new", data)
    assert response.status_code == 303, response.text
    found = BATCH_IN_LOCATION.search(response.headers["Location"])
    assert found is not None
    return found.group(1)


def io_bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def field_error(html: str, name: str) -> str | None:
    """The error shown next to the field `name` (id f-<name>-error), or None."""
    found = re.search(rf'<p class="error" id="f-{re.escape(name)}-error">([^<]*)</p>', html)
    return None if found is None else unescape(found.group(1))


def field_value(html: str, name: str) -> str | None:
    """The value an input or textarea of `name` holds in the page."""
    found = re.search(rf'<input [^>]*name="{re.escape(name)}"[^>]* value="([^"]*)"', html)
    if found is None:
        found = re.search(
            rf'<input [^>]*id="f-{re.escape(name)}" name="{re.escape(name)}" value="([^"]*)"', html
        )
    if found is None:
        found = re.search(rf'<textarea [^>]*name="{re.escape(name)}"[^>]*>([^<]*)</textarea>', html)
    return None if found is None else unescape(found.group(1))


def selected(html: str, name: str) -> str | None:
    block = re.search(rf'<select [^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    if block is None:
        return None
    found = re.search(r'<option value="([^"]*)" selected>', block.group(1))
    return None if found is None else found.group(1)
