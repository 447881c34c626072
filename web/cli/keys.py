"""`farmtrace keys`: the root, log and organisation keys (public forms only are ever printed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keys import key_id_for
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import VerifierKey, format_verifier_key
from farmtrace.ledger.verify import format_root_key, parse_root_key
from farmtrace.web.cli.context import connect, load_settings, master_key, write_session

DEFAULT_OPERATOR = "county"


@click.group()
def keys() -> None:
    """Create, show, rotate and revoke signing keys (custodial keys are sealed at rest)."""


def _keystore_command(action):  # type: ignore[no-untyped-def]
    settings = load_settings()
    engine = connect(settings)
    try:
        with write_session(engine) as session:
            return action(settings, KeyStore(session, master_key(settings)))
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


@keys.command()
@click.option(
    "--operator", default=DEFAULT_OPERATOR, show_default=True, help="The county operator's organisation id."
)
def init(operator: str) -> None:
    """Create the root and log keys and open the key chain (does nothing if they exist)."""

    def action(settings, store: KeyStore) -> None:  # type: ignore[no-untyped-def]
        created = store.bootstrap(operator)
        click.echo(f"root key {created.root.key_id}")
        click.echo(f"log key  {created.log.key_id}")
        click.echo(
            "log verifier key: "
            + format_verifier_key(VerifierKey(settings.log_origin, created.log.public_key))
        )
        return settings, created.root.public_key

    settings, root_public_key = _keystore_command(action)
    write_root_key(settings.keys_dir / "root.pub", root_public_key)


def write_root_key(path: Path, public_key: bytes) -> None:
    """Pin the root public key outside the database, for `farmtrace verify` (after commit)."""
    if not path.exists():
        path.write_text(format_root_key(public_key), encoding="utf-8")
        click.echo(f"root public key written to {path}; keep a copy elsewhere too")
        return
    try:
        pinned = parse_root_key(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, LedgerError) as exc:
        raise click.ClickException(f"{path} cannot be read as a root public key: {exc}") from None
    if pinned != public_key:
        click.echo(
            f"warning: {path} pins root key {key_id_for(pinned)}, but this database's root key is "
            f"{key_id_for(public_key)}; `farmtrace verify` will refuse this store",
            err=True,
        )


@keys.command()
@click.option("--org", required=True, help="Organisation id.")
def create(org: str) -> None:
    """Create a custodial key for an organisation and register it in the key chain."""
    _keystore_command(lambda _settings, store: click.echo(store.create_org_key(org).key_id))


@keys.command()
@click.option("--org", help="Only this organisation's keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(org: str | None, as_json: bool) -> None:
    """Show public keys with their validity (never a private key)."""

    def action(settings, store: KeyStore) -> None:  # type: ignore[no-untyped-def]
        records = store.public_keys(org)
        rows = [
            {
                "key_id": record.key_id,
                "org": record.org,
                "role": record.role,
                "public_key": b64encode(record.public_key),
                "valid_from": record.valid_from.isoformat(),
                "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
                **(
                    {"verifier_key": format_verifier_key(VerifierKey(settings.log_origin, record.public_key))}
                    if record.role == "log"
                    else {}
                ),
            }
            for record in records
        ]
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
            click.echo(f"{row['key_id']}  {row['role']:<4}  {row['org']:<16}  {state}  {row['public_key']}")

    _keystore_command(action)


@keys.command()
@click.option("--org", required=True, help="Organisation id.")
def rotate(org: str) -> None:
    """Give an organisation a new custodial key and revoke its previous ones."""
    _keystore_command(lambda _settings, store: click.echo(store.rotate(org).key_id))


@keys.command()
@click.argument("key_id")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
def revoke(key_id: str, reason: str) -> None:
    """Revoke a key: signatures made with it from now on are invalid."""
    _keystore_command(
        lambda _settings, store: click.echo(f"revoked {store.revoke(key_id, reason).entry.payload['key_id']}")
    )
