"""`farmtrace verify-url URL --root-key KEY`: check a scan URL's record from outside.

Finds the batch the URL names, downloads its proof bundle (GET /bundle/<batch>.json) and
runs ledger.bundle_verify.verify_bundle against a root public key the user pinned, the same
steps the scan page's script runs on a phone (web/static/verify.js, docs/verification.md).
Needs no database and no settings: only the network and the key.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click

from farmtrace.ledger.bundle_verify import verify_bundle
from farmtrace.ledger.canonical import parse_json_strict
from farmtrace.ledger.encoding import b64decode
from farmtrace.ledger.errors import LedgerError, VerificationError
from farmtrace.ledger.note import SIG_TYPE_COSIGNATURE_V1, VerifierKey, parse_verifier_key

MAX_BUNDLE_BYTES = 32 * 1024 * 1024
_BUNDLE_PATH = re.compile(r"/bundle/([^/]+)\.json\Z")
_BATCH_PATH = re.compile(r"/batch/([^/]+)/?\Z")
_VKEY = re.compile(r"[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*")


def load_root_key(text: str) -> bytes:
    """The 32-byte root public key from the base64 of the key, a verifier key
    (name+hex8+base64(type||key)), or a file holding either."""
    source = text
    if "\n" not in text and Path(text).is_file():
        source = Path(text).read_text(encoding="utf-8").strip()
    try:
        if _VKEY.fullmatch(source) and len(source) > 44:
            return parse_verifier_key(source).public_key
        key = b64decode(source, "--root-key")
    except LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="--root-key") from None
    if len(key) != 32:
        raise click.BadParameter(
            f"expected a 32-byte Ed25519 public key, found {len(key)} bytes", param_hint="--root-key"
        )
    return key


def load_witness_keys(texts: tuple[str, ...]) -> tuple[VerifierKey, ...]:
    """Witness verifier keys (name+hex8+base64(0x04 || key)), each given as text or a file."""
    keys = []
    for text in texts:
        source = text
        if "\n" not in text and Path(text).is_file():
            source = Path(text).read_text(encoding="utf-8").strip()
        try:
            key = parse_verifier_key(source)
        except LedgerError as exc:
            raise click.BadParameter(str(exc), param_hint="--witness") from None
        if key.key_type != SIG_TYPE_COSIGNATURE_V1:
            raise click.BadParameter(
                f"{key.name}: expected a witness cosignature key (type 0x04), found type 0x{key.key_type:02x}",
                param_hint="--witness",
            )
        keys.append(key)
    return tuple(keys)


def fetch_json(url: str, timeout: float, strict: bool = True) -> Any:
    """GET `url` asking for JSON. `strict` parses as ledger JSON (duplicate keys and floats
    refused), for bundles; a resolver's answer may hold floats and is parsed plainly."""
    return parse_body(url, fetch_body(url, timeout), strict)


