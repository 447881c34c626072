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
# No gunicorn access log: it would print query strings and client addresses. The app logs
# one JSON line per request without them (web/logging.py).
accesslog = None
errorlog = "-"
# Loading the app before forking shares its code pages; each worker opens its own connections.
preload_app = False


# Beside the workers the master starts, as child processes: the scan flusher (unless
# FARMTRACE_SCAN_FLUSHER=0), the sequencer (unless
# FARMTRACE_SEQUENCER=0, where a dedicated host runs `farmtrace sequencer`; running more than
# one is safe, only wasteful, since integration takes a database lock) and, when witnesses are
# configured, the client that pushes each new checkpoint to them for cosigning.
_children: list = []


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    from farmtrace.web.metrics import MULTIPROC_DIR_ENV, prepare_multiprocess_dir
    from farmtrace.web.settings import Settings

    settings = Settings.from_env()
    # Workers inherit this; the folder must be empty before they start (prometheus-client).
    folder = Path(os.environ.setdefault(MULTIPROC_DIR_ENV, str(settings.home / "prometheus")))
    prepare_multiprocess_dir(folder)
    commands = []
    if os.environ.get("FARMTRACE_SEQUENCER", "1") != "0":
        commands.append(["sequencer"])
    if os.environ.get("FARMTRACE_SCAN_FLUSHER", "1") != "0":
        # Moves counted scans into per-item tallies and drops expired address salts.
        commands.append(["codes", "flush", "--every", "5"])
    if settings.witness_urls:
        commands.append(["witness", "push"])
    for args in commands:
        child = subprocess.Popen([sys.executable, "-m", "farmtrace.web.cli", *args])
        _children.append(child)
        server.log.info("started %s (pid %s)", " ".join(args), child.pid)


def on_exit(server) -> None:  # type: ignore[no-untyped-def]
    for child in _children:
        if child.poll() is None:
            child.terminate()
    for child in _children:
        try:
            child.wait(timeout=10)
        except Exception:
            child.kill()
