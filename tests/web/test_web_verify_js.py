"""Consumer-side verification: web/static/verify.js in real headless Chromium, and
`farmtrace verify-url`, both against a live server on a socket.

The script must reach the same verdict, with the same message, as
ledger.bundle_verify.verify_bundle on the same bytes; every tampering test checks both.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import rfc8785
from browser import Browser, Page, dump_dom, live_server
from click.testing import CliRunner, Result
from flask import Blueprint, Flask, jsonify, request
from markupsafe import escape
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.bundle_verify import verify_bundle
from farmtrace.ledger.canonical import canonical_bytes
from farmtrace.ledger.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import format_recorded_at, make_entry
from farmtrace.ledger.errors import VerificationError
from farmtrace.ledger.keys import MasterKey, SigningKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SignerKey,
    VerifierKey,
    format_verifier_key,
    parse_note,
    parse_verifier_key,
)
from farmtrace.ledger.sequencer import integrate, latest_checkpoint
from farmtrace.web.app import create_app
from farmtrace.web.cli import main
from farmtrace.web.settings import Settings
from farmtrace.web.witnessing import store_cosignatures

ORIGIN = "trace.example.org/farmtrace-log"
# A witness of the test log (seed from public bytes: NOT secret) and its verifier key, whose
# base64 holds a '+' as a vkey's may: name+hex8+base64 splits at the first two only.
WITNESS_SIGNER = SignerKey("witness.example.org", bytes(range(102, 134)), SIG_TYPE_COSIGNATURE_V1)
WITNESS = format_verifier_key(WITNESS_SIGNER.verifier_key())
assert "+" in WITNESS.split("+", 2)[2]
FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
SETTLED = "document.getElementById('verify').dataset.state !== 'running'"
# What a producer might type: Chinese, an emoji (astral), quotes, markup, a control character.
TRICKY_PAYLOAD = {
    "product": "赣南脐橙 🍊",
    "note": 'said "ok" </script><b>\u0007',
    "dose_kg_per_mu": "12.5",
    "counts": [0, -1, 2**53 - 1],
    "nested": {"\U0001f600": 1, "\uffff": 2, "a": None, "b": True},
}


class Clock:
    """Moves 1 ms per reading, so a revocation is never in the same millisecond as an entry."""

    def __init__(self) -> None:
        self.now = datetime(2026, 9, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass
class Store:
    engine: Engine
    settings: Settings
    root_public_key: bytes
    log_signer: SignerKey
    root_key: SigningKey  # for tests that need entries the root really signed

    @property
    def root_b64(self) -> str:
        return b64encode(self.root_public_key)

    def app(self) -> Flask:
        app = create_app(self.settings, engine=self.engine)
        app.register_blueprint(pages_for_tests(self.root_b64))
        return app


def pages_for_tests(root_b64: str) -> Blueprint:
    """Test-only pages, same-origin with /bundle/..., standing in for the scan page."""
    bp = Blueprint("verify_test_pages", __name__)

    @bp.get("/_test/verify/<batch>")
    def verify_page(batch: str) -> str:
        lang = request.args.get("lang", "zh")
        root = request.args.get("root", root_b64)
        origin = request.args.get("origin", ORIGIN)
        witnesses = request.args.get("witnesses", WITNESS)
        return (
            f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>verify</title><link rel="stylesheet" href="/static/site.css">'
            '<script src="/static/verify.js" defer></script></head><body><main>'
            f'<section id="verify" data-bundle-url="/bundle/{escape(batch)}.json" '
            f'data-batch="{escape(batch)}" data-root-key="{escape(root)}" data-origin="{escape(origin)}" '
            f'data-witness-keys="{escape(witnesses)}">'
            "<p>本页会在您的手机上验证这批产品的记录。</p></section></main></body></html>"
        )

    @bp.get("/_test/blank")
    def blank() -> str:
        return '<!doctype html><html lang="en"><head><script src="/static/verify.js"></script></head></html>'

    @bp.get("/_test/language")
    def language() -> str:
        return (
            f"<!doctype html><html><body><p id=lang>{escape(request.headers.get('Accept-Language', ''))}</p>"
        )

    @bp.get("/_test/resolve/<serial>")
    def resolve(serial: str):  # type: ignore[no-untyped-def]
        # Stands in for the code resolver: a scan URL answers JSON naming its batch.
        return jsonify({"serial": serial, "batch": {"id": "B1"}})

    return bp


def build_store(engine: Engine, home: Path, filler: int = 3) -> Store:
    """Key chain 0 root, 1 log, 2 coop-1, 3 lab-1, 4 coop-1's new key, 5 revocation of the old
    one, 6 lab-2; batch B1 (two organisations, tricky payload, one entry not yet in the
    checkpoint), filler batch B0 so proofs have several levels; the checkpoint is cosigned by
    the witness WITNESS, which the settings configure."""
    clock = Clock()
    with Session(write_engine(engine)) as session:
        ledger = Ledger(session, clock=clock)
        keystore = KeyStore(session, MasterKey.load_or_create(home / "master.key"), ledger)
        keys = keystore.bootstrap("county")
        coop = keystore.create_org_key("coop-1")
        lab = keystore.create_org_key("lab-1")
        when = clock.now
        ledger.open_chain(Draft("B0", "batch.registered", when, "coop-1", "b0"), coop)
        for i in range(filler):
            ledger.append(Draft("B0", "farming.input", when, "coop-1", f"b0-{i}", {"n": i}), coop)
        ledger.open_chain(Draft("B1", "batch.registered", when, "coop-1", "reg", {"product": "脐橙"}), coop)
        ledger.append(Draft("B1", "farming.input", when, "coop-1", "f1", TRICKY_PAYLOAD), coop)
        ledger.append(Draft("B1", "lab.tested", when, "lab-1", "t1", {"verdict": "pass"}), lab)
        coop2 = keystore.rotate("coop-1")
        keystore.create_org_key("lab-2")  # so the revocation sits inside the key chain
        ledger.append(Draft("B1", "batch.packed", when, "coop-1", "p1", {"items": 120}), coop2)
        signer = SignerKey(ORIGIN, keys.log.seed)
        integrate(session, signer)
        checkpoint = latest_checkpoint(session)
        assert checkpoint is not None
        line = cosign(parse_note(checkpoint.note).text, WITNESS_SIGNER, 1_796_000_000)
        store_cosignatures(session, checkpoint, [line], [WITNESS_SIGNER.verifier_key()], clock.now)
        ledger.append(Draft("B1", "logistics.pickup", when, "coop-1", "l1"), coop2)  # not integrated
        session.commit()
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(home),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "FARMTRACE_LOG_ORIGIN": ORIGIN,
            "FARMTRACE_WITNESS_KEYS": WITNESS,
        }
    )
    return Store(engine, settings, keys.root.public_key, signer, keys.root)


@pytest.fixture(scope="module")
def clean_store(database_factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store for the tests that only read; tests that tamper get their own (`store`)."""
    engine = create_db_engine(database_factory.new_url())
    yield build_store(engine, tmp_path_factory.mktemp("clean-store"), filler=40)
    engine.dispose()


