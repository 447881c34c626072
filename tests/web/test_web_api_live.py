"""The API behind a real gunicorn on a TCP socket: a write and its retry over HTTP, and a
schema-driven fuzzer (schemathesis) that must find no 5xx and no response the OpenAPI
document does not describe. Bounded: MAX_EXAMPLES per operation, about a minute in all."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from web_api_kit import LiveServer, live_server, new_key

from farmtrace.trace.tokens import SCOPES
from farmtrace.web.cli import main as cli

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


def _call(
    server: LiveServer,
    method: str,
    path: str,
    body: object = None,
    key: str | None = None,
    token: str | None = None,
):
    headers = {"Authorization": f"Bearer {token or server.token}", "Content-Type": "application/json"}
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


def _ok(result: tuple, status: int = 201) -> dict:
    got, _headers, body = result
    assert got == status, body
    return json.loads(body)


def test_farmtrace_sign_with_head_against_the_live_server(server: LiveServer, tmp_path: Path) -> None:
    _ok(
        _call(server, "POST", "/api/v1/orgs", {"id": "coop-live", "kind": "cooperative", "name_zh": "合作社"})
    )
    coop = _ok(_call(server, "POST", "/api/v1/orgs/coop-live/tokens", {"name": "t", "scopes": list(SCOPES)}))[
        "secret"
    ]
    product = {"id": "live-plum", "name_zh": "李", "category": "fruit", "unit": "kg"}
    _ok(_call(server, "POST", "/api/v1/products", product, token=coop))
    registration = {"payload": {"product": "live-plum", "unit": "kg"}}
    batch = _ok(_call(server, "POST", "/api/v1/batches", registration, token=coop))["batch"]
    key_file = tmp_path / "coop.key"
    runner = CliRunner()
    public = json.loads(runner.invoke(cli, ["sign", "--generate-key", "--key", str(key_file)]).output)
    _ok(
        _call(server, "POST", "/api/v1/orgs/coop-live/keys", {"public_key": public["public_key"]}, token=coop)
    )
    entry = tmp_path / "entry.json"
    entry.write_text(
        json.dumps(
            {
                "batch": batch,
                "type": "farming.harvested",
                "event_time": datetime.now(UTC).isoformat(),
                "author": "coop-live",
                "id": "coop-live.harvest-1",
                "payload": {"quantity": "10", "unit": "kg"},
            }
        )
    )
    signed = runner.invoke(
        cli, ["sign", str(entry), "--key", str(key_file), "--head", f"{server.base_url}/api/v1"]
    )
    assert signed.exit_code == 0, signed.output
    document = json.loads(signed.output)
    assert document["entry"]["seq"] == 1 and document["entry"]["key"] == public["key_id"]
    recorded = _ok(_call(server, "POST", "/api/v1/entries", document, token=coop))
    assert recorded["seq"] == 1 and recorded["created"] is True
    key_file.chmod(0o644)
    refused = runner.invoke(cli, ["sign", str(entry), "--key", str(key_file)])
    assert refused.exit_code != 0 and "chmod 600" in refused.output


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
