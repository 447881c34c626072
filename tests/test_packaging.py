"""The four code folders install as farmtrace.* and setup.cfg lists every package."""

from __future__ import annotations

import configparser
import subprocess
import sys

from _paths import REPO_ROOT

FOLDERS = {
    "trace": "farmtrace.trace",
    "ledger": "farmtrace.ledger",
    "web": "farmtrace.web",
    "printer": "farmtrace.printer",
    "migrations": "farmtrace.migrations",
}


def listed_packages() -> set[str]:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    return {line.strip() for line in config["options"]["packages"].splitlines() if line.strip()}


def test_every_package_folder_is_listed_in_setup_cfg() -> None:
    found = set()
    for folder, name in FOLDERS.items():
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO_ROOT / folder).parts
            found.add(".".join((name, *relative)))
    missing = found - listed_packages()
    assert not missing, f"add these to [options] packages in setup.cfg: {sorted(missing)}"


def test_imports_from_outside_the_checkout() -> None:
    code = "import farmtrace.trace, farmtrace.ledger, farmtrace.web, farmtrace.printer; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_stdlib_trace_is_not_shadowed() -> None:
    import trace

    assert hasattr(trace, "Trace"), "the stdlib trace module must stay importable as `trace`"