@pytest.fixture(scope="module")
def clean_server(clean_store: Store) -> Iterator[str]:
    with live_server(clean_store.app()) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def clean_bundle(clean_server: str) -> dict:
    return get_bundle(clean_server)


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Store:
    return build_store(engine, tmp_path)


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    with live_server(store.app()) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser.new_page() as opened:
        yield opened


@pytest.fixture(scope="module")
def blank(browser: Browser, clean_server: str) -> Iterator[Page]:
    """One page with the script loaded and no section, for calling FarmtraceVerify directly."""
    with browser.new_page() as opened:
        yield opened.goto(f"{clean_server}/_test/blank")


def get_bundle(base_url: str, batch: str = "B1") -> dict:
    with urllib.request.urlopen(f"{base_url}/bundle/{batch}.json") as response:
        return json.load(response)


def python_verdict(bundle: dict, root: bytes, witnesses: tuple[str, ...] = ()) -> str:
    try:
        verify_bundle(bundle, root, ORIGIN, [parse_verifier_key(w) for w in witnesses])
    except VerificationError as exc:
        return str(exc)
    return "verified"


def js_verdict(
    page: Page, bundle: dict, root: bytes, ed25519: bool = True, witnesses: tuple[str, ...] = ()
) -> dict:
    """Run FarmtraceVerify.verifyBundle in the page on exactly these bundle bytes."""
    return page.evaluate(
        f"""FarmtraceVerify.verifyBundle(JSON.parse({json.dumps(json.dumps(bundle))}),
            Uint8Array.from(atob({json.dumps(b64encode(root))}), c => c.charCodeAt(0)),
            {json.dumps(ORIGIN)}, {json.dumps(ed25519)}, {json.dumps(list(witnesses))})
          .then(v => ({{verdict: v}}), e => ({{error: e.message, ui: e.ui, where: e.where}}))"""
    )


# -- the verifying page --------------------------------------------------------------------


def verify_page(page: Page, base_url: str, batch: str = "B1", **query: str) -> str:
    params = "&".join(f"{k}={urllib.request.quote(v, safe='')}" for k, v in query.items())
    page.goto(f"{base_url}/_test/verify/{batch}?{params}", wait_for=SETTLED)
    return page.text("#verify")


def test_a_clean_batch_verifies_on_the_phone(page: Page, clean_server: str, clean_store: Store) -> None:
    started = time.monotonic()
    shown = verify_page(page, clean_server)
    elapsed = time.monotonic() - started
    bundle = get_bundle(clean_server)
    verdict = verify_bundle(bundle, clean_store.root_public_key, ORIGIN)
    assert page.attribute("#verify", "data-state") == "verified"
    assert f"在本机验证通过：{verdict.entries} 条记录，检查点 #{verdict.tree_size}" in shown
    assert (verdict.entries, verdict.included) == (5, 4)
    assert "最新的 1 条记录还没有写入公开检查点" in shown
    assert "本站公布的 1 个独立见证方中，有 1 个联署了此检查点（已在本机核验）。" in shown
    assert not [line for line in page.console if "exception" in line or "Content Security Policy" in line]
    shot = page.screenshot("verify-js-clean-zh")
    assert shot.stat().st_size > 1000
    script = next(r for r in page.responses if r.url.endswith("/static/verify.js"))
    print(f"\nverify.js: {script.encoded_bytes} bytes on the wire; page verified in {elapsed * 1000:.0f} ms")


def test_the_page_speaks_english_when_the_html_says_so(page: Page, clean_server: str) -> None:
    shown = verify_page(page, clean_server, lang="en")
    assert "Verified on this phone: 5 records, checkpoint #" in shown
    assert "Not in a published checkpoint yet: the newest 1 record(s)" in shown
    assert "1 of the 1 independent witnesses this site names cosigned this checkpoint" in shown
    page.screenshot("verify-js-clean-en")


