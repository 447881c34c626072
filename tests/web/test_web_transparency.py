"""The log over HTTP: checkpoint, tiles, entry bundles, receipts and proof bundles."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.bundle_verify import verify_bundle
from farmtrace.ledger.checkpoint import open_checkpoint
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.receipt import open_receipt
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.tiles import parse_entry_bundle
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings

ORIGIN = "trace.example.org/farmtrace-log"
WHEN = datetime(2026, 8, 30, tzinfo=UTC)


@pytest.fixture
def served(engine, tmp_path):
    with Session(write_engine(engine)) as session:
        keys = KeyStore(session, MasterKey.load_or_create(tmp_path / "master.key")).bootstrap("county")
        store = KeyStore(session, MasterKey.load(tmp_path / "master.key"))
        coop = store.create_org_key("coop-1")
        ledger = Ledger(session)
        ledger.open_chain(Draft("B1", "batch.registered", WHEN, "coop-1", "reg"), coop)
        for i in range(299):
            ledger.append(Draft("B1", "farming.input", WHEN, "coop-1", f"e{i}", {"n": i}), coop)
        signer = SignerKey(ORIGIN, keys.log.seed)
        integrate(session, signer)
        session.commit()
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(tmp_path),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        }
    )
    return create_app(settings, engine=engine).test_client(), keys, signer


def test_checkpoint_tiles_and_entries_agree(served) -> None:
    client, _keys, signer = served
    response = client.get("/checkpoint")
    checkpoint, _ = open_checkpoint(response.text, signer.verifier_key())
    assert checkpoint.size == 303  # keys: root, log, coop-1; then 300 batch entries
    full = client.get("/tile/0/000")
    assert full.headers["Cache-Control"].endswith("immutable")
    partial = client.get("/tile/0/001.p/47")
    assert partial.headers["Cache-Control"] == "public, max-age=5"
    entries = parse_entry_bundle(client.get("/tile/entries/000").data)
    hashes = [full.data[i : i + 32] for i in range(0, len(full.data), 32)]
    assert [leaf_hash(entry) for entry in entries] == hashes


def test_tiles_beyond_the_checkpoint_and_bad_paths_are_404(served) -> None:
    client, _keys, _signer = served
    assert client.get("/tile/0/001").status_code == 404  # only 47 leaves in tile 1
    bad = client.get("/tile/0/1")
    assert bad.status_code == 404
    assert bad.mimetype == "application/problem+json"


def test_receipt_opens_with_the_log_key(served) -> None:
    client, _keys, signer = served
    entries = parse_entry_bundle(client.get("/tile/entries/000").data)
    receipt = client.get("/receipt/17").text
    _receipt, checkpoint = open_receipt(receipt, leaf_hash(entries[17]), signer.verifier_key())
    assert checkpoint.size == 303


def test_proof_bundle_verifies_from_the_root_key(served) -> None:
    client, keys, _signer = served
    response = client.get("/bundle/B1.json")
    verdict = verify_bundle(response.json, keys.root.public_key)
    assert verdict.entries == verdict.included == 300
    assert client.get("/bundle/NOPE.json").status_code == 404


def test_proof_bundle_is_gzipped_on_request_and_revalidated_by_etag(served, engine, tmp_path) -> None:
    client, keys, signer = served
    plain = client.get("/bundle/B1.json")
    packed = client.get("/bundle/B1.json", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 2
    for response in (plain, packed):
        assert response.headers["Cache-Control"] == "public, max-age=5"
        assert response.headers["Vary"] == "Accept-Encoding"
    assert plain.headers["ETag"] != packed.headers["ETag"]
    again = client.get("/bundle/B1.json", headers={"If-None-Match": plain.headers["ETag"]})
    assert (again.status_code, again.data) == (304, b"")
    # A new key entry changes the bundle, and so its validator: the old ETag no longer matches.
    with Session(write_engine(engine)) as session:
        KeyStore(session, MasterKey.load(tmp_path / "master.key")).create_org_key("lab-1")
        integrate(session, signer)
        session.commit()
    fresh = client.get("/bundle/B1.json", headers={"If-None-Match": plain.headers["ETag"]})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != plain.headers["ETag"]
    verdict = verify_bundle(fresh.json, keys.root.public_key)
    assert (verdict.key_entries, verdict.keys_included) == (4, 4)
