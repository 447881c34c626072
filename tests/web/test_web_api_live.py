"""The API behind a real gunicorn on a TCP socket: a write and its retry over HTTP, and a
schema-driven fuzzer (schemathesis) that must find no 5xx and no response the OpenAPI
document does not describe. Bounded: MAX_EXAMPLES per operation, about a minute in all."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from web_api_kit import LiveServer, live_server, new_key

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 10
NEGATIVE_EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_factory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("live")
    with live_server(database_factory.new_url(), home) as running:
        yield running


def _call(server: LiveServer, method: str, path: str, body: object = None, key: str | None = None):
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_write_and_retry_through_gunicorn(server: LiveServer) -> None:
    key = new_key()
    place = {"id": "live-field", "kind": "field", "name_zh": "试验田"}
    status, headers, body = _call(server, "POST", "/api/v1/places", place, key)
    assert status == 201, body
    again_status, again_headers, again_body = _call(server, "POST", "/api/v1/places", place, key)
    assert (again_status, again_body) == (201, body)
    assert again_headers["Idempotent-Replayed"] == "true"
    status, headers, body = _call(server, "POST", "/api/v1/places", {**place, "name_zh": "别的"}, key)
    assert status == 409 and headers["Content-Type"] == "application/problem+json"
    status, headers, body = _call(server, "GET", "/api/v1/batches?limit=0")
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "limit"


def test_fuzz_finds_no_server_error_and_no_undocumented_response(server: LiveServer) -> None:
    """Every operation of the document, positive and negative examples, the operator's token.

    Driven through schemathesis' strategies and Hypothesis directly (its pytest plugin does
    not support the pytest we run); failures of all operations are reported together."""
    schema = schemathesis.openapi.from_url(f"{server.base_url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {server.token}"}
    failures: list[str] = []
    timings: list[tuple[float, str]] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in (
            (GenerationMode.POSITIVE, MAX_EXAMPLES),
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(base_url=server.base_url, headers=headers, checks=CHECKS)

            started = time.monotonic()
            try:
                run()
            except Unsatisfiable:
                pass  # no invalid input exists (an operation without parameters or body)
            except Exception as exc:  # collect every operation's first failure, then fail once
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
            timings.append(
                (time.monotonic() - started, f"{operation.method.upper()} {operation.path} {mode}")
            )
    print(f"total {sum(t for t, _ in timings):.1f}s over {len(timings)} runs")
    print(*(f"{t:6.2f}s {name}" for t, name in sorted(timings, reverse=True)[:8]), sep="\n")
    assert operations >= 50
    assert not failures, "\n\n".join(failures)


def test_server_log_has_no_tracebacks(server: LiveServer) -> None:
    assert "Traceback" not in server.log.read_text(errors="replace")
