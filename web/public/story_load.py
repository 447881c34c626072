"""Reading a batch's story from the database: the inputs of web/public/story.build_story.

What a page needs, what it depends on, and so what each process keeps it by (web/public/memo.py):
- the batch's record (batch view, chain entries, place and organisation names), by
  (batch, head entry hash, day). Every change to a batch is an entry on its chain (a recall
  too: trace/recalls.py), and a chain only grows, so a new entry is a new head and a new
  key. Names of places and organisations and a product's certificates are registry rows that
  change without an entry, so an item also expires after INPUT_TTL_S. The day is in the key
  because a certificate's validity depends on it.
- the server's own check of the record (ledger.verify.verify_batch: key history, chain
  links, signatures, inclusion in the latest checkpoint; a few milliseconds), by (batch,
  head, checkpoint size): a new entry or checkpoint is checked at once, and a record changed
  behind the database's back is noticed within CHECK_TTL_S (the phone's own check, verify.js,
  is never cached).
- the latest checkpoint's size and how many witnesses cosigned it: read on every request,
  in one statement, so a new checkpoint or cosignature shows at once.
- the operator's root public key, for ROOT_TTL_S.

A counted scan gets the head with its code (trace.codes.resolve), so on a warm cache its
story costs one statement (the checkpoint); the batch page costs one (head and checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from flask import current_app, g
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.models import Checkpoint, CosignatureRow, EntryRow, PublicKey
from farmtrace.ledger.verify import verify_batch
from farmtrace.trace.batches import BatchService
from farmtrace.trace.codes.facts import ScanFacts
from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import NotFound
from farmtrace.trace.models.registry import Org, Place
from farmtrace.web.i18n import DEFAULT_LOCALE, MESSAGES
from farmtrace.web.public.memo import TtlLru
from farmtrace.web.public.story import PlaceName, ScanInfo, ServerCheck, Story, StoryInput, build_story

CHECK_TTL_S: Final = 60.0
CHECK_CACHE_SIZE: Final = 2048
INPUT_TTL_S: Final = 60.0
INPUT_CACHE_SIZE: Final = 512  # a story's inputs are some 10-50 KB of Python objects
ROOT_TTL_S: Final = 60.0


@dataclass(frozen=True)
class Record:
    """A batch's record as of one head: what build_story needs besides the checkpoint."""

    batch: dict[str, Any]  # BatchView.to_json()
    entries: list[dict[str, Any]]
    places: dict[str, PlaceName]
    orgs: dict[str, str]


@dataclass
class StoryCaches:
    """One set per application (so per gunicorn worker, and per test app)."""

    records: TtlLru[tuple[str, bytes, str], Record] = field(
        default_factory=lambda: TtlLru(INPUT_CACHE_SIZE, INPUT_TTL_S)
    )
    checks: TtlLru[tuple[str, bytes, int], ServerCheck] = field(
        default_factory=lambda: TtlLru(CHECK_CACHE_SIZE, CHECK_TTL_S)
    )
    root: tuple[float, bytes | None] = (0.0, None)


def story_caches() -> StoryCaches:
    found = current_app.extensions.get("farmtrace.story_caches")
    if found is None:
        found = current_app.extensions.setdefault("farmtrace.story_caches", StoryCaches())
    return found


def translator(locale: str):  # type: ignore[no-untyped-def]
    """`tr(id, default=None, **values)`: the catalogue's text, or `default` for an id it lacks."""
    own = MESSAGES.get(locale, {})
    fallback = MESSAGES[DEFAULT_LOCALE]

    def tr(message_id: str, default: str | None = None, **values: object) -> str:
        text = own.get(message_id) or fallback.get(message_id)
        if text is None:
            return default if default is not None else message_id
        return text.format(**values) if values else text

    return tr


def root_public_key(session: Session) -> bytes | None:
    """The operator's current root public key (what verify.js pins), cached per process."""
    caches = story_caches()
    loaded, key = caches.root
    if key is not None and time.monotonic() - loaded < ROOT_TTL_S:
        return key
    key = session.scalars(
        select(PublicKey.public_key)
        .where(PublicKey.role == "root", PublicKey.revoked_at.is_(None))
        .order_by(PublicKey.valid_from.desc())
        .limit(1)
    ).first()
    caches.root = (time.monotonic(), key)
    return key


def root_key_b64(session: Session) -> str:
    key = root_public_key(session)
    return "" if key is None else b64encode(key)


# -- what changes: the head of a chain, the latest checkpoint (read per request) -------------

_HEAD = (
    select(EntryRow.entry_hash)
    .where(EntryRow.batch == bindparam("batch"))
    .order_by(EntryRow.seq.desc())
    .limit(1)
    .scalar_subquery()
)
_SIZE = select(func.max(Checkpoint.tree_size)).scalar_subquery()
_WITNESSES = (
    select(func.count(func.distinct(CosignatureRow.witness_name)))
    .where(CosignatureRow.tree_size == _SIZE)
    .scalar_subquery()
)
_CHECKPOINT = select(_SIZE, _WITNESSES)
_HEAD_AND_CHECKPOINT = select(_HEAD, _SIZE, _WITNESSES)


def note_head(batch_id: str, head: bytes | None) -> None:
    """Tell this request the head of `batch_id`, read elsewhere (with a scanned code)."""
    if head is not None:
        g.setdefault("story_heads", {})[batch_id] = head


def head_hash(session: Session, batch_id: str) -> bytes | None:
    """The hash of the newest entry of the chain, once per request (with the checkpoint)."""
    heads = g.setdefault("story_heads", {})
    if batch_id not in heads:
        head, size, witnesses = session.execute(_HEAD_AND_CHECKPOINT, {"batch": batch_id}).one()
        heads[batch_id] = None if head is None else bytes(head)
        g.story_checkpoint = (int(size or 0), int(witnesses or 0) if size else 0)
    return heads[batch_id]


