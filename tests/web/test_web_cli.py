"""The farmtrace command as a user runs it: a real process, real exit codes, real messages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([FARMTRACE, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("db", "serve", "demo"):
        assert f"  {command} " in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("farmtrace, version ")


def test_wrong_database_url_is_one_line_and_fails(tmp_path) -> None:
    env = {"FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    result = run("db", "upgrade", env=env)
    assert result.returncode != 0
    assert result.stderr.startswith("Error: cannot open the database postgresql://nobody@127.0.0.1:1/x")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_current(database_url, tmp_path) -> None:
    env = {"FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": database_url}
    assert run("db", "upgrade", env=env).returncode == 0
    current = run("db", "current", env=env)
    lines = current.stdout.splitlines()
    assert lines[0].split()[-1] == lines[1].split()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_gunicorn_on_a_real_socket(database_url, tmp_path) -> None:
    env = {**os.environ, "FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": database_url}
    port = free_port()
    process = subprocess.Popen(
        [FARMTRACE, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/healthz", process)
        assert body == b'{"status":"ok"}\n'
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Booting worker" in output, output


def _get_when_up(url: str, process: subprocess.Popen, deadline_s: float = 30) -> bytes:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline_s}s")


def test_farmtrace_command_is_installed() -> None:
    assert Path(FARMTRACE).exists() or shutil.which("farmtrace")