def test_a_large_batch_verifies(page: Page, clean_server: str) -> None:
    started = time.monotonic()
    shown = verify_page(page, clean_server, batch="B0")
    elapsed = time.monotonic() - started
    assert "在本机验证通过：41 条记录" in shown
    # Reported, not asserted: timings belong in bench/ and docs/performance.md.
    print(f"\n41-entry batch verified in the browser in {elapsed * 1000:.0f} ms")


def test_same_verdict_as_python_on_the_clean_bundle(
    blank: Page, clean_server: str, clean_store: Store
) -> None:
    bundle = get_bundle(clean_server)
    result = js_verdict(blank, bundle, clean_store.root_public_key, witnesses=(WITNESS,))
    python = verify_bundle(bundle, clean_store.root_public_key, ORIGIN, [parse_verifier_key(WITNESS)])
    assert python.cosigned_by == ("witness.example.org",)
    assert result["verdict"] == {
        "batch": python.batch,
        "entries": python.entries,
        "included": python.included,
        "treeSize": python.tree_size,
        "origin": python.log_origin,
        "keyEntries": python.key_entries,
        "keysIncluded": python.keys_included,
        "cosignedBy": list(python.cosigned_by),
        "signaturesChecked": True,
    }


# -- tampered stores: the database edited behind the application's back ---------------------


