"""Structured logs, Prometheus metrics and health probes, in-process and under gunicorn."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.web.app import create_app
from farmtrace.web.logging import configure_logging
from farmtrace.web.metrics import count_scan, count_verification_failure, prepare_multiprocess_dir
from farmtrace.web.settings import Settings

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
ORIGIN = "trace.example.org/farmtrace-log"
WHEN = datetime(2026, 8, 30, tzinfo=UTC)
SECRETS = ("s3cr3t-t0ken", "c00kie-value", "13800138000", "zhang-san")


def make_app(engine: Engine, home: Path, **env: str):  # type: ignore[no-untyped-def]
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(home),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            **env,
        }
    )
    return create_app(settings, engine=engine)


def seed(engine: Engine, home: Path, waiting_since: datetime | None = None) -> None:
    """Keys, a batch, one checkpoint; optionally one more entry left waiting for the sequencer
    since `waiting_since` (the ledger's clock is set back for everything, so the chain's
    times stay in order and the keys are valid when they sign)."""
    clock = (lambda: waiting_since) if waiting_since is not None else (lambda: datetime.now(UTC))
    with Session(write_engine(engine)) as session:
        ledger = Ledger(session, clock=clock)
        keys = KeyStore(session, MasterKey.load_or_create(home / "master.key"), ledger).bootstrap("county")
        coop = KeyStore(session, MasterKey.load(home / "master.key"), ledger).create_org_key("coop-1")
        ledger.open_chain(Draft("B1", "batch.registered", WHEN, "coop-1", "reg"), coop)
        integrate(session, SignerKey(ORIGIN, keys.log.seed))
        if waiting_since is not None:
            ledger.append(Draft("B1", "farming.input", WHEN, "coop-1", "late"), coop)
        session.commit()


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    yield stream
    configure_logging()  # back to stderr for the tests that follow


def request_lines(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "farmtrace.request"]


def test_one_json_line_per_request_with_id_and_without_secrets(engine, tmp_path, log_stream) -> None:
    client = make_app(engine, tmp_path).test_client()
    configure_logging(log_stream)
    response = client.get(
        f"/healthz?token={SECRETS[0]}&phone={SECRETS[2]}&{SECRETS[3]}",
        headers={
            "Authorization": f"Bearer {SECRETS[0]}",
            "Cookie": f"session={SECRETS[1]}",
            "X-Request-Id": "req-42.a",
        },
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "req-42.a"
    (line,) = request_lines(log_stream)
    assert set(line) == {
        "time", "level", "logger", "message", "request_id", "method", "path", "endpoint",
        "status", "duration_ms", "query_keys",
    }  # fmt: skip
    assert (line["request_id"], line["method"], line["path"], line["status"]) == (
        "req-42.a",
        "GET",
        "/healthz",
        200,
    )
    assert line["query_keys"] == ["phone", "token", "zhang-san"]  # names only, never values
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["time"]).tzinfo is not None
    logged = log_stream.getvalue()
    for secret in (SECRETS[0], SECRETS[1], SECRETS[2], "Bearer", "session="):
        assert secret not in logged


def test_a_bad_request_id_is_replaced_and_echoed(engine, tmp_path, log_stream) -> None:
    client = make_app(engine, tmp_path).test_client()
    configure_logging(log_stream)
    response = client.post("/no/such/page", headers={"X-Request-Id": "x" * 200})
    made = response.headers["X-Request-Id"]
    assert len(made) == 32 and int(made, 16) >= 0
    (line,) = request_lines(log_stream)
    assert (line["request_id"], line["status"], line["endpoint"]) == (made, 404, None)


def metric_samples(body: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def healthz_count(samples: dict) -> float:
    key = ("farmtrace_http_requests_total", (("endpoint", "/healthz"), ("method", "GET"), ("status", "200")))
    return samples.get(key, 0.0)


def test_metrics_count_requests_and_read_the_log(engine, tmp_path) -> None:
    seed(engine, tmp_path, waiting_since=datetime.now(UTC) - timedelta(minutes=10))
    client = make_app(engine, tmp_path).test_client()
    before = healthz_count(metric_samples(client.get("/metrics").text))
    for _ in range(3):
        client.get("/healthz")
    count_scan("ok")
    count_verification_failure("cosignature")
    response = client.get("/metrics")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/plain"
    samples = metric_samples(response.text)
    assert healthz_count(samples) == before + 3
    names = {name for name, _labels in samples}
    assert {
        "farmtrace_http_request_duration_seconds_bucket",
        "farmtrace_scans_total",
        "farmtrace_verification_failures_total",
    } <= names
    # Keys of root, log and coop-1, the registration, and one entry waiting.
    assert samples[("farmtrace_ledger_appends_total", ())] == 5
    assert samples[("farmtrace_log_tree_size", ())] == 4
    assert samples[("farmtrace_checkpoint_tree_size", ())] == 4
    assert samples[("farmtrace_sequencer_queue", ())] == 1
    assert 590 < samples[("farmtrace_sequencer_lag_seconds", ())] < 700
    assert samples[("farmtrace_checkpoint_cosignatures", ())] == 0


def test_readyz_states(engine, tmp_path) -> None:
    client = make_app(engine, tmp_path).test_client()
    empty = client.get("/readyz")
    assert (empty.status_code, empty.headers["Cache-Control"]) == (503, "no-store")
    assert empty.json["checks"]["checkpoint"] == "no signed checkpoint yet"

    seed(engine, tmp_path)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "checkpoint": "ok", "sequencer": "ok"},
    }
    assert client.get("/healthz").headers["Cache-Control"] == "no-store"


def test_readyz_fails_while_the_sequencer_lags_unless_told_not_to(engine, tmp_path) -> None:
    seed(engine, tmp_path, waiting_since=datetime.now(UTC) - timedelta(minutes=10))
    lagging = make_app(engine, tmp_path).test_client().get("/readyz")
    assert lagging.status_code == 503
    assert lagging.json["checks"]["sequencer"].startswith("the oldest of 1 waiting entries is 6")
    assert lagging.json["checks"]["sequencer"].endswith("s old, more than 60 s")
    relaxed = make_app(engine, tmp_path, FARMTRACE_READY_MAX_SEQUENCER_LAG="0").test_client()
    assert relaxed.get("/readyz").status_code == 200


def test_readyz_fails_when_the_schema_is_not_at_head(engine, tmp_path) -> None:
    seed(engine, tmp_path)
    with engine.begin() as connection:
        # Pretend the database is one revision behind the code, whatever the head is now.
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = make_app(engine, tmp_path).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["schema"].startswith("at revision ")
    assert "this code expects" in response.json["checks"]["schema"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_under_gunicorn_metrics_add_up_across_workers_and_logs_are_json(database_url, tmp_path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(tmp_path),
        "FARMTRACE_DATABASE_URL": database_url,
        "FARMTRACE_SEQUENCER": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [FARMTRACE, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # answered (503: no checkpoint in this empty log)
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer in 60 s"
                time.sleep(0.2)
        for _ in range(20):  # separate connections: both workers get some
            urllib.request.urlopen(f"{base}/healthz", timeout=10).close()
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            samples = metric_samples(response.read().decode())
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert healthz_count(samples) == 20
    assert list((tmp_path / "prometheus").glob("counter_*.db"))
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    paths = [line["path"] for line in lines if line.get("logger") == "farmtrace.request"]
    assert paths.count("/healthz") == 20
    assert len({line["request_id"] for line in lines if line.get("logger") == "farmtrace.request"}) == len(
        paths
    )


def test_prepare_multiprocess_dir_empties_the_folder_of_an_earlier_run(tmp_path) -> None:
    folder = tmp_path / "prometheus"
    prepare_multiprocess_dir(folder)
    (folder / "counter_123.db").write_bytes(b"stale")
    (folder / "keep.txt").write_text("not ours")
    prepare_multiprocess_dir(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
