"""The trace commands as a script uses them: real processes, JSON out, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from farmtrace.web.cli import main

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
GROUPS = ("orgs", "places", "products", "batches", "events", "export")


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FARMTRACE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        input=stdin,
        timeout=120,
    )


def test_every_trace_command_has_help() -> None:
    runner = CliRunner()
    for name in GROUPS:
        group = main.commands[name]
        assert isinstance(group, click.Group)
        for command in [None, *group.commands]:
            args = [name] if command is None else [name, command]
            result = runner.invoke(main, [*args, "--help"])
            assert result.exit_code == 0, (args, result.output)
            assert "Usage:" in result.output


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "FARMTRACE_HOME": str(tmp_path),
        "FARMTRACE_DATABASE_URL": database_url,
        "FARMTRACE_PUBLIC_BASE_URL": "https://trace.wuhua.example.cn",
    }


def test_demo_then_scripts_read_and_write(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run(cli_env, "demo").returncode == 0
    listed = json.loads(run(cli_env, "batches", "list", "--json").stdout)
    by_lot = {row["lot"]: row for row in listed}
    meicai = by_lot["MC2026-01"]
    assert (meicai["conformity"], meicai["flagged"]) == ("non_conformant", True)
    rice = by_lot["SMR2026-07A"]["id"]
    shown = json.loads(run(cli_env, "batches", "show", rice, "--json").stdout)
    assert shown["lineage"]["nodes"][0] == rice and shown["product"]["gtin"] == "06901234500011"

    payload = tmp_path / "sale.json"
    payload.write_text(
        json.dumps({"channel": "ecommerce", "order_reference": "JD-1", "quantity": "5", "unit": "kg"})
    )
    added = run(
        cli_env,
        "events",
        "add",
        "--type",
        "sale.recorded",
        "--batch",
        rice,
        "--as",
        "shop-wuhua",
        "--json-file",
        str(payload),
        "--client-id",
        "cli-test-1",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["created"] is True
    again = run(
        cli_env,
        "events",
        "add",
        "--type",
        "sale.recorded",
        "--batch",
        rice,
        "--as",
        "shop-wuhua",
        "--json-file",
        "-",
        "--client-id",
        "cli-test-1",
        "--json",
        stdin=payload.read_text(),
    )
    assert json.loads(again.stdout)["created"] is False

    refused = run(
        cli_env,
        "events",
        "add",
        "--type",
        "sale.recorded",
        "--batch",
        rice,
        "--as",
        "coop-changbu",
        "--json-file",
        str(payload),
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        f"Error: actor: only the current custodian of {rice} (shop-wuhua) may record sale.recorded; coop-changbu is not the custodian\n"
    )
    document = json.loads(run(cli_env, "export", "epcis", "--batch", rice).stdout)
    assert (
        document["type"] == "EPCISDocument"
        and document["sender"] == "https://trace.wuhua.example.cn/org/wuhua-county"
    )
    assert run(cli_env, "batches", "rebuild", "--check").stdout.endswith("projections match the ledger\n")


def test_errors_are_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = run(
        cli_env,
        "events",
        "add",
        "--type",
        "farming.harvested",
        "--batch",
        "B0000000000AA",
        "--as",
        "x",
        "--json-file",
        str(bad),
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: payload file {bad}: not valid JSON")
    assert len(result.stderr.splitlines()) == 1
    result = run(cli_env, "orgs", "add", "--id", "coop-x", "--kind", "cooperative", "--name-zh", "x")
    assert (
        result.stderr == "Error: no county operator yet: run `farmtrace orgs bootstrap` or `farmtrace demo`\n"
    )