def bypass_triggers(engine: Engine, statements: list[tuple[str, dict]]) -> None:
    """Run UPDATEs that the append-only triggers refuse, as an intruder with database access would."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for sql, params in statements:
                connection.execute(text(sql), params)
            return
        triggers = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND (name LIKE '%_no_update' OR name LIKE '%_no_delete')"
            )
        ).all()
        for name, _sql in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
        for sql, params in statements:
            connection.execute(text(sql), params)
        for _name, sql in triggers:
            connection.exec_driver_sql(sql)


def edit_payload(engine: Engine, batch: str, seq: int, change: dict) -> None:
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT canonical FROM ledger_entry WHERE batch = :b AND seq = :s"), {"b": batch, "s": seq}
        ).scalar_one()
    fields = json.loads(bytes(stored))
    fields["payload"].update(change)
    bypass_triggers(
        engine,
        [
            (
                "UPDATE ledger_entry SET canonical = :c WHERE batch = :b AND seq = :s",
                {"c": canonical_bytes(fields), "b": batch, "s": seq},
            )
        ],
    )


def replace_checkpoint(engine: Engine, note: str) -> None:
    bypass_triggers(
        engine,
        [
            (
                "UPDATE ledger_checkpoint SET note = :n "
                "WHERE tree_size = (SELECT MAX(tree_size) FROM ledger_checkpoint)",
                {"n": note},
            )
        ],
    )


def latest_note(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT note FROM ledger_checkpoint ORDER BY tree_size DESC LIMIT 1")
        ).scalar_one()


def assert_fails_alike(
    page: Page, server: str, store: Store, plain_zh: str, detail: str, **query: str
) -> None:
    """The page shows the failure in plain words and the technical message verify_bundle gives."""
    shown = verify_page(page, server, **query)
    root = b64decode(query.get("root", store.root_b64), "root")
    expected = python_verdict(get_bundle(server), root)
    assert detail in expected
    assert page.attribute("#verify", "data-state") == "failed"
    assert "验证失败：" + plain_zh in shown
    assert "技术细节：" + expected in shown


def test_an_edited_payload_fails_naming_the_entry(page: Page, server: str, store: Store) -> None:
    edit_payload(store.engine, "B1", 1, {"dose_kg_per_mu": "1.25"})
    assert_fails_alike(
        page,
        server,
        store,
        "记录 B1/1 的签名不符：签名后内容被改动，或并非登记的密钥所签。",
        "B1/1: signature does not verify with the key",
    )
    page.screenshot("verify-js-tampered-payload")


def test_an_edited_last_integrated_entry_fails_the_same_way(page: Page, server: str, store: Store) -> None:
    edit_payload(store.engine, "B1", 4, {"forged": "yes"})
    assert_fails_alike(page, server, store, "记录 B1/4 的签名不符", "B1/4: signature does not verify")


def test_a_revocation_deleted_from_the_store_fails_naming_the_gap(
    page: Page, server: str, store: Store
) -> None:
    # Version 1 carried only chosen key entries, so this went unnoticed; the whole chain does not.
    bypass_triggers(
        store.engine,
        [
            (
                "DELETE FROM merkle_leaf WHERE entry_id = "
                "(SELECT id FROM ledger_entry WHERE batch = 'keys' AND seq = 5)",
                {},
            ),
            ("DELETE FROM ledger_entry WHERE batch = 'keys' AND seq = 5", {}),
        ],
    )
    assert_fails_alike(
        page,
        server,
        store,
        "密钥登记链在 keys/6 处接不上：有密钥登记或撤销被删除、插入或改动。",
        "keys/6: expected seq 5; a key entry is missing or out of order",
    )
    shown = verify_page(page, server, lang="en")
    assert "the key register breaks at keys/6" in shown
    page.screenshot("verify-js-revocation-deleted")


def test_a_forged_checkpoint_fails(page: Page, server: str, store: Store) -> None:
    lines = latest_note(store.engine).split("\n")
    forger = SignerKey(ORIGIN, SigningKey.generate().seed)
    forged = sign_checkpoint(Checkpoint(lines[0], int(lines[1]), b64decode(lines[2], "root")), forger)
    replace_checkpoint(store.engine, forged)
    assert_fails_alike(
        page,
        server,
        store,
        "公开日志的检查点没有登记的日志密钥的有效签名。",
        "checkpoint: not signed by a registered log key (note: no signature by a known key",
    )
    page.screenshot("verify-js-forged-checkpoint")


def test_a_checkpoint_with_a_moved_root_fails(page: Page, server: str, store: Store) -> None:
    note = latest_note(store.engine)
    lines = note.split("\n")
    lines[2] = b64encode(bytes(32))  # the log's real signature line, over different text now
    replace_checkpoint(store.engine, "\n".join(lines))
    assert_fails_alike(
        page,
        server,
        store,
        "公开日志的检查点没有登记的日志密钥的有效签名。",
        "(note: invalid signature by known key trace.example.org/farmtrace-log+",
    )


def test_a_wrong_pinned_root_key_trusts_nothing(page: Page, clean_server: str, clean_store: Store) -> None:
    other = b64encode(SigningKey.generate().public_key)
    assert_fails_alike(
        page,
        clean_server,
        clean_store,
        "密钥登记 keys/0 不是由本站公布的根密钥签署的。",
        "keys/0: signed by k",
        root=other,
    )


def test_a_bundle_for_another_batch_is_refused(page: Page, clean_server: str, clean_store: Store) -> None:
    # The page names B1; a clean_server answering with B0's (genuine) bundle must not pass.
    page.goto(f"{clean_server}/_test/blank")
    script = """(async () => {
          const s = document.createElement('section');
          s.id = 'verify';
          Object.assign(s.dataset, {bundleUrl: '/bundle/B0.json', batch: 'B1', rootKey: ROOT, origin: ORIGIN});
          document.body.appendChild(s);
          await FarmtraceVerify.run(s);
          return [s.dataset.state, s.innerText];
        })()"""
    result = page.evaluate(
        script.replace("ROOT", json.dumps(clean_store.root_b64)).replace("ORIGIN", json.dumps(ORIGIN))
    )
    assert result[0] == "failed"
    assert "proof bundle: is for batch B0, the page names B1" in result[1]


# -- the same message as Python for every mutation of the bundle ----------------------------


def _mutations() -> list[tuple[str, object]]:
    def swap(b: dict) -> None:
        b["entries"].insert(1, b["entries"].pop(2))

    def swap_keys(b: dict) -> None:
        b["keys"].insert(4, b["keys"].pop(5))

    def relink_keys(b: dict) -> None:
        # The revocation left out and the next entry renumbered: only the root key could re-sign it.
        b["keys"].pop(5)
        b["keys"][5]["entry"].update(seq=5, prev=b64encode(make_entry(b["keys"][4]["entry"]).hash))

    def uncover_keys(b: dict) -> None:
        for item in b["keys"]:
            item["leaf_index"] = None

    def resign_checkpoint(b: dict) -> None:
        lines = b["checkpoint"].split("\n")
        forger = SignerKey(lines[0], SigningKey.generate().seed)
        b["checkpoint"] = sign_checkpoint(
            Checkpoint(lines[0], int(lines[1]), b64decode(lines[2], "root")), forger
        )

    return [
        ("payload edited", lambda b: b["entries"][1]["entry"]["payload"].update(dose_kg_per_mu="15")),
        ("entry removed", lambda b: b["entries"].pop(1)),
        ("entries swapped", swap),
        ("signature swapped", lambda b: b["entries"][2].update(signature=b["entries"][1]["signature"])),
        ("signature truncated", lambda b: b["entries"][2].update(signature=b64encode(bytes(63)))),
        ("head proof bent", lambda b: b["head_proof"]["hashes"].reverse()),
        ("head proof short", lambda b: b["head_proof"]["hashes"].pop()),
        ("head proof for another size", lambda b: b["head_proof"].update(tree_size=3)),
        ("head proof index", lambda b: b["head_proof"].update(leaf_index=10**6)),
        ("key entry dropped", lambda b: b["keys"].pop(3)),
        ("log key dropped", lambda b: b["keys"].pop(1)),
        ("revocation removed from the key chain", lambda b: b["keys"].pop(5)),
        ("key entry altered", lambda b: b["keys"][5]["entry"]["payload"].update(reason="mistake")),
        ("key entry edited", lambda b: b["keys"][2]["entry"]["payload"].update(org="coop-2")),
        ("key chain reordered", swap_keys),
        ("key chain relinked", relink_keys),
        ("key chain cut before its head", lambda b: b["keys"].pop()),
        ("key not of the key chain", lambda b: b["keys"][3]["entry"].update(batch="B0")),
        ("key head proof bent", lambda b: b["keys_head_proof"]["hashes"].reverse()),
        ("key head proof for another leaf", lambda b: b["keys_head_proof"].update(leaf_index=1)),
        ("key head proof for another size", lambda b: b["keys_head_proof"].update(tree_size=3)),
        ("key head proof missing", lambda b: b.update(keys_head_proof=None)),
        ("key chain not in the checkpoint", uncover_keys),
        ("version 1", lambda b: b.update(version=1)),
        ("checkpoint re-signed", resign_checkpoint),
        (
            "checkpoint without signatures",
            lambda b: b.update(checkpoint=b["checkpoint"].split("\n\n")[0] + "\n"),
        ),
        ("batch renamed", lambda b: b.update(batch="B9")),
        (
            "recorded before the key",
            lambda b: b["entries"][4]["entry"].update(recorded_at="2000-01-01T00:00:00.000Z"),
        ),
        ("unknown version", lambda b: b.update(version=3)),
        ("prev not base64", lambda b: b["entries"][1]["entry"].update(prev="not base64!")),
        ("unknown entry field", lambda b: b["entries"][0]["entry"].update(extra=1)),
        (
            "bad recorded_at",
            lambda b: b["entries"][0]["entry"].update(recorded_at="2026-02-30T00:00:00.000Z"),
        ),
        ("entry too big", lambda b: b["entries"][1]["entry"]["payload"].update(big="x" * 70000)),
        ("float in payload", lambda b: b["entries"][1]["entry"]["payload"].update(dose=1.5)),
        ("missing keys", lambda b: b.pop("keys")),
        ("lone surrogate", lambda b: b["entries"][1]["entry"]["payload"].update(note="中\U0001f34a\udc00")),
        ("lone surrogate key", lambda b: b["entries"][1]["entry"]["payload"].update({"x\ud800": 1})),
    ]


MUTATIONS = _mutations()


@pytest.mark.parametrize(("name", "change"), MUTATIONS, ids=[name for name, _ in MUTATIONS])
def test_js_and_python_name_the_same_failure(
    blank: Page, clean_store: Store, clean_bundle: dict, name: str, change
) -> None:
    bundle = copy.deepcopy(clean_bundle)
    change(bundle)
    expected = python_verdict(bundle, clean_store.root_public_key)
    assert expected != "verified", name
    result = js_verdict(blank, bundle, clean_store.root_public_key)
    assert result.get("error") == expected, name


# -- the key history's rules, on entries the root key really signed ----------------------------


def root_signed(b: dict, root: SigningKey, entry_type: str, payload: dict) -> None:
    """Append to the bundle's key chain an entry the root key signs, linked to the last one."""
    last = make_entry(b["keys"][-1]["entry"])
    fields = {
        **last.fields,
        "seq": last.seq + 1,
        "prev": b64encode(last.hash),
        "type": entry_type,
        "id": f"keys.test.{last.seq + 1}",
        "recorded_at": format_recorded_at(last.recorded_at + timedelta(milliseconds=1)),
        "payload": payload,
    }
    signature = root.sign(make_entry(fields).signing_input())
    b["keys"].append({"entry": fields, "signature": b64encode(signature), "leaf_index": None})


