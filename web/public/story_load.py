"""Reading a batch's story from the database: the inputs of web/public/story.build_story.

The server's own check of the record (ledger.verify.verify_batch: key history, chain links,
signatures, inclusion in the latest checkpoint) costs a few milliseconds, so each process
keeps its result per (batch, head entry, checkpoint size) for CHECK_TTL_S: a new entry or
checkpoint is checked at once, and a record changed behind the database's back is noticed
within that time (the phone's own check, verify.js, is never cached). The story's inputs
(batch view, entries, names) are kept the same way, per (batch, head, checkpoint, witnesses,
day): a scan then costs three small queries plus the scan itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from flask import current_app, g
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.models import Checkpoint, CosignatureRow, EntryRow, PublicKey
from farmtrace.ledger.verify import verify_batch
from farmtrace.trace.batches import BatchService
from farmtrace.trace.codes.facts import ScanFacts
from farmtrace.trace.context import TraceContext
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Org, Place
from farmtrace.web.i18n import DEFAULT_LOCALE, MESSAGES
from farmtrace.web.public.story import PlaceName, ScanInfo, ServerCheck, Story, StoryInput, build_story

CHECK_TTL_S: Final = 60.0
CHECK_CACHE_SIZE: Final = 2048
INPUT_CACHE_SIZE: Final = 256  # a story's inputs are some 10-50 KB of Python objects
ROOT_TTL_S: Final = 60.0


class _Checks:
    """A small LRU of server checks, per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[str, bytes, int], tuple[float, ServerCheck]] = OrderedDict()
        self.root: tuple[float, bytes | None] = (0.0, None)
        self.inputs: OrderedDict[tuple[Any, ...], tuple[float, StoryInput]] = OrderedDict()

    def get(self, key: tuple[str, bytes, int]) -> ServerCheck | None:
        with self.lock:
            found = self.items.get(key)
            if found is None or time.monotonic() - found[0] > CHECK_TTL_S:
                return None
            self.items.move_to_end(key)
            return found[1]

    def inputs_get(self, key: tuple[Any, ...]) -> StoryInput | None:
        with self.lock:
            found = self.inputs.get(key)
            if found is None or time.monotonic() - found[0] > CHECK_TTL_S:
                return None
            self.inputs.move_to_end(key)
            return found[1]

    def inputs_put(self, key: tuple[Any, ...], data: StoryInput) -> None:
        with self.lock:
            self.inputs[key] = (time.monotonic(), data)
            while len(self.inputs) > INPUT_CACHE_SIZE:
                self.inputs.popitem(last=False)

    def put(self, key: tuple[str, bytes, int], check: ServerCheck) -> None:
        with self.lock:
            self.items[key] = (time.monotonic(), check)
            while len(self.items) > CHECK_CACHE_SIZE:
                self.items.popitem(last=False)


def _checks() -> _Checks:
    """One cache per application (so per gunicorn worker, and per test app)."""
    found = current_app.extensions.get("farmtrace.story_checks")
    if found is None:
        found = current_app.extensions.setdefault("farmtrace.story_checks", _Checks())
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
    checks = _checks()
    loaded, key = checks.root
    if key is not None and time.monotonic() - loaded < ROOT_TTL_S:
        return key
    key = session.scalars(
        select(PublicKey.public_key)
        .where(PublicKey.role == "root", PublicKey.revoked_at.is_(None))
        .order_by(PublicKey.valid_from.desc())
        .limit(1)
    ).first()
    checks.root = (time.monotonic(), key)
    return key


def root_key_b64(session: Session) -> str:
    key = root_public_key(session)
    return "" if key is None else b64encode(key)


def head_hash(session: Session, batch_id: str) -> bytes | None:
    memo = g.setdefault("story_heads", {})
    if batch_id not in memo:
        memo[batch_id] = _head_hash(session, batch_id)
    return memo[batch_id]


def _head_hash(session: Session, batch_id: str) -> bytes | None:
    return session.scalars(
        select(EntryRow.entry_hash).where(EntryRow.batch == batch_id).order_by(EntryRow.seq.desc()).limit(1)
    ).first()


def latest_checkpoint_facts(session: Session) -> tuple[int, int]:
    """(tree size of the latest checkpoint, how many witnesses cosigned it), once per request."""
    if "story_checkpoint" not in g:
        g.story_checkpoint = _checkpoint_facts(session)
    return g.story_checkpoint


def _checkpoint_facts(session: Session) -> tuple[int, int]:
    size = session.scalar(select(func.max(Checkpoint.tree_size))) or 0
    if not size:
        return 0, 0
    witnesses = session.scalar(
        select(func.count(func.distinct(CosignatureRow.witness_name))).where(CosignatureRow.tree_size == size)
    )
    return size, int(witnesses or 0)


def server_check(session: Session, batch_id: str, head: bytes, size: int, origin: str | None) -> ServerCheck:
    key = (batch_id, head, size)
    checks = _checks()
    cached = checks.get(key)
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
    checks.put(key, check)
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
    if head is None or session.get(Batch, batch_id) is None:
        return None
    size, witnesses = latest_checkpoint_facts(session)
    today = datetime.now(UTC).date()
    checks = _checks()
    key = (batch_id, head, size, witnesses, today.isoformat())
    cached = checks.inputs_get(key)
    if cached is None:
        view = BatchService(ctx).get(batch_id).to_json()
        fields = [row.entry.fields for row in ctx.ledger.entries(batch_id)]
        cached = StoryInput(
            batch=view,
            entries=fields,
            places=_places(session, fields, view),
            orgs=_orgs(session, fields),
            check=server_check(session, batch_id, head, size, origin),
            witnesses=witnesses,
            checkpoint_size=size,
            today=today,
        )
        checks.inputs_put(key, cached)
    data = replace(cached, scan=scan, locale=locale)
    return build_story(data, translator(locale))


def _places(session: Session, fields: list[dict[str, Any]], view: dict[str, Any]) -> dict[str, PlaceName]:
    wanted = {view.get("origin_place"), view.get("location")}
    for entry in fields:
        payload = entry.get("payload") or {}
        wanted.update(payload.get(k) for k in ("place", "destination", "origin_place"))
    found: dict[str, PlaceName] = {}
    todo = [w for w in wanted if isinstance(w, str) and w]
    while todo:
        rows = session.scalars(select(Place).where(Place.id.in_(todo))).all()
        todo = []
        for row in rows:
            found[row.id] = PlaceName(row.name_zh, row.name_en, row.kind, row.parent_id)
            if row.parent_id and row.parent_id not in found:
                todo.append(row.parent_id)
    return found


def _orgs(session: Session, fields: list[dict[str, Any]]) -> dict[str, str]:
    wanted = set()
    for entry in fields:
        wanted.add(entry.get("author"))
        payload = entry.get("payload") or {}
        wanted.update(payload.get(k) for k in ("to", "carrier", "station"))
    ids = [w for w in wanted if isinstance(w, str) and w]
    return {row.id: row.name_zh for row in session.scalars(select(Org).where(Org.id.in_(ids)))}
