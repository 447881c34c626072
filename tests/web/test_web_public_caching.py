"""The public pages' per-process caches (web/public/story_load.py, trace/codes/facts.py) and
what a scan costs in SQL statements.

Each cached piece is keyed by what makes it immutable (the batch chain's head entry hash,
the checkpoint size), so a change to the record must show on the very next request: a new
event, a recall, a new checkpoint, a witness's cosignature, and a record edited behind the
database's back once a new checkpoint is signed. The statement counts are bounds a change
must not exceed unnoticed (a count is deterministic, unlike a time).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session
from test_web_scan_page import ORIGIN, WITNESS, Site, build_site
from test_web_verify_js import edit_payload

from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SIG_TYPE_COSIGNATURE_V1, SignerKey, generate_signer_key, parse_note
from farmtrace.ledger.sequencer import integrate, latest_checkpoint
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.codes.models import Allocator
from farmtrace.trace.demo import OPERATOR
from farmtrace.trace.serials import make_serial
from farmtrace.trace.services import TraceServices, trace_services
from farmtrace.web.public.memo import TtlLru
from farmtrace.web.witnessing import store_cosignatures

WECHAT = {"User-Agent": "Mozilla/5.0 (Linux; Android 12) MicroMessenger/8.0"}
# Statements per request once the batch's story is cached (BEGIN on SQLite not counted).
# A counted scan: the code with its range, batch, product, void and chain head; the scan's
# inserts (one statement on PostgreSQL, two on SQLite); the item's count and places; the
# latest checkpoint and its witnesses.
WARM_SCAN = {"postgresql": 4, "sqlite": 5}
WARM_JSON = 3  # code, count, certificates
WARM_BATCH_PAGE = 1  # head, checkpoint and witnesses
UNKNOWN_CODE = 1  # the range query, as for a forged code
# The first scan of a batch also reads its record (batch view, entries, names) and runs the
# server's check (ledger.verify.verify_batch); most of these statements are theirs.
COLD_SCAN = {"postgresql": 29, "sqlite": 30}  # 28 and 29 at the time of writing
# On PostgreSQL the rate limits (web/ratelimit.py) are counted in the database: a lookup of a
# code reads the client's unknown-code count and adds one scan; a 404 adds one unknown code.
RATE_LIMIT = {"postgresql": 2, "sqlite": 0}
RATE_LIMIT_404 = {"postgresql": 1, "sqlite": 0}


@pytest.fixture
def site(database_factory, tmp_path: Path) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """A fresh site per test: every test here changes the record."""
    engine = create_db_engine(database_factory.new_url())
    yield build_site(engine, tmp_path)
    engine.dispose()


@pytest.fixture
def app(site: Site) -> Flask:
    return site.app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page(client: FlaskClient, path: str, **headers: str) -> str:
    response = client.get(path, headers={**WECHAT, **headers})
    assert response.status_code == 200, response.text[:500]
    return response.text


@contextmanager
def services(site: Site) -> Iterator[TraceServices]:
    """The county's services on a write session of their own, committed at the end."""
    master = MasterKey.load(site.settings.keys_dir / "master.key")
    with Session(write_engine(site.engine)) as session:
        yield trace_services(session, KeyStore(session, master))
        session.commit()


def record_temperature(site: Site, batch: str, celsius: str) -> None:
    """A new event on the batch's chain, by its custodian (the town's service station)."""
    now = datetime.now(UTC)
    with services(site) as t:
        custodian = t.batches.get(batch).to_json()["custodian"]
        t.events.record(
            batch,
            "logistics.temperature",
            {
                "min_celsius": "10",
                "max_celsius": "15",
                "device": "shelf-7",
                "readings": [{"time": now.isoformat(), "celsius": celsius}],
            },
            actor=custodian,
            event_time=now,
        )


