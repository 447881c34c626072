"""`farmtrace codes` as the packing station and the operator use it: issue, show, void,
reprint, ranges, export (constant memory, progress bar on a terminal) and flush."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from codes_testkit import DOMAIN, GTIN, PACKER, CodesEnv, make_codes_env

from farmtrace.trace.gs1.qr_uri import qr_uri
from farmtrace.trace.serials import parse_serial
from farmtrace.web.cli import main

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


@pytest.fixture
def cli_env(env: CodesEnv, database_url: str, tmp_path: Path) -> dict[str, str]:
    # tests/trace/conftest.py keeps the master key in tmp_path/keys, where FARMTRACE_HOME finds it.
    return {
        "FARMTRACE_HOME": str(tmp_path),
        "FARMTRACE_DATABASE_URL": database_url,
        "FARMTRACE_PUBLIC_BASE_URL": f"https://{DOMAIN}",
        "FARMTRACE_MAX_CODES_PER_REQUEST": "500000",
    }


def farmtrace(cli_env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=cli_env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_issue_show_void_reprint_ranges(env: CodesEnv, cli_env: dict[str, str]) -> None:
    code, out, _ = farmtrace(
        cli_env, "codes", "issue", "--batch", env.batch, "--count", "1000", "--station", PACKER
    )
    assert code == 0, out
    fields = dict(line.split(None, 1) if " " in line else (line, "") for line in out.splitlines())
    assert fields["count"] == "1,000" and fields["station"] == PACKER and fields["batch"] == env.batch
    first, last = out.split("first serial ")[1].split()[0], out.split("last serial  ")[1].split()[0]
    keyring = env.codes.keyring()
    env.session.commit()  # the fixture's session has write intent: end its transaction
    assert parse_serial(keyring, last) - parse_serial(keyring, first) == 999

    code, out, _ = farmtrace(
        cli_env, "codes", "show", qr_uri(DOMAIN, first, gtin=GTIN, lot="LOT-A1"), "--json"
    )
    shown = json.loads(out)
    assert code == 0 and shown["genuine"] and shown["serial"] == first and shown["scans"]["count"] == 0
    assert shown["range"]["first_serial"] == first and shown["batch"] == {
        "id": env.batch,
        "lot": "LOT-A1",
        "recalled": False,
    }

    code, out, _ = farmtrace(
        cli_env, "codes", "void", "--code", last, "--reason", "label torn", "--by", PACKER
    )
    assert code == 0 and out.startswith(f"voided code {last} (1 codes) by {PACKER}")
    code, out, _ = farmtrace(cli_env, "codes", "show", last)
    assert code == 0 and out.startswith("status   voided\n") and "signal   danger voided: label torn" in out
    range_id = shown["range"]["range"]
    code, out, _ = farmtrace(cli_env, "codes", "reprint", "--range", str(range_id), "--reason", "roll jammed")
    assert code == 0 and "reprinted range (1,000 codes) by wuhua-county" in out
    code, out, _ = farmtrace(cli_env, "codes", "ranges", "--batch", env.batch)
    assert code == 0 and "voided code" in out and "reprinted range" in out and "roll jammed" in out


def test_refusals_are_one_sentence(env: CodesEnv, cli_env: dict[str, str]) -> None:
    code, _, err = farmtrace(cli_env, "codes", "issue", "--batch", env.batch, "--count", "500001")
    assert code == 1 and err == "Error: count: expected 1 to 500,000 codes per request, found 500001\n"
    code, _, err = farmtrace(cli_env, "codes", "issue", "--batch", "B0000000000ZZ", "--count", "5")
    assert code == 1 and err == "Error: batch: no batch 'B0000000000ZZ'\n"
    code, _, err = farmtrace(cli_env, "codes", "void", "--reason", "x")
    assert code == 2 and "give exactly one of --code and --range" in err
    code, out, _ = farmtrace(cli_env, "codes", "show", "ABCDE")
    assert code == 1 and out.startswith(
        "status   typo\nhint     Invalid code 'ABCDE': Expected 20 characters"
    )


def test_export_streams_every_live_code(env: CodesEnv, cli_env: dict[str, str], tmp_path: Path) -> None:
    first = env.codes.issue(PACKER, env.batch, 30_000)
    second = env.codes.issue(PACKER, env.batch, 5)
    env.codes.void(PACKER, "torn", code=first.last_serial)
    env.codes.void(PACKER, "misprinted roll", range_id=second.range_id)
    env.session.commit()
    target = tmp_path / "roll.csv"
    code, _, err = farmtrace(cli_env, "codes", "export", "--batch", env.batch, "-o", str(target))
    assert (
        code == 0
        and err == f"29,999 codes (1 voided codes left out; voided ranges left out: {second.range_id})\n"
    )
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 29_999 and rows[0]["serial"] == first.first_serial
    assert first.last_serial not in {r["serial"] for r in rows}
    for row in rows[::997]:
        assert row["uri"] == qr_uri(DOMAIN, row["serial"], gtin=GTIN, lot="LOT-A1")
    code, out, _ = farmtrace(
        cli_env, "codes", "export", "--batch", env.batch, "--range", str(first.range_id), "--format", "txt"
    )
    assert code == 0 and out.splitlines() == [r["uri"] for r in rows]
    code, _, err = farmtrace(
        cli_env, "codes", "export", "--batch", env.batch, "--range", str(second.range_id)
    )
    assert (
        code == 1
        and err == f"Error: range: range {second.range_id} is voided; its codes must not be printed\n"
    )


def test_export_shows_a_progress_bar_on_a_terminal(
    env: CodesEnv, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env.codes.issue(PACKER, env.batch, 20_000)
    env.session.commit()
    target = tmp_path / "roll.txt"
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [FARMTRACE, "codes", "export", "--batch", env.batch, "--format", "txt", "-o", str(target)],
            env={**os.environ, **cli_env},
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            timeout=60,
        )
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(primary)
    assert result.returncode == 0
    assert b"codes  [" in seen and b"100%" in seen and b"20,000 codes" in seen
    assert len(target.read_text().splitlines()) == 20_000


def test_flush_counts_waiting_scans(env: CodesEnv, cli_env: dict[str, str]) -> None:
    code, out, _ = farmtrace(cli_env, "codes", "flush")
    assert code == 0 and out == "0 scans counted\n"
