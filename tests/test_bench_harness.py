"""The benchmark harness writes its own section of performance.md and leaves others alone."""

from __future__ import annotations

import subprocess
import sys

from _paths import REPO_ROOT

from bench.harness import Result, write_section


def test_sections_are_replaced_in_place(tmp_path) -> None:
    doc = tmp_path / "performance.md"
    write_section("a", "Group A", [Result("x", 1234.5, "/s", limit="y")], doc)
    write_section("b", "Group B", [Result("z", 2, "ms")], doc)
    write_section("a", "Group A", [Result("x", 99, "/s")], doc)
    text = doc.read_text()
    assert text.count("<!-- bench:a:start -->") == 1
    assert "| x | 99.00 /s |" in text and "1,234" not in text
    assert "| z | 2.00 ms |" in text
    assert text.index("bench:a:start") < text.index("bench:b:start")


def test_cli_lists_groups() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "limits" in result.stdout.split()