def resign_key_zero(b: dict, root: SigningKey) -> None:
    fields = b["keys"][0]["entry"]
    fields["payload"]["role"] = "org"
    b["keys"][0]["signature"] = b64encode(root.sign(make_entry(fields).signing_input()))


def key_rules() -> list[tuple[str, object]]:
    other = SigningKey.from_seed(bytes(range(32)))

    def key(b: dict, seq: int) -> str:
        return b["keys"][seq]["entry"]["payload"]["key_id"]

    def registers(role: str, key_id: str = other.key_id):  # type: ignore[no-untyped-def]
        payload = {"key_id": key_id, "org": "x", "role": role, "public_key": b64encode(other.public_key)}
        return lambda b, r: root_signed(b, r, "key.registered", payload)

    def revokes(key_of, reason: str | None = "x"):  # type: ignore[no-untyped-def]
        def change(b: dict, r: SigningKey) -> None:
            payload = {"key_id": key_of(b)} if reason is None else {"key_id": key_of(b), "reason": reason}
            root_signed(b, r, "key.revoked", payload)

        return change

    return [
        ("revoked twice", revokes(lambda b: key(b, 5))),
        (
            "registered twice",
            lambda b, r: root_signed(b, r, "key.registered", b["keys"][3]["entry"]["payload"]),
        ),
        ("revokes an unknown key", revokes(lambda b: "k00")),
        ("revokes the root key", revokes(lambda b: key(b, 0))),
        ("revocation without reason", revokes(lambda b: key(b, 3), reason=None)),
        ("second root key", registers("root")),
        ("key id not of the public key", registers("org", key_id="k0123456789abcdef")),
        ("unknown key entry type", lambda b, r: root_signed(b, r, "key.rotated", {"key_id": key(b, 3)})),
        ("keys/0 not the root", resign_key_zero),
    ]


KEY_RULES = key_rules()


@pytest.mark.parametrize(("name", "change"), KEY_RULES, ids=[name for name, _ in KEY_RULES])
def test_js_and_python_apply_the_same_key_history_rules(
    blank: Page, clean_store: Store, clean_bundle: dict, name: str, change
) -> None:
    bundle = copy.deepcopy(clean_bundle)
    change(bundle, clean_store.root_key)
    expected = python_verdict(bundle, clean_store.root_public_key)
    assert expected != "verified", name
    result = js_verdict(blank, bundle, clean_store.root_public_key)
    assert result.get("error") == expected, name


def test_a_new_key_entry_after_the_checkpoint_still_verifies(
    blank: Page, clean_store: Store, clean_bundle: dict
) -> None:
    other = SigningKey.from_seed(bytes(range(32)))
    bundle = copy.deepcopy(clean_bundle)
    payload = {
        "key_id": other.key_id,
        "org": "lab-9",
        "role": "org",
        "public_key": b64encode(other.public_key),
    }
    root_signed(bundle, clean_store.root_key, "key.registered", payload)
    python = verify_bundle(bundle, clean_store.root_public_key, ORIGIN)
    assert (python.key_entries, python.keys_included) == (8, 7)
    result = js_verdict(blank, bundle, clean_store.root_public_key)
    assert (result["verdict"]["keyEntries"], result["verdict"]["keysIncluded"]) == (8, 7)