def fetch_body(url: str, timeout: float) -> bytes:
    # A server's answer names the next URL, so the scheme is checked here: never file: or ftp:.
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise click.ClickException(f"{url}: not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_BUNDLE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"{url}: cannot fetch ({reason})") from None
    if len(body) > MAX_BUNDLE_BYTES:
        raise click.ClickException(f"{url}: response is larger than {MAX_BUNDLE_BYTES} bytes")
    return body


def parse_body(url: str, body: bytes, strict: bool) -> Any:
    try:
        return parse_json_strict(body) if strict else json.loads(body)
    except (LedgerError, ValueError) as exc:
        raise click.ClickException(f"{url}: not usable JSON: {exc}") from None


def bundle_url_for(url: str, timeout: float) -> tuple[str, str | None, Any]:
    """(bundle URL, batch id the URL names or None, the bundle if the lookup already returned it).

    /bundle/<id>.json and /batch/<id> name the batch in their path. Any other URL (a GS1
    Digital Link /01/.../21/..., a short /c/<serial>) is asked, with Accept: application/json,
    which batch it belongs to: the answer must be a JSON object with "batch" (a string, or
    an object with "id") or "bundle_url".
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"expected an http(s) URL, found {url!r}", param_hint="URL")
    base = f"{parts.scheme}://{parts.netloc}"
    for pattern in (_BUNDLE_PATH, _BATCH_PATH):
        found = pattern.search(parts.path)
        if found:
            batch = urllib.parse.unquote(found.group(1))
            return f"{base}/bundle/{urllib.parse.quote(batch, safe='')}.json", batch, None
    body = fetch_body(url, timeout)
    answer = parse_body(url, body, strict=False)
    if isinstance(answer, dict) and "entries" in answer and "checkpoint" in answer:
        return url, None, parse_body(url, body, strict=True)  # a bundle after all
    batch = answer.get("batch", answer.get("batch_id")) if isinstance(answer, dict) else None
    if isinstance(batch, dict):
        batch = batch.get("id")
    if isinstance(answer, dict) and isinstance(answer.get("bundle_url"), str):
        return (
            urllib.parse.urljoin(url, answer["bundle_url"]),
            batch if isinstance(batch, str) else None,
            None,
        )
    if not isinstance(batch, str) or not batch:
        raise click.ClickException(
            f"{url}: the server's JSON names no batch (expected a 'batch' field); "
            "give the /batch/<id> or /bundle/<id>.json URL instead"
        )
    return f"{base}/bundle/{urllib.parse.quote(batch, safe='')}.json", batch, None


@click.command("verify-url")
@click.argument("url")
@click.option(
    "--root-key",
    "root_key_text",
    required=True,
    metavar="KEY",
    help="The operator's root public key, pinned from a source you trust: a verifier key "
    "(name+hex8+base64), the base64 of the 32-byte key, or a file holding either.",
)
@click.option(
    "--origin",
    default=None,
    help="The log origin to expect in the checkpoint (default: the origin the registered log key signed).",
)
@click.option(
    "--witness",
    "witness_texts",
    multiple=True,
    metavar="VKEY",
    help="A witness's cosignature verifier key (name+hex8+base64), or a file holding it; "
    "repeatable. Says which of them cosigned the checkpoint; an invalid cosignature by one fails.",
)
@click.option("--timeout", default=20.0, show_default=True, help="Seconds per HTTP request.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def verify_url(
    url: str,
    root_key_text: str,
    origin: str | None,
    witness_texts: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Verify the record behind a scan URL against a pinned root key; exit 0 if it verifies, 1 if not."""
    root_key = load_root_key(root_key_text)
    witnesses = load_witness_keys(witness_texts)
    bundle_url, batch, bundle = bundle_url_for(url, timeout)
    if bundle is None:
        bundle = fetch_json(bundle_url, timeout)
    if not isinstance(bundle, dict):
        raise click.ClickException(f"{bundle_url}: expected a proof bundle (a JSON object)")
    try:
        if batch is not None and bundle.get("batch") != batch:
            raise VerificationError(
                f"proof bundle: is for batch {bundle.get('batch')!r}, the URL names {batch!r}"
            )
        verdict = verify_bundle(bundle, root_key, origin, witnesses)
    except VerificationError as exc:
        if as_json:
            click.echo(
                json.dumps({"verified": False, "url": url, "bundle_url": bundle_url, "error": str(exc)})
            )
        else:
            click.echo(f"NOT VERIFIED: {bundle_url}", err=True)
            click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "verified": True,
                    "url": url,
                    "bundle_url": bundle_url,
                    "batch": verdict.batch,
                    "entries": verdict.entries,
                    "included": verdict.included,
                    "tree_size": verdict.tree_size,
                    "log_origin": verdict.log_origin,
                    "key_entries": verdict.key_entries,
                    "keys_included": verdict.keys_included,
                    "cosigned_by": list(verdict.cosigned_by),
                },
                ensure_ascii=False,
            )
        )
        return
    click.echo(
        f"verified: batch {verdict.batch}, {verdict.entries} records "
        f"({verdict.included} in the checkpoint), checkpoint {verdict.log_origin} #{verdict.tree_size}"
    )
    click.echo(
        f"key history: {verdict.key_entries} entries, keys/0 to keys/{verdict.key_entries - 1}, "
        f"linked and signed by the root key ({verdict.keys_included} in the checkpoint)"
    )
    if witnesses:
        names = ", ".join(verdict.cosigned_by) or "none"
        click.echo(
            f"witnesses: {len(verdict.cosigned_by)} of {len(witnesses)} cosigned the checkpoint ({names})"
        )
    if verdict.included < verdict.entries:
        click.echo(
            f"note: the newest {verdict.entries - verdict.included} record(s) are signed and chained "
            "but not yet in a published checkpoint"
        )