def sign_checkpoint(site: Site) -> int:
    with Session(write_engine(site.engine)) as session:
        done = integrate(session, SignerKey(ORIGIN, KeyStore(session, _master(site)).log_key().seed))
        session.commit()
    assert done is not None
    return done.new_size


def unissued_path(site: Site) -> str:
    """A well-formed serial with a valid MAC that was never issued (as a forger cannot make)."""
    with services(site) as t:
        next_n = t.ctx.session.get(Allocator, 1).next_n
        key = CodeService(t.ctx).keyring().get(0)
    return f"/c/{make_serial(key, next_n + 7)}"


def cosign_latest(site: Site) -> None:
    with Session(write_engine(site.engine)) as session:
        checkpoint = latest_checkpoint(session)
        assert checkpoint is not None
        signer = generate_signer_key(WITNESS, SIG_TYPE_COSIGNATURE_V1)
        line = cosign(parse_note(checkpoint.note).text, signer, 1_796_000_100)
        store_cosignatures(session, checkpoint, [line], [signer.verifier_key()], datetime.now(UTC))
        session.commit()


def _master(site: Site) -> MasterKey:
    return MasterKey.load(site.settings.keys_dir / "master.key")


def server_entries(html: str) -> int:
    found = re.search(r"记录：服务器已核验（(\d+) 条记录）", html)
    assert found, "the server's check passed"
    return int(found.group(1))


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run meanwhile, on every engine (the scan writer's too); BEGIN not counted."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


# -- a change to the record shows on the next request ----------------------------------------


def test_a_new_event_shows_on_the_next_scan_and_batch_page(site: Site, client: FlaskClient) -> None:
    batch = site.batches["sweet-potato"]
    scan = site.scan_path("sweet-potato")
    first = page(client, scan)
    assert page(client, scan).count("step-logistics") == first.count("step-logistics")  # cached
    batch_page = client.get(f"/batch/{batch}")
    etag = batch_page.headers["ETag"]
    assert "实测 11.5 °C" not in first
    record_temperature(site, batch, "11.5")
    after = page(client, scan)
    assert "实测 11.5 °C" in after and "shelf-7" not in after
    assert server_entries(after) == server_entries(first) + 1, "the server checked the new entry"
    again = client.get(f"/batch/{batch}", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag and "实测 11.5 °C" in again.text


def test_a_recall_shows_at_once_on_the_page_and_in_json(site: Site, client: FlaskClient) -> None:
    scan = site.scan_path("sweet-potato")
    before = page(client, scan)
    assert 'data-alert="recalled"' not in before and "召回：未被召回" in before
    assert client.get(scan, headers={"Accept": "application/json"}).json["batch"]["recalled"] is False
    with services(site) as t:
        t.recalls.issue(
            OPERATOR, site.batches["sweet-potato"], "抽检不合格 (cache test)", client_id="r-cache"
        )
    after = page(client, scan)
    assert (
        'data-alert="recalled"' in after and "召回：已被召回" in after and "抽检不合格 (cache test)" in after
    )
    assert client.get(scan, headers={"Accept": "application/json"}).json["batch"]["recalled"] is True
    assert "召回：已被召回" in page(client, f"/batch/{site.batches['sweet-potato']}")


def test_a_new_checkpoint_and_its_cosignature_show_at_once(site: Site, client: FlaskClient) -> None:
    scan = site.scan_path("meicai")
    before = page(client, scan)
    size = int(re.search(r"公开检查点 #(\d+)，1 个独立见证方已联署", before).group(1))
    record_temperature(site, site.batches["sweet-potato"], "12.0")  # another batch's chain grows
    new_size = sign_checkpoint(site)
    assert new_size > size
    unsigned = page(client, scan)
    assert f"公开检查点 #{new_size}，尚无独立见证方联署" in unsigned
    assert server_entries(unsigned) == server_entries(before), "same chain, checked again"
    cosign_latest(site)
    assert f"公开检查点 #{new_size}，1 个独立见证方已联署" in page(client, scan)
    assert f"公开检查点 #{new_size}，1 个独立见证方已联署" in page(client, f"/batch/{site.batches['meicai']}")


def test_a_record_edited_behind_the_database_fails_at_the_next_checkpoint(
    site: Site, client: FlaskClient
) -> None:
    """The server's check is kept per (batch, head, checkpoint size): an edit that keeps the head
    is served as checked until the next checkpoint (or CHECK_TTL_S), then fails."""
    batch = site.batches["sweet-potato"]
    scan = site.scan_path("sweet-potato")
    assert 'data-alert="tampered"' not in page(client, scan)
    edit_payload(site.engine, batch, 3, {"verdict": "pass", "sample_id": "FORGED"})
    assert 'data-alert="tampered"' not in page(client, scan), "the check of this head is cached"
    record_temperature(site, site.batches["meicai"], "12.0")
    sign_checkpoint(site)
    html = page(client, scan)
    assert 'data-alert="tampered"' in html and "记录：服务器核验未通过" in html
    assert f"{batch}/3" in html


# -- how many statements ---------------------------------------------------------------------


def test_statements_per_request_stay_within_their_bounds(site: Site, client: FlaskClient) -> None:
    backend = site.engine.dialect.name
    limits = RATE_LIMIT[backend]
    page(client, site.scan_path("meicai"))  # once per process: the day's salt, the keys
    scan = site.scan_path("sweet-potato", 1)
    with statements() as cold:
        page(client, scan)
    assert len(cold) <= COLD_SCAN[backend] + limits, "\n".join(cold)
    for path in (scan, site.scan_path("sweet-potato", 2)):  # the same item again, another item
        with statements() as warm:
            html = page(client, path)
        assert "追溯码：正品" in html and "五华高山红薯" in html
        assert len(warm) <= WARM_SCAN[backend] + limits, "\n".join(warm)
    with statements() as found:
        response = client.get(scan, headers={"Accept": "application/json"})
    assert response.json["scans"]["count"] == 2 and len(found) <= WARM_JSON + limits, "\n".join(found)
    batch = f"/batch/{site.batches['sweet-potato']}"
    etag = client.get(batch).headers["ETag"]
    with statements() as found:
        assert client.get(batch).status_code == 200
    assert len(found) <= WARM_BATCH_PAGE, "\n".join(found)
    with statements() as found:
        assert client.get(batch, headers={"If-None-Match": etag}).status_code == 304
    assert len(found) <= WARM_BATCH_PAGE, "\n".join(found)
    unknown = unissued_path(site)
    with statements() as found:
        assert client.get(unknown, headers=WECHAT).status_code == 404
    assert len(found) <= UNKNOWN_CODE + limits + RATE_LIMIT_404[backend], "\n".join(found)


def test_counted_scans_on_sqlite_skip_the_fsync_ledger_writes_keep_it(site: Site, app: Flask) -> None:
    """SQLite: a scan commits on connections with synchronous=NORMAL, the app's own connections
    (which write ledger entries) keep FULL. PostgreSQL: the request's session writes the scan."""
    client = app.test_client()
    page(client, site.scan_path("lychee"))
    scan_engine = app.extensions.get("farmtrace.scan_engine")
    if site.engine.dialect.name != "sqlite":
        assert scan_engine is None
        return
    assert scan_engine is not None and scan_engine is not site.engine
    with scan_engine.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    with site.engine.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    assert "1 次（首次" in page(client, site.scan_path("lychee", 1))
    assert "2 次（首次" in page(client, site.scan_path("lychee", 1))


def test_ttl_lru_drops_the_oldest_and_the_expired() -> None:
    now = [0.0]
    cache: TtlLru[str, int] = TtlLru(2, 10.0, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    now[0] = 10.5
    assert cache.get("a") is None and len(cache) == 1
    cache.put("c", 4)  # a new value starts a new time to live
    now[0] = 19.5
    assert cache.get("c") == 4
