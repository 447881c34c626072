"""项目信息公开 (/disclosure) and the stats feed, on the engine under test.

The demonstration season is loaded, a complaint with a phone number is received, and the
log publishes 23 checkpoints, the latest cosigned by a configured witness. The page must
list the checkpoints (paginated, with signatures and the cosignature), the log's origin and
C2SP verifier key, the root key, how to verify, the recall in force and aggregate figures,
and no personal data: not the phone number, not the poverty household's name or id.
"""

from __future__ import annotations

import html as html_lib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.checkpoint import open_checkpoint
from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import Checkpoint
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SignerKey,
    VerifierKey,
    format_verifier_key,
    generate_signer_key,
    parse_note,
    parse_verifier_key,
)
from farmtrace.ledger.sequencer import integrate, latest_checkpoint
from farmtrace.trace.complaints import ComplaintService
from farmtrace.trace.demo import load_demo
from farmtrace.trace.services import trace_services
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings
from farmtrace.web.witnessing import store_cosignatures

ORIGIN = "trace.wuhua.example.cn/farmtrace-log"
WITNESS = "witness.example.org"
PHONE = "13912345678"
CHECKPOINTS = 23


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture(scope="module")
def site(database_factory, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One site for the module: the tests only read."""
    engine = create_db_engine(database_factory.new_url())
    tmp_path = tmp_path_factory.mktemp("disclosure")
    clock = Clock(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    master = MasterKey.load_or_create(tmp_path / "keys" / "master.key")
    witness = generate_signer_key(WITNESS, SIG_TYPE_COSIGNATURE_V1)
    with Session(write_engine(engine)) as session:
        keystore = KeyStore(session, master, Ledger(session, clock=clock))
        demo = load_demo(session, keystore, clock)
        t = trace_services(session, keystore, clock)
        ComplaintService(t.ctx).submit(demo.batches["lychee"], "safety", "吃了肚子疼", phone=PHONE)
        signer = SignerKey(ORIGIN, keystore.log_key().seed)
        integrate(session, signer)
        ledger = Ledger(session, clock=clock)
        coop = keystore.signer_for("coop-hengpi")
        ledger.open_chain(Draft("X1", "note.added", clock.now, "coop-hengpi", "x1-0", {"n": 0}), coop)
        for i in range(1, CHECKPOINTS):
            ledger.append(Draft("X1", "note.added", clock.now, "coop-hengpi", f"x1-{i}", {"n": i}), coop)
            integrate(session, signer)
        latest = latest_checkpoint(session)
        assert latest is not None
        text = parse_note(latest.note).text
        store_cosignatures(
            session, latest, [cosign(text, witness, 1_796_000_000)], [witness.verifier_key()], clock.now
        )
        session.commit()
        sizes = list(session.scalars(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size.desc())))
        log_vkey = format_verifier_key(VerifierKey(ORIGIN, keystore.log_key().public_key))
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(tmp_path),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "FARMTRACE_LOG_ORIGIN": ORIGIN,
            "FARMTRACE_WITNESS_KEYS": format_verifier_key(witness.verifier_key()),
        }
    )
    yield create_app(settings, engine=engine).test_client(), sizes, log_vkey, witness
    engine.dispose()


def test_the_page_lists_checkpoints_keys_and_recalls_without_personal_data(site) -> None:  # type: ignore[no-untyped-def]
    client, sizes, log_vkey, _witness = site
    assert len(sizes) == CHECKPOINTS
    response = client.get("/disclosure", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "项目信息公开" in html
    assert f'<code id="origin">{ORIGIN}</code>' in html
    assert log_vkey in html, "the log's C2SP verifier key is published"
    assert "farmtrace verify-url" in html and "/bundle/" in html and "/checkpoint" in html
    # Page 1: the 20 newest checkpoints, each with its signed note; the newest is cosigned.
    for size in sizes[:20]:
        assert f'id="checkpoint-{size}"' in html
    assert f'id="checkpoint-{sizes[20]}"' not in html
    newest = html.split(f'id="checkpoint-{sizes[0]}"')[1].split("</li>")[0]
    assert WITNESS in newest
    note = html_lib.unescape(newest.split('<pre class="note">')[1].split("</pre>")[0])
    assert note.startswith(f"{ORIGIN}\n{sizes[0]}\n") and f"— {ORIGIN} " in note and f"— {WITNESS} " in note
    # Recall in force, aggregate figures.
    assert "茶亭岗金柚" in html and "3 级召回" in html
    assert 'class="batches"' in html and 'class="scans"' in html
    # No personal data: the complainant's phone, the poverty household's name and id.
    for secret in (PHONE, "张氏农户", "household-zhang", "poverty_household"):
        assert secret not in html, secret

    older = client.get("/disclosure?page=2").get_data(as_text=True)
    assert all(f'id="checkpoint-{size}"' in older for size in sizes[20:])
    assert 'rel="prev"' in older and 'rel="next"' not in older
    assert client.get("/disclosure?page=0").status_code == 422
    assert client.get("/disclosure?page=x").status_code == 422
    assert client.get("/disclosure?lang=en").status_code == 200


def test_the_served_note_verifies_with_the_published_key(site) -> None:  # type: ignore[no-untyped-def]
    client, sizes, log_vkey, _witness = site
    html = client.get("/disclosure").get_data(as_text=True)
    block = html.split(f'id="checkpoint-{sizes[0]}"')[1].split('<pre class="note">')[1].split("</pre>")[0]
    note = html_lib.unescape(block)
    checkpoint, _ = open_checkpoint(note, parse_verifier_key(log_vkey))
    assert checkpoint.size == sizes[0]


def test_format_documents_and_the_feed(site) -> None:  # type: ignore[no-untyped-def]
    client, _sizes, _vkey, _witness = site
    document = client.get("/disclosure/docs/ledger-format.md")
    assert document.status_code == 200 and document.mimetype == "text/markdown"
    assert document.get_data(as_text=True).startswith("# farmtrace ledger format")
    assert client.get("/disclosure/docs/setup.cfg").status_code == 404
    assert client.get("/disclosure/docs/..%2Fsetup.cfg").status_code == 404

    feed = client.get("/api/v1/stats/annual?date=2026")
    assert feed.status_code == 200 and feed.mimetype == "application/json"
    assert feed.headers["Cache-Control"] == "public, max-age=60"
    body = feed.get_json()
    assert body["version"] == "1" and body["kind"] == "annual"
    assert body["county"]["recalls_issued"] == 1 and body["county"]["lab_tests"] == 6
    assert body["county"]["complaints"] == 1
    text = json.dumps(body, ensure_ascii=False)
    for secret in (PHONE, "张氏农户", "household-zhang"):
        assert secret not in text, secret
    past = client.get("/api/v1/stats/monthly?date=2026-06")
    assert past.headers["Cache-Control"] == "public, max-age=600"
    missing = client.get("/api/v1/stats/daily")
    assert missing.status_code == 422 and missing.mimetype == "application/problem+json"
    assert missing.get_json()["errors"][0]["field"] == "date"
    bad = client.get("/api/v1/stats/weekly?date=2026")
    assert bad.status_code == 422
    assert bad.get_json()["detail"] == "kind: expected one of daily, monthly, annual, found 'weekly'"