# -- witness cosignatures on the checkpoint ---------------------------------------------------


def change_cosignature(b: dict, change) -> None:  # type: ignore[no-untyped-def]
    """Apply `change` to the bytes of the witness's signature line (key ID || time || sig)."""
    lines = b["checkpoint"].split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("— witness.example.org "))
    payload = b64decode(lines[at].split(" ")[2], "cosignature")
    lines[at] = f"— witness.example.org {b64encode(change(payload))}"
    b["checkpoint"] = "\n".join(lines)


def drop_cosignature(b: dict) -> None:
    b["checkpoint"] = "".join(
        line for line in b["checkpoint"].splitlines(keepends=True) if "witness.example.org" not in line
    )


COSIGNATURE_MUTATIONS = [
    ("cosignature bent", lambda b: change_cosignature(b, lambda p: p[:-1] + bytes([p[-1] ^ 1]))),
    ("cosignature truncated", lambda b: change_cosignature(b, lambda p: p[:-4])),
    (
        "cosignature time beyond 2**63",
        lambda b: change_cosignature(b, lambda p: p[:4] + bytes([p[4] | 128]) + p[5:]),
    ),
    (
        "cosignature time changed",
        lambda b: change_cosignature(b, lambda p: p[:11] + bytes([p[11] ^ 1]) + p[12:]),
    ),
]


@pytest.mark.parametrize(("name", "change"), COSIGNATURE_MUTATIONS, ids=[n for n, _ in COSIGNATURE_MUTATIONS])
def test_js_and_python_refuse_the_same_bad_cosignature(
    blank: Page, clean_store: Store, clean_bundle: dict, name: str, change
) -> None:
    bundle = copy.deepcopy(clean_bundle)
    change(bundle)
    expected = python_verdict(bundle, clean_store.root_public_key, (WITNESS,))
    assert expected.startswith("checkpoint: cosignature"), expected
    result = js_verdict(blank, bundle, clean_store.root_public_key, witnesses=(WITNESS,))
    assert result.get("error") == expected, name
    assert (result["ui"], result["where"]) == ("cosignature", "witness.example.org")
    # A witness nobody pinned is ignored, as tlog-cosignature requires.
    assert python_verdict(bundle, clean_store.root_public_key) == "verified"


def test_a_missing_or_unpinned_cosignature_counts_zero(
    blank: Page, clean_store: Store, clean_bundle: dict
) -> None:
    other = SignerKey("witness.example.org", bytes(range(200, 232)), SIG_TYPE_COSIGNATURE_V1)
    cases = [
        (mutate_copy(clean_bundle, drop_cosignature), WITNESS),
        (clean_bundle, format_verifier_key(other.verifier_key())),  # same name, another key
    ]
    for bundle, witness in cases:
        python = verify_bundle(bundle, clean_store.root_public_key, ORIGIN, [parse_verifier_key(witness)])
        result = js_verdict(blank, bundle, clean_store.root_public_key, witnesses=(witness,))
        assert python.cosigned_by == () and result["verdict"]["cosignedBy"] == []


def mutate_copy(bundle: dict, change) -> dict:  # type: ignore[no-untyped-def]
    copied = copy.deepcopy(bundle)
    change(copied)
    return copied


def test_the_page_names_a_bad_cosignature(page: Page, clean_server: str, clean_store: Store) -> None:
    # The page pins a witness key under the right name but another key: no line matches, 0 of 1.
    other = SignerKey("witness.example.org", bytes(range(200, 232)), SIG_TYPE_COSIGNATURE_V1)
    shown = verify_page(page, clean_server, witnesses=format_verifier_key(other.verifier_key()))
    assert page.attribute("#verify", "data-state") == "verified"
    assert "本站公布的 1 个独立见证方中，有 0 个联署了此检查点（已在本机核验）。" in shown
    shown = verify_page(page, clean_server, witnesses="")
    assert "见证方" not in shown


# -- where WebCrypto has no Ed25519 -----------------------------------------------------------

NO_ED25519 = """(() => {
  const isEd = (a) => String((a && a.name) || a).toLowerCase() === 'ed25519';
  for (const name of ['importKey', 'verify', 'generateKey']) {
    const original = SubtleCrypto.prototype[name];
    SubtleCrypto.prototype[name] = function (...args) {
      if (args.some(isEd)) return Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
      return original.apply(this, args);
    };
  }
})();"""


@pytest.fixture
def old_phone(browser: Browser) -> Iterator[Page]:
    with browser.new_page(init_scripts=[NO_ED25519]) as opened:
        yield opened


def test_without_ed25519_hashes_and_proofs_are_still_checked(old_phone: Page, clean_server: str) -> None:
    shown = verify_page(old_phone, clean_server)
    assert old_phone.evaluate("FarmtraceVerify.hasEd25519()") is False
    assert old_phone.attribute("#verify", "data-state") == "partial"
    assert "在本机核对了哈希和证明：5 条记录，检查点 #" in shown
    assert "签名未在本机检查" in shown
    old_phone.screenshot("verify-js-no-ed25519")
    shown = verify_page(old_phone, clean_server, lang="en")
    assert "Signatures not checked on this phone" in shown


