"""The CI's dependency audit reads PyPI project JSON the way pip-audit reads per-release JSON."""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import version

from _paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("audit_deps", REPO_ROOT / ".ci" / "audit_deps.py")
audit_deps = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["audit_deps"] = audit_deps  # dataclasses look their module up while the class is built
spec.loader.exec_module(audit_deps)  # type: ignore[union-attr]

# The shape of PyPI's project JSON ("vulnerabilities" speaks for info.version only).
PROJECT = {
    "info": {"name": "example", "version": "2.0.1"},
    "vulnerabilities": [
        {
            "id": "PYSEC-2026-1",
            "aliases": ["CVE-2026-0001", "GHSA-xxxx-yyyy-zzzz"],
            "summary": None,
            "details": "Header injection\nin the parser.",
            "fixed_in": ["2.0.2"],
            "withdrawn": None,
        },
        {
            "id": "PYSEC-2025-9",
            "aliases": [],
            "details": "retracted",
            "fixed_in": [],
            "withdrawn": "2025-10-01",
        },
    ],
}


def test_latest_release_reports_live_advisories_only() -> None:
    found = audit_deps.advisories("example", "2.0.1", PROJECT)
    assert [adv.ids for adv in found] == [("PYSEC-2026-1", "CVE-2026-0001", "GHSA-xxxx-yyyy-zzzz")]
    assert found[0].fixed_in == ("2.0.2",)
    assert found[0].summary == "Header injection in the parser."


def test_older_release_is_unaudited_not_passed() -> None:
    result = audit_deps.advisories("example", "1.9.0", PROJECT)
    assert isinstance(result, audit_deps.Unaudited)
    assert "2.0.1" in result.reason


def test_no_vulnerabilities_key_means_none_for_latest() -> None:
    assert audit_deps.advisories("example", "2.0.1", {"info": {"version": "2.0.1"}}) == []


def test_closure_follows_dev_extra_and_excludes_ourselves() -> None:
    base = audit_deps.dependency_closure("farmtrace", ())
    dev = audit_deps.dependency_closure("farmtrace", ("dev",))
    assert base["sqlalchemy"] == version("sqlalchemy")
    assert "markupsafe" in base  # flask -> jinja2 -> markupsafe: followed recursively
    assert "pytest" not in base and "pytest" in dev
    assert "farmtrace" not in dev
