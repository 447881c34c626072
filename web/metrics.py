"""Prometheus metrics at /metrics (prometheus-client), correct under several gunicorn workers.

Two sources, one exposition:
- Request counters and latency histograms, scans and verification failures are counted
  by each worker. Under gunicorn they are kept in prometheus-client's multiprocess mode:
  every process writes its own files in PROMETHEUS_MULTIPROC_DIR (default
  $FARMTRACE_HOME/prometheus) and a scrape of any worker sums them all.
- The state of the log (tree size, entries appended, sequencer lag, checkpoint age and
  cosignatures) is read from the database at scrape time, so every instance reports the
  same truth and nothing is double counted however many processes there are.

prometheus-client picks its storage when it is first imported, so it is imported only in
init_metrics, after PROMETHEUS_MULTIPROC_DIR is settled.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, g, request

from farmtrace.web.db import get_session
from farmtrace.web.health import NO_STORE, LogState, read_log_state
from farmtrace.web.settings import Settings

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets in seconds: scans should answer in tens of milliseconds on 3G-era budgets.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

bp = Blueprint("metrics", __name__)


@dataclass(frozen=True)
class _Metrics:
    registry: Any
    requests: Any
    latency: Any
    scans: Any
    verification_failures: Any


_metrics: _Metrics | None = None


def prepare_multiprocess_dir(path: Path) -> None:
    """Create the folder and remove files left by an earlier run (call before forking workers).

    prometheus-client's multiprocess mode needs an empty folder at start-up; the gunicorn
    master is the place to call this (docs/operations.md).
    """
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def init_metrics(app: Flask, settings: Settings) -> None:
    """Count every request, and serve /metrics."""
    if MULTIPROC_DIR_ENV not in os.environ and "gunicorn.arbiter" in sys.modules:
        folder = settings.home / "prometheus"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[MULTIPROC_DIR_ENV] = str(folder)
    _get_metrics()
    app.register_blueprint(bp)
    app.after_request(_observe)


def count_scan(outcome: str) -> None:
    """Count one scan of an item code; `outcome` is a small fixed vocabulary
    (e.g. "ok", "unknown_code", "recalled", "voided"), never the code itself."""
    if _metrics is not None:
        _metrics.scans.labels(outcome).inc()


def count_verification_failure(kind: str) -> None:
    """Count one input that failed cryptographic verification (signature, proof,
    cosignature...); `kind` is a small fixed vocabulary."""
    if _metrics is not None:
        _metrics.verification_failures.labels(kind).inc()


def _get_metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        disable_created_metrics()  # *_created series only add noise to a scrape
        registry = CollectorRegistry(auto_describe=True)
        _metrics = _Metrics(
            registry=registry,
            requests=Counter(
                "farmtrace_http_requests",
                "HTTP requests answered, by route template, method and status.",
                ["endpoint", "method", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "farmtrace_http_request_duration_seconds",
                "Time from the start of a request to its response, by route template and method.",
                ["endpoint", "method"],
                buckets=_BUCKETS,
                registry=registry,
            ),
            scans=Counter(
                "farmtrace_scans", "Item code scans answered, by outcome.", ["outcome"], registry=registry
            ),
            verification_failures=Counter(
                "farmtrace_verification_failures",
                "Inputs that failed cryptographic verification, by kind.",
                ["kind"],
                registry=registry,
            ),
        )
    return _metrics


def _observe(response: Response) -> Response:
    metrics = _get_metrics()
    # The route template, not the path: bounded label values whatever clients send.
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    metrics.requests.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        metrics.latency.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    from prometheus_client.values import ValueClass

    if getattr(ValueClass, "_multiprocess", False):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = _get_metrics().registry
    log_registry = CollectorRegistry(auto_describe=False)
    log_registry.register(_LogCollector(read_log_state(get_session())))
    body = generate_latest(registry) + generate_latest(log_registry)
    response = Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = NO_STORE
    return response


class _LogCollector:
    """The log's state as read at scrape time (see module docstring)."""

    def __init__(self, state: LogState) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.state
        yield CounterMetricFamily(
            "farmtrace_ledger_appends", "Ledger entries appended (integrated or waiting).", value=s.appended
        )
        yield GaugeMetricFamily("farmtrace_log_tree_size", "Leaves in the Merkle log.", value=s.tree_size)
        yield GaugeMetricFamily(
            "farmtrace_sequencer_queue", "Entries waiting for the sequencer.", value=s.unsequenced
        )
        yield GaugeMetricFamily(
            "farmtrace_sequencer_lag_seconds",
            "Age of the oldest entry waiting for the sequencer (0 when none waits).",
            value=s.sequencer_lag_s,
        )
        if s.checkpoint_size is not None:
            yield GaugeMetricFamily(
                "farmtrace_checkpoint_tree_size",
                "Tree size of the latest signed checkpoint.",
                value=s.checkpoint_size,
            )
            yield GaugeMetricFamily(
                "farmtrace_checkpoint_age_seconds",
                "Age of the latest signed checkpoint (grows while nothing is appended).",
                value=s.checkpoint_age_s or 0.0,
            )
            yield GaugeMetricFamily(
                "farmtrace_checkpoint_cosignatures",
                "Witness cosignatures stored for the latest checkpoint.",
                value=s.checkpoint_cosignatures,
            )
