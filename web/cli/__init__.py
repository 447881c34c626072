"""The `farmtrace` command: thin glue between settings, the database and the domain."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import click

from farmtrace.web.cli import db, demo, keys, sequencer, serve, sign, witness
from farmtrace.web.cli.backup import backup, restore
from farmtrace.web.cli.batches import batches
from farmtrace.web.cli.codes import codes
from farmtrace.web.cli.events import events
from farmtrace.web.cli.export import export
from farmtrace.web.cli.orgs import orgs
from farmtrace.web.cli.places import places
from farmtrace.web.cli.print_cmd import print_labels
from farmtrace.web.cli.products import products
from farmtrace.web.cli.report import report
from farmtrace.web.cli.verify import verify
from farmtrace.web.cli.verify_url import verify_url

try:
    __version__ = version("farmtrace")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="farmtrace")
def main() -> None:
    """farmtrace: one code per item, backed by a signed, append-only record.

    Settings come from FARMTRACE_* environment variables (see docs/configuration.md);
    with none set, data lives in ./var/ in a SQLite file.
    """


main.add_command(db.db)
main.add_command(serve.serve)
main.add_command(demo.demo)
main.add_command(keys.keys)
main.add_command(sequencer.sequencer)
main.add_command(sign.sign)
main.add_command(codes)
main.add_command(print_labels)
main.add_command(orgs)
main.add_command(places)
main.add_command(products)
main.add_command(batches)
main.add_command(events)
main.add_command(export)
main.add_command(witness.witness)
main.add_command(verify_url)
main.add_command(verify)
main.add_command(report)
main.add_command(backup)
main.add_command(restore)
