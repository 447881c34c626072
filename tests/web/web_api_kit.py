"""Helpers for the API tests: an app on the engine under test, a bootstrapped operator with
an admin token, and a client that speaks bearer tokens and Idempotency-Keys.

Only the bootstrap (the county operator and its first token) goes through the domain
directly, as `farmtrace` commands would; everything after it goes through HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import farmtrace.web
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.services import trace_services
from farmtrace.trace.tokens import SCOPES
from farmtrace.web.api.context import MASTER_KEY_FILE
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings

OPERATOR = "wuhua-county"
PDF = b"%PDF-1.4\n% lab report for the API tests\n"


def make_settings(database_url: str, home: Path) -> Settings:
    return Settings.from_env({"FARMTRACE_HOME": str(home), "FARMTRACE_DATABASE_URL": database_url})


def make_app(database_url: str, home: Path) -> Flask:
    return create_app(make_settings(database_url, home), test_config={"TESTING": True})


def bootstrap(settings: Settings, app: Flask) -> str:
    """Create the county operator and return an operator token holding every scope."""
    master = MasterKey.load_or_create(settings.keys_dir / MASTER_KEY_FILE)
    _readers, writers = app.extensions["farmtrace.sessions"]
    with writers() as session:
        services = trace_services(session, KeyStore(session, master))
        services.orgs.bootstrap_operator({"id": OPERATOR, "name_zh": "五华县农村电商运营中心"})
        issued = services.tokens.issue(OPERATOR, OPERATOR, "bootstrap", list(SCOPES))
        session.commit()
        return issued.secret


@dataclass
class Api:
    """A test client acting with one token."""

    client: FlaskClient
    token: str | None

    def headers(self, key: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, headers=self.headers(), **kwargs)

    def post(self, path: str, body: Any = None, key: str | None = None, **kwargs: Any) -> TestResponse:
        return self.client.post(path, json=body, headers=self.headers(key), **kwargs)

    def delete(self, path: str, key: str | None = None) -> TestResponse:
        return self.client.delete(path, headers=self.headers(key))

    def ok(self, response: TestResponse, status: int = 201) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        return response.json

    def as_token(self, token: str | None) -> Api:
        return Api(self.client, token)


def new_key() -> str:
    return str(uuid.uuid4())


def seed_county(api: Api) -> dict[str, str]:
    """Places and organisations of a small county, and a token (all scopes) for each org."""
    for place in (
        {"id": "wuhua", "kind": "county", "name_zh": "五华县"},
        {"id": "wuhua.huacheng", "kind": "town", "name_zh": "华城镇", "parent": "wuhua"},
        {"id": "wuhua.huacheng.longcun", "kind": "village", "name_zh": "龙村", "parent": "wuhua.huacheng"},
        {"id": "field-a", "kind": "field", "name_zh": "一号田", "parent": "wuhua.huacheng.longcun"},
        {"id": "wh-county", "kind": "warehouse", "name_zh": "县仓", "parent": "wuhua"},
    ):
        api.ok(api.post("/api/v1/places", place))
    tokens = {OPERATOR: api.token or ""}
    for org in (
        {"id": "coop-longcun", "kind": "cooperative", "name_zh": "龙村合作社"},
        {"id": "lab-gd", "kind": "lab", "name_zh": "广东检测中心"},
        {"id": "carrier-sf", "kind": "carrier", "name_zh": "物流公司"},
        {"id": "pack-wuhua", "kind": "packing_station", "name_zh": "包装站"},
    ):
        api.ok(api.post("/api/v1/orgs", org))
        issued = api.ok(
            api.post(f"/api/v1/orgs/{org['id']}/tokens", {"name": "test", "scopes": list(SCOPES)})
        )
        tokens[org["id"]] = issued["secret"]
    coop = api.as_token(tokens["coop-longcun"])
    coop.ok(
        coop.post(
            "/api/v1/products",
            {"id": "plum", "name_zh": "三华李", "category": "fruit", "unit": "kg", "gtin": "06901234567892"},
        )
    )
    return tokens


def register_batch(api: Api, key: str | None = None, **payload: Any) -> dict[str, Any]:
    body = {"payload": {"product": "plum", "unit": "kg", "expected_quantity": "1000", **payload}}
    return api.ok(api.post("/api/v1/batches", body, key=key))


@dataclass
class LiveServer:
    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(database_url: str, home: Path, workers: int = 2) -> Iterator[LiveServer]:
    """gunicorn serving the app on 127.0.0.1 (a real socket), with a bootstrapped operator."""
    settings = make_settings(database_url, home)
    app = make_app(database_url, home)
    token = bootstrap(settings, app)
    app.extensions["farmtrace.engine"].dispose()
    port = _free_port()
    log = home / "gunicorn.log"
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": database_url,
        "FARMTRACE_SEQUENCER": "0",
    }
    conf = Path(farmtrace.web.__file__).parent / "gunicorn_conf.py"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(conf),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "farmtrace.web.app:create_app()",
    ]
    with log.open("wb") as out:
        # cwd outside the checkout: `python -m` puts the cwd first on sys.path.
        process = subprocess.Popen(command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield LiveServer(base, token, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
