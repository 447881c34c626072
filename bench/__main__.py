"""Run named benchmark groups, print their tables, and optionally rewrite docs/performance.md.

python -m bench                 # every group
python -m bench limits ledger   # some groups
python -m bench --write         # also rewrite those groups' sections of docs/performance.md
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.harness import table, write_section

GROUPS = {
    "limits": "bench.bench_limits",
    "ledger": "bench.bench_ledger",
    "events": "bench.bench_events",
    "codes": "bench.bench_codes",
    "printer": "bench.bench_printer",
    "verify": "bench.bench_verify",
    "reports": "bench.bench_reports",
    "scan_page": "bench.bench_scan_page",
    "bundle": "bench.bench_bundle",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all of {', '.join(GROUPS)})")
    parser.add_argument(
        "--write", action="store_true", help="rewrite the groups' sections of docs/performance.md"
    )
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(GROUPS))
        return 0
    unknown = [name for name in args.groups if name not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r}; known: {', '.join(GROUPS)}")
    for name in args.groups or list(GROUPS):
        module = importlib.import_module(GROUPS[name])
        print(f"## {module.TITLE}", flush=True)
        results = module.run()
        print(table(results), flush=True)
        if args.write:
            write_section(name, module.TITLE, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
