"""What the trace command groups share: one write transaction per command with the trace
services, errors as one readable line, JSON in and out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.errors import InvalidInput, TraceError
from farmtrace.trace.services import TraceServices, trace_services
from farmtrace.web.cli.context import connect, load_settings, master_key, write_session
from farmtrace.web.settings import Settings

T = TypeVar("T")
MAX_JSON_FILE = 8 * 1024 * 1024


def run(action: Callable[[TraceServices, Settings], T]) -> T:
    """Run `action` in one write transaction, committed if it returns; errors as one line."""
    settings = load_settings()
    engine = connect(settings)
    try:
        with write_session(engine) as session:
            keystore = KeyStore(session, master_key(settings))
            return action(trace_services(session, keystore), settings)
    except (TraceError, LedgerError) as exc:
        raise click.ClickException(one_line(exc)) from None


def one_line(exc: Exception) -> str:
    text = exc.message if isinstance(exc, InvalidInput) else str(exc)
    return " ".join(text.split())


def acting(t: TraceServices, org: str | None) -> str:
    """The acting organisation: the one named, or the county operator."""
    if org is not None:
        return org
    operator = t.orgs.operator()
    if operator is None:
        raise click.ClickException(
            "no county operator yet: run `farmtrace orgs bootstrap` or `farmtrace demo`"
        )
    return operator.id


def read_json(path: str, what: str = "payload") -> Any:
    """JSON from a file (or '-' for standard input), or one line saying what is wrong."""
    try:
        if path == "-":
            text = click.get_text_stream("stdin").read(MAX_JSON_FILE + 1)
        else:
            file = Path(path)
            if file.stat().st_size > MAX_JSON_FILE:
                raise click.ClickException(f"{what} file {path}: larger than {MAX_JSON_FILE} bytes")
            text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{what} file {path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"{what} file {path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(function)


def as_option(required: bool = False, help_text: str = "The acting organisation id.") -> Callable[..., Any]:
    return click.option("--as", "actor", required=required, metavar="ORG", help=help_text)
