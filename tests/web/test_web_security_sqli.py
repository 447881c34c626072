"""SQL injection and hostile input through every parameter: each query and path parameter of
every API operation (read from the OpenAPI document, so a new one is covered as soon as it
is documented) and of every console and public page (query parameters found by recording
which ones each view reads), with classic injection strings, LIKE wildcards, NUL bytes,
very long strings and look-alike Unicode.

Each answer must be a clean refusal (4xx; problem+json in the API) or an answer that
matches nothing (an empty list) — never a 500, never more rows — and afterwards every
table holds as many rows as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
import web_security_county
from flask import Flask, Request
from test_web_console_kit import Console
from web_security_kit import OPERATOR, County, is_problem, record_counts, signed_in
from web_security_matrix import MATRIX, path_values, url_for_rule
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.test import TestResponse

PAYLOADS = (
    "' OR '1'='1",
    '" OR ""="',
    "1; DROP TABLE trace_batch; --",
    "' UNION SELECT token_hash, NULL FROM trace_api_token --",
    "%",
    "\\",
    "a\x00b",
    "x" * 5000,
    "99999999999999999999999",
    "１２３",  # full-width digits: int() in Python reads them as 123
    "\u202e' OR '1",
)
# Parameters that do not filter: the page size, the cursor, the page language.
NOT_FILTERS = {"limit", "cursor", "lang"}


@pytest.fixture(scope="module")
def county(database_factory: Any) -> County:
    return web_security_county.county(database_factory)


@pytest.fixture(scope="module")
def app(database_factory: Any, tmp_path_factory: pytest.TempPathFactory, county: County) -> Iterator[Flask]:
    app = web_security_county.county_app(database_factory, tmp_path_factory.mktemp("sqli"), county)
    app.request_class = RecordingRequest
    yield app
    app.extensions["farmtrace.engine"].dispose()


# For path parameters (a lookup by key, and fifteen event routes share {batch}): the main ones.
PATH_PAYLOADS = (
    "' OR '1'='1",
    "1; DROP TABLE trace_batch; --",
    "%",
    "a\x00b",
    "x" * 5000,
    "99999999999999999999999",
)


def variants(valid: str, where: str) -> list[str]:
    """The payloads for a query or path parameter, and the valid value with an injection appended."""
    if where == "path":
        return [*PATH_PAYLOADS, f"{valid}' OR '1'='1"]
    return [*PAYLOADS, f"{valid}' OR '1'='1", f"{valid}%"]


# -- the API, from its OpenAPI document -------------------------------------------------------


def api_parameters(app: Flask, county: County) -> list[tuple[str, str, str, str, str]]:
    """(method, path template, where, name, valid value) of every query and path parameter."""
    spec = app.test_client().get("/api/v1/openapi.json").json
    values = path_values(county, "tok_0000000000000000")
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                if "$ref" in parameter or parameter["in"] not in ("query", "path"):
                    continue
                if parameter["in"] == "query" and method != "get":
                    continue  # a write's query parameter (a file name) is a typed text: see the XSS tests
                name = parameter["name"]
                valid = {"kind": "daily", "date": "2026-01-01"}.get(name, values.get(name, "1"))
                found.append((method.upper(), path, parameter["in"], name, str(valid)))
    return found


def api_url(path: str, values: dict[str, Any], county: County) -> str:
    defaults = path_values(county, "tok_0000000000000000") | {"kind": "daily"}
    for name, value in {**defaults, **values}.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return path


def test_every_api_parameter_refuses_injection_or_matches_nothing(app: Flask, county: County) -> None:
    engine = app.extensions["farmtrace.engine"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {county.tokens[OPERATOR]}"}  # every scope, every organisation
    parameters = api_parameters(app, county)
    assert {name for _m, _p, _w, name, _v in parameters} >= {
        "owner",
        "product",
        "cursor",
        "batch",
        "org",
        "type",
    }
    before = record_counts(engine)
    problems = []
    for method, path, where, name, valid in parameters:
        for value in variants(valid, where):
            if where == "path":
                url = api_url(path, {name: value}, county)
                query: dict[str, str] = {"date": "2026-01-01"} if "/stats/" in path else {}
            else:
                url, query = api_url(path, {}, county), {name: value}
            body = {"json": {}} if method != "GET" else {}
            response = client.open(url, method=method, query_string=query, headers=headers, **body)
            problem = _api_problem(response, where, name, value)
            if problem:
                problems.append(f"{method} {path} {where} {name}={value[:40]!r}: {problem}")
    assert not problems, "\n".join(problems[:40])
    assert record_counts(engine) == before


def _api_problem(response: TestResponse, where: str, name: str, value: str) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if status >= 400:
        return None if is_problem(response) else f"{status} without problem+json"
    if where == "path":
        return f"{status}: a path value that names nothing was answered"
    body = response.get_json(silent=True)
    if (
        isinstance(body, dict)
        and isinstance(body.get("items"), list)
        and body["items"]
        and name not in NOT_FILTERS
    ):
        return f"{len(body['items'])} rows for a value that matches nothing"
    return None


# -- the console and the public pages, with the parameters each view reads ----------------------


class RecordingArgs(ImmutableMultiDict):  # type: ignore[type-arg]
    """request.args that notes the names a view asks for."""

    asked: ClassVar[set[str]] = set()

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:
        RecordingArgs.asked.add(key)
        return super().get(key, default, type)

    def __getitem__(self, key: Any) -> Any:
        RecordingArgs.asked.add(key)
        return super().__getitem__(key)

    def getlist(self, key: Any, type: Any = None) -> Any:
        RecordingArgs.asked.add(key)
        return super().getlist(key, type)

    def __contains__(self, key: object) -> bool:
        RecordingArgs.asked.add(str(key))
        return super().__contains__(key)

    def to_dict(self, flat: bool = True) -> Any:
        return RecordingDict(super().to_dict(flat))


class RecordingDict(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        RecordingArgs.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        RecordingArgs.asked.add(key)
        return super().__getitem__(key)


class RecordingRequest(Request):
    parameter_storage_class = RecordingArgs


def page_parameters(
    app: Flask, county: County
) -> tuple[list[tuple[str, str, str, str, str, str]], dict[str, Any]]:
    """(method, user, rule, where, name, valid value) of every parameter of every console and
    public page: path arguments from the rule (forms' too), query parameters from what each
    GET view asked for."""
    values = path_values(county, "tok_0000000000000000")
    consoles: dict[str, Any] = {}
    found = []
    for (method, rule), access in sorted(MATRIX.items()):
        if access.kind not in ("public", "console", "form") or rule.startswith("/api/"):
            continue
        user = access.allowed_user if access.kind == "console" else ""
        if user and user not in consoles:
            consoles[user] = signed_in(app, user)
        args = {**values, **access.args}
        found += [(method, user, rule, "path", name, str(args[name])) for name in _path_names(rule)]
        if method != "GET":
            continue
        client = consoles[user].client if user else app.test_client()
        RecordingArgs.asked = set()
        assert client.get(url_for_rule(rule, args)).status_code < 500, rule
        asked = RecordingArgs.asked - {"lang"}  # every page reads lang: tried on its own below
        found += [(method, user, rule, "query", name, "1") for name in sorted(asked)]
    return found, consoles


def _path_names(rule: str) -> list[str]:
    return re.findall(r"<(?:[a-z]+:)?(\w+)>", rule)


def test_every_page_parameter_refuses_injection_without_an_error(app: Flask, county: County) -> None:
    engine = app.extensions["farmtrace.engine"]
    parameters, consoles = page_parameters(app, county)
    asked = {(rule, name) for _m, _u, rule, where, name, _v in parameters if where == "query"}
    assert {
        ("/wall", "date"),
        ("/disclosure", "page"),
        ("/console/lab/find", "code"),
        ("/console/operator/complaints", "status"),
        ("/console/stats/download", "period"),
        ("/console/stats/download", "scope"),
    } <= asked, sorted(asked)
    values = path_values(county, "tok_0000000000000000")
    visitor = Console(app.test_client())
    visitor.get("/console/login")  # a session with a CSRF token, for the public forms
    before = record_counts(engine)
    problems = []
    languages = [
        ("GET", "", "/", "query", "lang", "zh"),
        ("GET", "coop-user", "/console/coop/", "query", "lang", "zh"),
    ]
    for method, user, rule, where, name, valid in [*parameters, *languages]:
        console = consoles[user] if user else visitor
        args = {**values, **MATRIX[(method, rule)].args}
        for value in variants(valid, where):
            if where == "path":
                url, query = url_for_rule(rule, {**args, name: quote(value, safe="")}), {}
            else:
                url, query = url_for_rule(rule, args), {name: value}
            response = console.get(url, query_string=query) if method == "GET" else console.post(url, {})
            status = response.status_code
            if status >= 500:
                problems.append(f"{method} {rule} {where} {name}={value[:40]!r}: {status}")
            elif (
                where == "path" and rule.startswith("/console/") and status < 400 and rule not in NOT_LOOKUPS
            ):
                problems.append(
                    f"{method} {rule} {name}={value[:40]!r}: {status} for a value that names nothing"
                )
    assert not problems, "\n".join(problems[:40])
    after = record_counts(engine)
    assert after == before


# Console paths whose argument names no row: the language switch ignores a code it does not know.
NOT_LOOKUPS = {"/console/lang/<code>"}


def test_injection_in_a_report_download_is_refused_with_a_readable_page(app: Flask) -> None:
    operator = signed_in(app, "op-admin")
    for name in ("period", "date", "scope", "format"):
        query = {
            "period": "month",
            "date": "2026-09",
            "scope": "county",
            "format": "csv",
            name: "1' OR '1'='1",
        }
        response = operator.get("/console/stats/download", query_string=query)
        assert response.status_code == 422 and response.mimetype == "text/html", (name, response.status_code)
        assert "Content-Disposition" not in response.headers
    clean = operator.get(
        "/console/stats/download", query_string={"period": "month", "date": "2026-09", "format": "csv"}
    )
    assert clean.status_code == 200
    assert clean.headers["Content-Disposition"] == 'attachment; filename="farmtrace-month-2026-09-county.csv"'