def latest_checkpoint_facts(session: Session) -> tuple[int, int]:
    """(tree size of the latest checkpoint, how many witnesses cosigned it), once per request."""
    if "story_checkpoint" not in g:
        size, witnesses = session.execute(_CHECKPOINT).one()
        g.story_checkpoint = (int(size or 0), int(witnesses or 0) if size else 0)
    return g.story_checkpoint


def server_check(session: Session, batch_id: str, head: bytes, size: int, origin: str | None) -> ServerCheck:
    key = (batch_id, head, size)
    caches = story_caches()
    cached = caches.checks.get(key)
    if cached is not None:
        return cached
    root = root_public_key(session)
    if root is None or size == 0:
        check = ServerCheck("pending")
    else:
        try:
            report = verify_batch(session, batch_id, root, log_origin=origin)
            check = ServerCheck("ok", report.entries, report.tree_size)
        except LedgerError as exc:
            check = ServerCheck("failed", detail=str(exc).splitlines()[0][:300])
    caches.checks.put(key, check)
    return check


def etag_for(session: Session, batch_id: str, locale: str, version: str) -> str | None:
    """A strong validator of the batch page: its head entry, the checkpoint and the witnesses."""
    head = head_hash(session, batch_id)
    if head is None:
        return None
    size, witnesses = latest_checkpoint_facts(session)
    digest = hashlib.sha256(
        b"|".join([head, str(size).encode(), str(witnesses).encode(), locale.encode(), version.encode()])
    )
    return digest.hexdigest()[:32]


def scan_info(facts: ScanFacts, signals: list[dict[str, str]]) -> ScanInfo:
    return ScanInfo(
        status=facts.status,
        serial=facts.serial or "",
        count=facts.scans.count if facts.scans else 0,
        first_at=facts.scans.first_at if facts.scans else None,
        void_reason=facts.void_reason,
        signals=tuple((s["code"], s["level"], s["text"]) for s in signals),
    )


def load_story(
    ctx: TraceContext,
    batch_id: str,
    *,
    locale: str,
    origin: str | None,
    scan: ScanInfo | None = None,
) -> Story | None:
    """The story of `batch_id`, or None if there is no such batch."""
    session = ctx.session
    head = head_hash(session, batch_id)
    if head is None:
        return None
    size, witnesses = latest_checkpoint_facts(session)
    today = datetime.now(UTC).date()
    caches = story_caches()
    key = (batch_id, head, today.isoformat())
    record = caches.records.get(key)
    if record is None:
        record = _load_record(ctx, batch_id)
        if record is None:
            return None
        caches.records.put(key, record)
    data = StoryInput(
        batch=record.batch,
        entries=record.entries,
        places=record.places,
        orgs=record.orgs,
        check=server_check(session, batch_id, head, size, origin),
        witnesses=witnesses,
        checkpoint_size=size,
        scan=scan,
        locale=locale,
        today=today,
    )
    return build_story(data, translator(locale))


_ENTRY_FIELDS = select(EntryRow.canonical).where(EntryRow.batch == bindparam("batch")).order_by(EntryRow.seq)


def _load_record(ctx: TraceContext, batch_id: str) -> Record | None:
    try:
        view = BatchService(ctx).get(batch_id).to_json()
    except NotFound:
        return None
    session = ctx.session
    # The stored canonical bytes were validated when appended, and the server check below
    # verifies them: the story only reads their fields.
    fields = [json.loads(bytes(c)) for c in session.scalars(_ENTRY_FIELDS, {"batch": batch_id})]
    return Record(view, fields, _places(session, fields, view), _orgs(session, fields))


# Built once (building a statement costs more than running it on an index). The places and
# all their ancestors (village, town, county) in one statement; UNION (not ALL) ends the walk
# even if a parent link ever looped.
_UP = (
    select(Place.id, Place.parent_id)
    .where(Place.id.in_(bindparam("ids", expanding=True)))
    .cte("up", recursive=True)
)
_PARENT = aliased(Place)
_UP = _UP.union(select(_PARENT.id, _PARENT.parent_id).join(_UP, _PARENT.id == _UP.c.parent_id))
_PLACES_AND_ANCESTORS = select(Place.id, Place.name_zh, Place.name_en, Place.kind, Place.parent_id).where(
    Place.id.in_(select(_UP.c.id))
)
_ORG_NAMES = select(Org.id, Org.name_zh).where(Org.id.in_(bindparam("ids", expanding=True)))


def _places(session: Session, fields: list[dict[str, Any]], view: dict[str, Any]) -> dict[str, PlaceName]:
    wanted = {view.get("origin_place"), view.get("location")}
    for entry in fields:
        payload = entry.get("payload") or {}
        wanted.update(payload.get(k) for k in ("place", "destination", "origin_place"))
    ids = sorted(w for w in wanted if isinstance(w, str) and w)
    if not ids:
        return {}
    rows = session.execute(_PLACES_AND_ANCESTORS, {"ids": ids})
    return {row.id: PlaceName(row.name_zh, row.name_en, row.kind, row.parent_id) for row in rows}


def _orgs(session: Session, fields: list[dict[str, Any]]) -> dict[str, str]:
    wanted = set()
    for entry in fields:
        wanted.add(entry.get("author"))
        payload = entry.get("payload") or {}
        wanted.update(payload.get(k) for k in ("to", "carrier", "station"))
    ids = sorted(w for w in wanted if isinstance(w, str) and w)
    return {row.id: row.name_zh for row in session.execute(_ORG_NAMES, {"ids": ids})}
