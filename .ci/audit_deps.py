"""Known vulnerabilities in farmtrace's installed dependencies, for CI.

    python .ci/audit_deps.py [--extra dev]

pip-audit is the tool: where PyPI's per-release JSON API (/pypi/NAME/VERSION/json) answers,
this runs `pip-audit --strict` and exits with its status. Some networks (this project's build
machines among them) reach PyPI only through a mirror that serves the project JSON
(/pypi/NAME/json) but not the per-release one. The project JSON carries the advisories that
affect the project's *latest* release, so for every dependency installed at its latest
release the answer is the same as pip-audit's; a dependency installed at an older release
cannot be checked that way and is listed as unaudited, never passed over in silence.

Exit status: 0 no known vulnerability; 1 a vulnerability found (or pip-audit failed);
2 no vulnerability data reachable at all, or a dependency that could not be audited and
--strict was given.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

PYPI = "https://pypi.org/pypi"
ROOT = "farmtrace"
TIMEOUT = 30


@dataclass(frozen=True)
class Advisory:
    package: str
    version: str
    ids: tuple[str, ...]
    fixed_in: tuple[str, ...]
    summary: str


@dataclass(frozen=True)
class Unaudited:
    package: str
    version: str
    reason: str


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(root: str, extras: tuple[str, ...]) -> dict[str, str]:
    """Installed name -> version for `root` and everything it requires, recursively,
    following `extras` of the root only (environment markers evaluated here)."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        key = canonical(name)
        if key in found:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # an optional dependency whose marker excluded it elsewhere
        found[key] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            envs = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, ()))
    found.pop(canonical(root), None)  # our own editable install is not a dependency
    return found


def advisories(package: str, version: str, project: dict) -> list[Advisory] | Unaudited:
    """What the project JSON says of `version`: its advisories if `version` is the latest
    release (the only one the project JSON speaks for), else Unaudited."""
    latest = project.get("info", {}).get("version")
    if latest != version:
        return Unaudited(
            package, version, f"latest release is {latest}; advisories are published for it only"
        )
    found = []
    for vuln in project.get("vulnerabilities") or []:
        if vuln.get("withdrawn"):
            continue
        summary = (vuln.get("summary") or vuln.get("details") or "N/A").replace("\n", " ")
        found.append(
            Advisory(
                package,
                version,
                (vuln["id"], *vuln.get("aliases", [])),
                tuple(vuln.get("fixed_in", [])),
                summary[:200],
            )
        )
    return found


def fetch_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 (always https://pypi.org)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def per_release_api_reachable() -> bool:
    from importlib.metadata import version

    try:
        return fetch_json(f"{PYPI}/pip/{version('pip')}/json") is not None
    except OSError:
        return False


def audit_one(package: str, version: str) -> list[Advisory] | Unaudited:
    try:
        project = fetch_json(f"{PYPI}/{package}/json")
    except OSError as exc:
        return Unaudited(package, version, f"project JSON unreachable: {exc}")
    if project is None:
        return Unaudited(package, version, "not on PyPI")
    return advisories(package, version, project)


def audit_from_project_json(deps: dict[str, str]) -> tuple[list[Advisory], list[Unaudited]]:
    found: list[Advisory] = []
    unaudited: list[Unaudited] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for result in pool.map(lambda item: audit_one(*item), sorted(deps.items())):
            if isinstance(result, Unaudited):
                unaudited.append(result)
            else:
                found.extend(result)
    return found, unaudited


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", action="append", default=[], help="extras of farmtrace to include (dev)")
    parser.add_argument("--strict", action="store_true", help="fail when a dependency could not be audited")
    args = parser.parse_args(argv)

    if per_release_api_reachable():
        pip_audit = Path(sys.executable).with_name("pip-audit")
        cmd = [str(pip_audit), "--local", "--skip-editable", "--progress-spinner", "off"]
        return subprocess.run(cmd + (["--strict"] if args.strict else [])).returncode

    deps = dependency_closure(ROOT, tuple(args.extra))
    try:
        if fetch_json(f"{PYPI}/pip/json") is None:
            raise OSError("no project JSON for pip")
    except OSError as exc:
        print(f"audit: no vulnerability data reachable ({exc}); nothing was audited")
        return 2
    print(f"audit: PyPI per-release JSON unreachable; checking {len(deps)} dependencies against project JSON")
    found, unaudited = audit_from_project_json(deps)
    for adv in found:
        fixed = ", ".join(adv.fixed_in) or "no fix"
        print(
            f"VULNERABLE {adv.package} {adv.version}: {' / '.join(adv.ids)} (fixed in {fixed}): {adv.summary}"
        )
    for item in unaudited:
        print(f"unaudited  {item.package} {item.version}: {item.reason}")
    audited = len(deps) - len(unaudited)
    print(f"audit: {audited} audited, {len(found)} known vulnerabilities, {len(unaudited)} unaudited")
    if found:
        return 1
    return 2 if unaudited and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
