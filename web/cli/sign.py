"""`farmtrace sign`: sign a ledger entry with a key the organisation keeps itself.

For labs and other organisations in self-custody (docs/api.md, "Self-custody"): the private
key never leaves their machine. The command reads an entry (JSON), fills what it can
(`v`, `key`, and with --head the chain's `seq`, `prev` and `recorded_at`), signs
SIGNATURE_CONTEXT || RFC 8785 bytes with Ed25519 and prints {"entry": ..., "signature": ...},
ready to POST to /api/v1/entries.

Key file: one line, either a C2SP signed-note signer key (`PRIVATE+KEY+<name>+<hex8>+<base64
of 0x01 and the 32-byte seed>`) or the base64 of the 32-byte Ed25519 seed alone. It must be
readable by its owner only (mode 0600); `--generate-key` writes a new one that way.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import VERSION, format_recorded_at, make_entry, parse_recorded_at
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.note import parse_signer_key

SEED_BYTES = 32


def load_key_file(path: Path) -> SigningKey:
    """The signing key in `path` (C2SP signer key or base64 seed), refusing a file others can read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"key file {str(path)!r} cannot be read: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise click.ClickException(
            f"key file {str(path)!r} is readable by others (mode {stat.S_IMODE(mode):o}); run chmod 600 on it"
        )
    try:
        if text.startswith("PRIVATE+KEY+"):
            return SigningKey.from_seed(parse_signer_key(text).seed)
        seed = b64decode(text, "key file")
        if len(seed) != SEED_BYTES:
            raise LedgerError(
                f"key file: expected the base64 of a {SEED_BYTES}-byte seed, found {len(seed)} bytes"
            )
        return SigningKey.from_seed(seed)
    except LedgerError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def write_key_file(path: Path) -> SigningKey:
    key = SigningKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(b64encode(key.seed) + "\n")
    return key


def fetch_head(api_base: str, batch: str, token: str | None) -> dict[str, Any]:
    if not api_base.startswith(("https://", "http://")):
        raise click.ClickException(f"--head: expected the API's http(s) base URL, found {api_base!r}")
    url = f"{api_base.rstrip('/')}/batches/{batch}/head"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise click.ClickException(f"GET {url}: HTTP {exc.code}: {detail}") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"GET {url}: {exc}") from None


def complete_entry(
    fields: dict[str, Any], key: SigningKey, head: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """`fields` with v, key and id filled in, and seq/prev/recorded_at from the chain head."""
    out = dict(fields)
    out.setdefault("v", VERSION)
    out.setdefault("key", key.key_id)
    out.setdefault("id", f"signed:{secrets.token_hex(12)}")
    if head is not None:
        out["seq"] = head["seq"] + 1
        out["prev"] = head["hash"]
        not_before = parse_recorded_at(format_recorded_at(datetime.fromisoformat(head["recorded_at"])))
        out["recorded_at"] = format_recorded_at(max(now, not_before))
    else:
        out.setdefault("recorded_at", format_recorded_at(now))
    return out


def sign_entry(fields: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """{"entry": fields, "signature": base64 Ed25519 over the entry's signing input}."""
    if fields.get("key") != key.key_id:
        raise click.ClickException(f"entry.key is {fields.get('key')!r} but the key file holds {key.key_id}")
    try:
        entry = make_entry(fields)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    return {"entry": entry.fields, "signature": b64encode(key.sign(entry.signing_input()))}


@click.command()
@click.argument(
    "entry_file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key file (mode 0600).",
)
@click.option(
    "--head",
    "api_base",
    help="API base URL (https://host/api/v1): fill seq, prev, recorded_at from the chain head.",
)
@click.option("--token", envvar="FARMTRACE_TOKEN", help="Bearer token for --head [env FARMTRACE_TOKEN].")
@click.option(
    "--generate-key", is_flag=True, help="Write a new key to --key and print its public key; sign nothing."
)
def sign(
    entry_file: Path | None, key_file: Path, api_base: str | None, token: str | None, generate_key: bool
) -> None:
    """Sign ENTRY_FILE (JSON; - for stdin) with a local key and print {entry, signature}."""
    if generate_key:
        key = write_key_file(key_file)
        click.echo(json.dumps({"key_id": key.key_id, "public_key": b64encode(key.public_key)}))
        return
    if entry_file is None:
        raise click.UsageError("ENTRY_FILE is required (or --generate-key)")
    key = load_key_file(key_file)
    try:
        raw = sys.stdin.read() if str(entry_file) == "-" else entry_file.read_text(encoding="utf-8")
        fields = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{entry_file}: not a JSON entry: {exc}") from None
    if not isinstance(fields, dict):
        raise click.ClickException(f"{entry_file}: expected a JSON object")
    if isinstance(fields.get("entry"), dict):
        fields = fields["entry"]  # accept a previous {entry, signature} output for re-signing
    head = None
    if api_base:
        if not isinstance(fields.get("batch"), str):
            raise click.ClickException("entry.batch: needed to fetch the chain head")
        head = fetch_head(api_base, fields["batch"], token)
    signed = sign_entry(complete_entry(fields, key, head, datetime.now(UTC)), key)
    click.echo(json.dumps(signed, ensure_ascii=False, indent=2))
