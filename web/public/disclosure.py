"""项目信息公开: the programme's public disclosure page, /disclosure.

Aggregate figures (Report.public(): no person named, small poverty counts withheld), the
recalls in force, and everything a third party needs to check the record independently:
the log's origin and public key (a C2SP note verifier key), the root key, the witnesses,
every published checkpoint with its signatures and witness cosignatures (paginated), the
endpoints that serve the log, and the format documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from flask import Response, abort, current_app, render_template, request

from farmtrace.ledger.checkpoint import parse_checkpoint
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.note import VerifierKey, format_verifier_key, parse_note
from farmtrace.ledger.verify import format_root_key
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.reports import live
from farmtrace.trace.reports.period import COUNTY_TZ, month, year
from farmtrace.trace.reports.report import county_figures
from farmtrace.web.datawall import TtlCache
from farmtrace.web.db import get_session
from farmtrace.web.public import bp
from farmtrace.web.settings import Settings

PER_PAGE: Final = 20
FIGURES_CACHE_SECONDS: Final = 300
MAX_PAGE: Final = 1_000_000
# Documents served as plain text when the source tree ships them (an editable install or a
# checkout); a wheel has no docs/ folder and the links then say so.
DOCS_DIR: Final = Path(__file__).resolve().parents[2] / "docs"
PUBLIC_DOCS: Final = ("ledger-format.md", "verification.md", "reports.md")


@dataclass(frozen=True)
class CheckpointRow:
    tree_size: int
    published: str
    root_hash: str
    note: str  # the log-signed note with the configured witnesses' cosignature lines
    cosignatures: tuple[live.Cosignature, ...]


@bp.get("/disclosure")
def disclosure() -> Response:
    settings: Settings = current_app.config["FARMTRACE"]
    page = _page(request.args.get("page", "1"))
    session = get_session()
    now = datetime.now(UTC)
    today = now.astimezone(COUNTY_TZ).date()
    checkpoints, total = live.checkpoints_page(session, page, PER_PAGE)
    witnesses = _witness_ids(settings)
    keys = live.log_and_root_keys(session)
    # A year of figures costs seconds on a large store; a public page must not recompute them
    # for every visitor.
    cache = TtlCache.of("disclosure", FIGURES_CACHE_SECONDS)
    html = render_template(
        "public/disclosure.html",
        county=live.county_name(session),
        year_label=today.year,
        year_figures=cache.get(("year", today), lambda: county_figures(session, year(today.year)).public()),
        month_figures=cache.get(
            ("month", today), lambda: county_figures(session, month(today.year, today.month)).public()
        ),
        recalls=live.recalls_in_force(session),
        origin=settings.log_origin,
        log_keys=[
            (k, format_verifier_key(VerifierKey(settings.log_origin, k.public_key)))
            for k in keys
            if k.role == "log"
        ],
        root_keys=[
            (k, format_root_key(k.public_key).strip(), b64encode(k.public_key))
            for k in keys
            if k.role == "root"
        ],
        witness_keys=settings.witness_keys,
        checkpoints=[_row(c, witnesses) for c in checkpoints],
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
        base_url=settings.public_base_url,
        docs=[name for name in PUBLIC_DOCS if (DOCS_DIR / name).is_file()],
        tz=COUNTY_TZ,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/disclosure/docs/<name>")
def disclosure_document(name: str) -> Response:
    """The format and verification documents, as the plain Markdown they are written in."""
    if name not in PUBLIC_DOCS or not (DOCS_DIR / name).is_file():
        abort(404)
    response = Response((DOCS_DIR / name).read_bytes(), mimetype="text/markdown")
    response.charset = "utf-8"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _page(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidInput("page", f"page: expected a page number from 1, found {text[:20]!r}")
    return int(text)


def _witness_ids(settings: Settings) -> set[tuple[str, str]]:
    ids = set()
    for vkey in settings.witness_keys:
        name, key_id, _key = vkey.split("+", 2)
        ids.add((name, key_id))
    return ids


def _row(checkpoint: live.PublishedCheckpoint, witnesses: set[tuple[str, str]]) -> CheckpointRow:
    try:
        text = parse_note(checkpoint.note).text
        root = b64encode(parse_checkpoint(text).root_hash)
    except LedgerError:
        root = "?"
    # As /checkpoint serves it: cosignatures of the witnesses configured now.
    shown = tuple(c for c in checkpoint.cosignatures if (c.witness, c.key_id) in witnesses)
    note = checkpoint.note + "".join(c.line + "\n" for c in shown)
    published = checkpoint.created_at.astimezone(COUNTY_TZ).strftime("%Y-%m-%d %H:%M:%S")
    return CheckpointRow(checkpoint.tree_size, published, root, note, shown)