def test_without_ed25519_an_edited_entry_still_breaks_the_chain(
    old_phone: Page, server: str, store: Store
) -> None:
    edit_payload(store.engine, "B1", 1, {"dose_kg_per_mu": "1.25"})
    shown = verify_page(old_phone, server)
    assert old_phone.attribute("#verify", "data-state") == "failed"
    assert "记录 B1/2 与前一条记录接不上" in shown
    assert "B1/2: prev does not match the hash of entry 1" in shown


def test_without_ed25519_a_moved_checkpoint_root_fails_the_proofs(
    old_phone: Page, server: str, store: Store
) -> None:
    lines = latest_note(store.engine).split("\n")
    lines[2] = b64encode(bytes(32))
    replace_checkpoint(store.engine, "\n".join(lines))
    shown = verify_page(old_phone, server)
    assert old_phone.attribute("#verify", "data-state") == "failed"
    assert "记录 keys/6 不在公开日志的检查点中：包含证明不符。" in shown
    assert "inclusion proof: computed root" in shown


# -- JCS conformance: the script's canonical bytes equal Python rfc8785's ---------------------

TRICKY_CHARS = (
    [chr(c) for c in range(0x20)]
    + ['"', "\\", "/", "\x7f", "\u0080", "\u00e9", "\u2028", "\u2029", "\ufeff", "\ud7ff", "\ue000"]
    + ["\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "中", "文", "é", "e\u0301", "<", ">", "&"]
    + ["a", "b", "A", "Z", "0", " ", "\u00df", "\u212b"]
)


def random_string(rng: random.Random) -> str:
    return "".join(rng.choice(TRICKY_CHARS) for _ in range(rng.randint(0, 6)))


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 9 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind <= 2:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), 10**15, rng.randint(-(2**53 - 1), 2**53 - 1)])
    if kind <= 5:
        return random_string(rng)
    if kind <= 7:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_string(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def jcs_corpus() -> list[str]:
    fixed = [
        '{"\\u20ac":1,"\\r":2,"\\ud83d\\ude00":3,"\\ufb33":4,"1":5,"\\u0080":6,"\\u00f6":7}',
        '{"b":[],"a":{},"":null,"aa":"","A":"\\u001f\\u007f\\u2028"}',
        '[-0, 0, 9007199254740991, -9007199254740991, "\\/", "\\u00e9"]',
        '"\\ud800\\udc00\\udbff\\udfff\\ufffd"',
        '{"\\uffff":1,"\\ud800\\udc00":2,"\\ue000":3}',
    ]
    rng = random.Random(8785)
    return fixed + [json.dumps(random_value(rng), ensure_ascii=rng.random() < 0.5) for _ in range(400)]


def test_jcs_matches_python_rfc8785_byte_for_byte(blank: Page) -> None:
    corpus = jcs_corpus()
    results = blank.evaluate(
        f"""JSON.parse({json.dumps(json.dumps(corpus))}).map(t => {{
              const bytes = new TextEncoder().encode(FarmtraceVerify.canonicalize(JSON.parse(t)));
              return btoa(Array.from(bytes, b => String.fromCharCode(b)).join(''));
            }})"""
    )
    assert len(results) == len(corpus)
    for text_, got in zip(corpus, results, strict=True):
        assert base64.b64decode(got) == rfc8785.dumps(json.loads(text_)), text_


def test_jcs_refuses_what_ledger_json_refuses(blank: Page) -> None:
    refused = blank.evaluate(
        """['1.5', '1e300', '9007199254740992', '"\\\\ud800"', '{"\\\\udc00": 1}',
            '"\\\\ud83d\\\\ude00\\\\ude00"', '"\\\\ud83d\\\\ud83d\\\\ude00"'].map(t => {
             try { FarmtraceVerify.canonicalize(JSON.parse(t)); return 'accepted ' + t; }
             catch (e) { return 'refused'; }
           })"""
    )
    assert refused == ["refused"] * 7


# -- farmtrace verify-url against a live server -------------------------------------------------


def verify_url(*args: str) -> Result:
    """The command in-process (the CLI's import takes seconds); the server is still a socket."""
    return CliRunner().invoke(main, ["verify-url", *args], env={"FARMTRACE_HOME": "/nonexistent"})


def test_verify_url_runs_as_a_real_process(clean_server: str, clean_store: Store) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMTRACE_")}
    result = subprocess.run(
        [FARMTRACE, "verify-url", f"{clean_server}/batch/B1", "--root-key", clean_store.root_b64],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("verified: batch B1, 5 records")


def test_verify_url_checks_a_batch_url(clean_server: str, clean_store: Store) -> None:
    result = verify_url(f"{clean_server}/batch/B1", "--root-key", clean_store.root_b64, "--origin", ORIGIN)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"verified: batch B1, 5 records (4 in the checkpoint), checkpoint {ORIGIN} #"
    )
    assert (
        "the newest 1 record(s) are signed and chained but not yet in a published checkpoint" in result.stdout
    )


def test_verify_url_accepts_a_bundle_url_and_a_vkey_file(
    clean_server: str, clean_store: Store, tmp_path: Path
) -> None:
    key_file = tmp_path / "root.vkey"
    key_file.write_text(format_verifier_key(VerifierKey("county-root", clean_store.root_public_key)) + "\n")
    result = verify_url(f"{clean_server}/bundle/B0.json", "--root-key", str(key_file), "--json")
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert (verdict["verified"], verdict["batch"], verdict["entries"]) == (True, "B0", 41)


def test_verify_url_asks_a_scan_url_for_its_batch(clean_server: str, clean_store: Store) -> None:
    result = verify_url(f"{clean_server}/_test/resolve/ABC123", "--root-key", clean_store.root_b64)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verified: batch B1, 5 records")


def test_verify_url_checks_pinned_witnesses(clean_server: str, clean_store: Store, tmp_path: Path) -> None:
    key_file = tmp_path / "witness.vkey"
    key_file.write_text(WITNESS + "\n")
    result = verify_url(
        f"{clean_server}/batch/B1", "--root-key", clean_store.root_b64, "--witness", str(key_file)
    )
    assert result.exit_code == 0, result.output
    assert "witnesses: 1 of 1 cosigned the checkpoint (witness.example.org)" in result.stdout
    result = verify_url(
        f"{clean_server}/batch/B1", "--root-key", clean_store.root_b64, "--witness", WITNESS, "--json"
    )
    assert json.loads(result.stdout)["cosigned_by"] == ["witness.example.org"]
    log_vkey = format_verifier_key(clean_store.log_signer.verifier_key())
    result = verify_url(f"{clean_server}/batch/B1", "--root-key", clean_store.root_b64, "--witness", log_vkey)
    assert result.exit_code == 2
    assert "expected a witness cosignature key (type 0x04), found type 0x01" in result.stderr


def test_verify_url_fails_on_a_tampered_store(server: str, store: Store) -> None:
    edit_payload(store.engine, "B1", 2, {"verdict": "fail"})
    result = verify_url(f"{server}/batch/B1", "--root-key", store.root_b64)
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"NOT VERIFIED: {server}/bundle/B1.json\nB1/2: signature does not verify with the key\n"
    )


