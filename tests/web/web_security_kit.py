"""Helpers for the security tests (this module holds no tests): the app, the console users,
XSS payloads, a JSON client that notes which fields carried one, tokens, problem bodies and
row counts of every table. The county itself is built in web_security_county.py.

Only the bootstrap (the county operator and its first token) goes through the domain, as
`farmtrace` commands would; everything else is typed through HTTP like a person or a lab's
software would type it.

Payloads. Each typed text gets a payload with a unique marker (`ZQ001`, `ZQ002`, ...):
markup that would call `xss('<marker>')` if it were ever parsed as HTML (an element with an
event handler, an attribute break-out with both quote kinds, `</textarea>`, `</title>` and
`</script>` break-outs) and a Jinja expression `{{7*7}}`. The browser test defines `xss`
and watches for calls (tests/web/test_web_security_xss.py). Lots are GS1 CSET 82 and at most
20 characters, so theirs are shorter, but still break out of an attribute.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, MetaData, func, select
from test_web_console_kit import Console
from werkzeug.test import TestResponse

from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings

OPERATOR = "wuhua-county"
PASSWORD = "correct horse 1"
PDF = b"%PDF-1.4\n% lab report for the security tests\n%%EOF\n"
BASE_URL = "http://127.0.0.1:8000"
GTIN = "06901234567892"

# username -> (organisation, roles). Every console area has a recorder and a viewer, and
# the operator has an admin, a recorder without admin and a viewer.
USERS: dict[str, tuple[str, list[str]]] = {
    "op-admin": (OPERATOR, ["admin", "recorder"]),
    "op-recorder": (OPERATOR, ["recorder"]),
    "op-viewer": (OPERATOR, ["viewer"]),
    "coop-user": ("coop-a", ["recorder"]),
    "coop-viewer": ("coop-a", ["viewer"]),
    "coop2-user": ("coop-b", ["recorder"]),
    "lab-user": ("lab-a", ["recorder"]),
    "lab-viewer": ("lab-a", ["viewer"]),
    "carrier-user": ("carrier-a", ["recorder"]),
    "station-user": ("station-a", ["recorder"]),
    "packer-user": ("packer-a", ["recorder"]),
    "packer-viewer": ("packer-a", ["viewer"]),
    "spare-user": ("coop-a", ["recorder"]),  # signs out, changes its password, is deactivated
}

# -- payloads -----------------------------------------------------------------------------

XSS_FUNCTION = "xss"
LOT_BREAKOUT = '"><svg/onload=xss()>'  # 20 characters of CSET 82: the longest a lot may be


class Payloads:
    """Unique XSS payloads, each no longer than the field it goes into."""

    def __init__(self, prefix: str = "ZQ") -> None:
        self.prefix = prefix  # "Z" and a capital letter: no other text on a page looks like it
        self.texts: dict[str, str] = {}  # marker -> the text typed

    def __call__(self, max_length: int = 500) -> str:
        marker = f"{self.prefix}{len(self.texts) + 1:03d}"
        call = f"{XSS_FUNCTION}('{marker}')"
        candidates = (
            f"{marker}<img src=x onerror={call}>\"><svg onload={call}>'><svg onload={call}>"
            f"</textarea></title></script><script>{call}</script>{{{{7*7}}}}",
            f"{marker}\"><img src=x onerror={call}>'><svg onload={call}>{{{{7*7}}}}",
            f'{marker}"><img src=x onerror={call}></script>{{{{7*7}}}}',
            f'{marker}"><svg onload={call}>',
            f"{marker}<svg/onload={XSS_FUNCTION}()>",
        )
        text = next((c for c in candidates if len(c) <= max_length), None)
        assert text is not None, f"no payload fits in {max_length} characters"
        self.texts[marker] = text
        return text

    def lot(self, index: int) -> str:
        """A lot: the attribute break-out for the first, then `L<n><svg/onload=xss()>`."""
        text = LOT_BREAKOUT if index == 0 else f"L{index}<svg/onload=xss()>"
        assert len(text) <= 20
        self.texts[text] = text
        return text


def markers_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) of every payload inside a JSON value: `.payload.results[].analyte`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from markers_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from markers_in(item, f"{path}[]")
    elif isinstance(value, str) and (re.search(r"Z[A-Z]\d{3}", value) or "<svg/onload=xss()>" in value):
        yield path, value


# -- the county ----------------------------------------------------------------------------


@dataclass
class County:
    """What the seeded county holds: its database template, and the ids and secrets a test needs."""

    url: str
    home: Path
    tokens: dict[str, str]  # org -> a token holding every scope
    ids: dict[str, Any]
    payloads: dict[str, str]
    typed: set[tuple[str, str, str]] = field(default_factory=set)  # (method, route, field path)
    where: dict[str, str] = field(default_factory=dict)  # payload text -> "METHOD route field"


class Recorder:
    """A JSON client that notes which fields of which route carried a payload."""

    def __init__(self, app: Flask, typed: set[tuple[str, str, str]], where: dict[str, str]) -> None:
        self.client = app.test_client()
        self.adapter = app.url_map.bind("localhost")
        self.typed = typed
        self.where = where

    def call(
        self, method: str, path: str, token: str, body: Any = None, status: int = 201, **kwargs: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        response = self.client.open(path, method=method, json=body, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
        rule, _args = self.adapter.match(path.split("?")[0], method=method, return_rule=True)
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for fieldpath, text in markers_in(body):
            self.typed.add((method, template, fieldpath))
            self.where[text] = f"{method} {template} {fieldpath}"
        for name, value in kwargs.get("query_string", {}).items():
            if any(True for _ in markers_in(value)):
                self.typed.add((method, template, f"?{name}"))
                self.where[value] = f"{method} {template} ?{name}"
        return response.json


def make_settings(database_url: str, home: Path, base_url: str = BASE_URL) -> Settings:
    return Settings.from_env(
        {
            "FARMTRACE_HOME": str(home),
            "FARMTRACE_DATABASE_URL": database_url,
            "FARMTRACE_PUBLIC_BASE_URL": base_url,
        }
    )


def make_app(database_url: str, home: Path, **config: Any) -> Flask:
    # PRINT_COMMAND: a console print job starts `true print --job-id N`, which prints nothing.
    test_config = {"TESTING": True, "PRINT_COMMAND": [shutil.which("true") or "/bin/true"], **config}
    return create_app(make_settings(database_url, home), test_config=test_config)


# -- sessions and tokens ----------------------------------------------------------------------


def signed_in(app: Flask, username: str, password: str = PASSWORD) -> Console:
    console = Console(app.test_client())
    response = console.login(username, password)
    assert response.status_code == 303, (username, response.status_code, response.text[:500])
    return console


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def issue_token(
    client: FlaskClient, admin_token: str, org: str, scopes: list[str], **extra: Any
) -> tuple[str, str]:
    """(secret, token id) of a new token for `org`, issued through the API."""
    response = client.post(
        f"/api/v1/orgs/{org}/tokens",
        json={"name": f"kit {'+'.join(scopes)}", "scopes": scopes, **extra},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    return response.json["secret"], response.json["token"]["id"]


def is_problem(response: TestResponse) -> bool:
    body = response.get_json(silent=True) or {}
    return response.mimetype == "application/problem+json" and body.get("status") == response.status_code


# -- the database ------------------------------------------------------------------------------


# Counts every request by design (a refused one too), one row per client and window, and a
# new window can begin between two snapshots: it records traffic, not state a request changed.
TRAFFIC_TABLES = frozenset({"rate_limit_counter"})


# Tables that count traffic rather than hold records: rate limits count requests (on
# PostgreSQL every API request), scans count scan pages. Reads and refusals may move them.
TRAFFIC_TABLES = frozenset(
    {"rate_limit_counter", "codes_scan", "codes_scan_inbox", "codes_scan_tally", "codes_scan_salt"}
)


def record_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table that holds records (all but TRAFFIC_TABLES)."""
    return {name: n for name, n in row_counts(engine).items() if name not in TRAFFIC_TABLES}


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database but the traffic counters, by table name."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in sorted(metadata.tables.items())
            if name not in TRAFFIC_TABLES
        }
