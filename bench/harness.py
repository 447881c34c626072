"""A small benchmark harness: named groups of measurements, a table, and docs/performance.md.

Each group writes its own marked section of docs/performance.md, so groups can be re-run one
at a time without disturbing the others' figures.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PERFORMANCE_MD = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


@dataclass(frozen=True)
class Result:
    name: str
    value: float
    unit: str
    limit: str = ""  # what this figure should be read against, e.g. "Ed25519 sign: 25,000/s"
    note: str = ""


def rate(operation: Callable[[], object], *, min_seconds: float = 1.0, min_runs: int = 5) -> float:
    """Operations per second of `operation`, timed over at least `min_seconds`."""
    runs = 0
    start = time.perf_counter()
    while True:
        operation()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and runs >= min_runs:
            return runs / elapsed


def timed(operation: Callable[[], object]) -> float:
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def format_value(value: float, unit: str) -> str:
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}"


def table(results: Iterable[Result]) -> str:
    lines = ["| measurement | figure | read against | note |", "|---|---:|---|---|"]
    for result in results:
        lines.append(
            f"| {result.name} | {format_value(result.value, result.unit)} | {result.limit} | {result.note} |"
        )
    return "\n".join(lines)


def write_section(group: str, title: str, results: list[Result], path: Path = PERFORMANCE_MD) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"### {title}\n\nMeasured {stamp} on {machine()}.\n\n{table(results)}\n"
    start, end = f"<!-- bench:{group}:start -->", f"<!-- bench:{group}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else _PREAMBLE
    block = f"{start}\n{body}{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + f"\n\n{block}\n"
    path.write_text(text, encoding="utf-8")


_PREAMBLE = """# Performance

Figures measured by `python -m bench --write` (see bench/), each beside the limit it should be
read against: the raw rate of the primitive it is built from, measured on the same machine in
the same run. Timings are never asserted in tests; they are recorded here.
"""