def test_verify_url_fails_with_another_root_key(clean_server: str) -> None:
    other = b64encode(SigningKey.generate().public_key)
    result = verify_url(f"{clean_server}/batch/B1", "--root-key", other)
    assert result.exit_code == 1
    assert "keys/0: signed by k" in result.stderr
    assert "not by the pinned root key" in result.stderr


def test_verify_url_explains_bad_input(clean_server: str) -> None:
    result = verify_url(f"{clean_server}/batch/NOPE", "--root-key", b64encode(bytes(32)))
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"Error: {clean_server}/bundle/NOPE.json: the server answered HTTP 404 NOT FOUND"
    )
    result = verify_url(f"{clean_server}/batch/B1", "--root-key", "c2hvcnQ=")
    assert result.exit_code == 2
    assert "expected a 32-byte Ed25519 public key, found 5 bytes" in result.stderr
    result = verify_url(f"{clean_server}/", "--root-key", b64encode(bytes(32)))
    assert result.exit_code == 1
    assert "Error:" in result.stderr


def test_a_checkpoint_of_another_log_is_refused(page: Page, clean_server: str, clean_store: Store) -> None:
    shown = verify_page(page, clean_server, origin="other.example/log")
    assert page.attribute("#verify", "data-state") == "failed"
    assert "公开日志的检查点没有登记的日志密钥的有效签名。" in shown
    bundle = get_bundle(clean_server)
    try:
        verify_bundle(bundle, clean_store.root_public_key, "other.example/log")
    except VerificationError as exc:
        assert "技术细节：" + str(exc) in shown
    else:
        pytest.fail("verify_bundle accepted a checkpoint of another origin")


# -- the harness itself (other browser tests rely on it) ----------------------------------------


def test_harness_without_javascript_and_with_a_language(browser: Browser, clean_server: str) -> None:
    with browser.new_page(javascript=False) as no_js:
        no_js.goto(f"{clean_server}/_test/verify/B1")
        assert no_js.attribute("#verify", "data-state") is None
        assert no_js.text("#verify") == "本页会在您的手机上验证这批产品的记录。"
        # A page with <meta name=viewport content=width=device-width> lays out at phone width.
        assert no_js.evaluate("[innerWidth, innerHeight]") == [390, 844]
    with browser.new_page(accept_language="en-GB,en") as english:
        # Chromium adds the q-values itself.
        assert english.goto(f"{clean_server}/_test/language").text("#lang") == "en-GB,en;q=0.9"


def test_harness_dump_dom(clean_server: str) -> None:
    dom = dump_dom(f"{clean_server}/_test/verify/B1")
    assert '<section id="verify"' in dom and 'data-bundle-url="/bundle/B1.json"' in dom


def test_without_webcrypto_the_page_says_it_cannot_check(browser: Browser, clean_server: str) -> None:
    no_subtle = "Object.defineProperty(Crypto.prototype, 'subtle', {get: () => undefined});"
    with browser.new_page(init_scripts=[no_subtle]) as phone:
        shown = verify_page(phone, clean_server)
        assert phone.attribute("#verify", "data-state") == "unavailable"
        assert "此浏览器无法在本机验证记录（需要 HTTPS 和 Web Crypto）。" in shown


def test_an_unknown_batch_says_the_proof_cannot_be_downloaded(page: Page, clean_server: str) -> None:
    shown = verify_page(page, clean_server, batch="NOPE")
    assert page.attribute("#verify", "data-state") == "unavailable"
    assert "无法下载验证数据（HTTP 404），请稍后再试。" in shown
