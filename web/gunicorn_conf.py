"""Gunicorn settings for production; every value can be overridden with GUNICORN_* variables."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: requests are short and database-bound; 2 × cores + 1 is gunicorn's own advice.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = 10_000
max_requests_jitter = 1_000
# Limit request line and header sizes; bodies are limited by the app (MAX_CONTENT_LENGTH).
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
errorlog = "-"
# Loading the app before forking shares its code pages; each worker opens its own connections.
preload_app = False


# The sequencer runs beside the workers as one child process of the master (set
# FARMTRACE_SEQUENCER=0 where a dedicated host runs `farmtrace sequencer` instead). Running
# more than one is safe, only wasteful: integration takes a database lock.
_sequencer = None


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    global _sequencer
    if os.environ.get("FARMTRACE_SEQUENCER", "1") == "0":
        return
    import subprocess
    import sys

    _sequencer = subprocess.Popen([sys.executable, "-m", "farmtrace.web.cli", "sequencer"])
    server.log.info("started sequencer (pid %s)", _sequencer.pid)


def on_exit(server) -> None:  # type: ignore[no-untyped-def]
    if _sequencer is not None and _sequencer.poll() is None:
        _sequencer.terminate()
        try:
            _sequencer.wait(timeout=10)
        except Exception:
            _sequencer.kill()
