"""Witnesses against a real server: `farmtrace witness poll` and `witness serve` as processes.

The server is the real app on a real socket (werkzeug in a thread); the witness is the
installed `farmtrace` command in a subprocess. A log that is then rolled back or forked by
editing the database behind the append-only triggers must be caught, loudly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from farmtrace.ledger.append import Draft, Ledger
from farmtrace.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from farmtrace.ledger.cosignature import CosignatureVerifier, cosign
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.models import CosignatureRow, MerkleHash, MerkleLeaf
from farmtrace.ledger.note import (
    SignerKey,
    VerifierKey,
    format_verifier_key,
    parse_signer_key,
    parse_verifier_key,
)
from farmtrace.ledger.sequencer import integrate
from farmtrace.ledger.tlog import stored_hash_count
from farmtrace.ledger.witness import SIZE_CONTENT_TYPE
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings
from farmtrace.web.witnessing import PushError, http_post, push_checkpoint, run_push_loop

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
ORIGIN = "trace.example.org/farmtrace-log"
WHEN = datetime(2026, 8, 30, tzinfo=UTC)
WITNESS_NAME = "witness.example.net/w1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def farmtrace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([FARMTRACE, *args], capture_output=True, text=True, timeout=timeout)


@dataclass
class Served:
    engine: Engine
    url: str
    signer: SignerKey
    coop: object
    witness_key_file: Path
    witness_vkey: VerifierKey
    state_dir: Path
    appended: int = 0

    @property
    def log_vkey(self) -> str:
        return format_verifier_key(self.signer.verifier_key())

    def append_and_integrate(self, n: int, tag: str) -> int:
        with Session(write_engine(self.engine)) as session:
            drafts = [Draft("B1", "farming.input", WHEN, "coop-1", f"{tag}{i}", {"n": i}) for i in range(n)]
            Ledger(session).append_many(drafts, self.coop)
            done = integrate(session, self.signer)
            session.commit()
        return done.new_size

    def poll(self) -> subprocess.CompletedProcess:
        return farmtrace(
            "witness", "poll", self.url, "--log-key", self.log_vkey, "--key", str(self.witness_key_file),
            "--state-dir", str(self.state_dir), "--once",
            "--submit-cosignature-to", f"{self.url}/witness/cosignature",
        )  # fmt: skip

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.read().decode()

    def rewind(self, size: int) -> None:
        """Cut the log back to `size` leaves, behind the append-only triggers' back."""
        with Session(self.engine) as session:
            bypass_append_only(session)
            session.execute(delete(CosignatureRow).where(CosignatureRow.tree_size > size))
            session.execute(delete(CheckpointRow).where(CheckpointRow.tree_size > size))
            session.execute(delete(MerkleLeaf).where(MerkleLeaf.leaf_index >= size))
            session.execute(delete(MerkleHash).where(MerkleHash.idx >= stored_hash_count(size)))
            session.commit()


def bypass_append_only(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET session_replication_role = replica"))  # triggers off, this session
        return
    for table in ("ledger_checkpoint", "merkle_leaf", "merkle_hash"):
        session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[Served]:
    key_file = tmp_path / "witness.key"
    made = farmtrace("witness", "keygen", "--name", WITNESS_NAME, "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    witness_vkey = parse_verifier_key(made.stdout.strip())
    with Session(write_engine(engine)) as session:
        keys = KeyStore(session, MasterKey.load_or_create(tmp_path / "master.key")).bootstrap("county")
        coop = KeyStore(session, MasterKey.load(tmp_path / "master.key")).create_org_key("coop-1")
        Ledger(session).open_chain(Draft("B1", "batch.registered", WHEN, "coop-1", "reg"), coop)
        session.commit()
    signer = SignerKey(ORIGIN, keys.log.seed)
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(tmp_path),
            "FARMTRACE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "FARMTRACE_WITNESS_KEYS": made.stdout.strip(),
        }
    )
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(settings, engine=engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(
            engine, f"http://127.0.0.1:{port}", signer, coop, key_file, witness_vkey, tmp_path / "state"
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_poll_cosigns_and_the_server_serves_the_cosignature(served: Served) -> None:
    size = served.append_and_integrate(200, "a")
    result = served.poll()
    assert result.returncode == 0, result.stderr
    assert f"cosigned {ORIGIN} tree size {size}" in result.stdout
    checkpoint, note = open_checkpoint(
        served.get("/checkpoint"),
        served.signer.verifier_key(),
        cosigners=[CosignatureVerifier(served.witness_vkey)],
    )
    assert checkpoint.size == size
    assert {s.name for s in note.signatures} == {ORIGIN, WITNESS_NAME}

    # The log grows across a tile boundary (256); the witness proves it from the tiles again.
    bigger = served.append_and_integrate(100, "b")
    result = served.poll()
    assert result.returncode == 0, result.stderr
    checkpoint, note = open_checkpoint(
        served.get("/checkpoint"),
        served.signer.verifier_key(),
        cosigners=[CosignatureVerifier(served.witness_vkey)],
    )
    assert checkpoint.size == bigger
    assert WITNESS_NAME in {s.name for s in note.signatures}
    with Session(served.engine) as session:
        assert session.scalar(select(func.count()).select_from(CosignatureRow)) == 2
    assert served.poll().returncode == 0  # nothing new: resubmitting the same cosignature is harmless


def test_rollback_raises_the_alarm_and_the_witness_keeps_refusing(served: Served) -> None:
    small = served.append_and_integrate(20, "a")
    assert served.poll().returncode == 0
    cosigned = served.get("/checkpoint")
    served.append_and_integrate(30, "b")
    assert served.poll().returncode == 0
    big_note = served.get("/checkpoint").split("\n\n")[0]

    served.rewind(small)
    result = served.poll()
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.startswith(
        f"ALARM: log {ORIGIN}: the log now serves tree size {small} as its latest"
    )
    assert big_note in result.stderr  # the evidence: what the witness cosigned ...
    assert cosigned.split("\n\n")[0] in result.stderr  # ... and what the log serves now
    # However the log behaves from now on, this witness refuses it.
    served.append_and_integrate(60, "c")
    again = served.poll()
    assert again.returncode == 3
    assert "ALARM" in again.stderr


def test_fork_raises_the_alarm(served: Served) -> None:
    served.append_and_integrate(20, "a")
    served.append_and_integrate(30, "b")
    assert served.poll().returncode == 0
    cosigned_size = 54  # keys: root, log, coop-1; registration; 50 entries
    served.rewind(30)
    forked = served.append_and_integrate(40, "fork")  # a different tree, larger than the cosigned one
    assert forked > cosigned_size
    result = served.poll()
    assert result.returncode == 3, result.stdout + result.stderr
    assert (
        f"does not contain the tree of size {cosigned_size} that this witness cosigned (a fork)"
        in result.stderr
    )


@pytest.fixture
def witness_server(served: Served) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [FARMTRACE, "witness", "serve", "--bind", f"127.0.0.1:{port}", "--state-dir", str(served.state_dir),
         "--key", str(served.witness_key_file), "--log", served.log_vkey],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_push_to_a_witness_server_speaking_tlog_witness(served: Served, witness_server: str) -> None:
    keys = [served.witness_vkey]
    served.append_and_integrate(20, "a")
    with Session(write_engine(served.engine)) as session:
        assert push_checkpoint(session, witness_server, keys, http_post) == 24
        session.commit()
    size = served.append_and_integrate(30, "b")
    with Session(write_engine(served.engine)) as session:
        # Our guess of the witness's size is wrong (0): its 409 names 24, the retry proves from there.
        assert push_checkpoint(session, witness_server, keys, http_post, witness_size=0) == size
        session.commit()
    _note, verified = open_checkpoint(
        served.get("/checkpoint"), served.signer.verifier_key(), cosigners=[CosignatureVerifier(keys[0])]
    )
    assert WITNESS_NAME in {s.name for s in verified.signatures}

    status, content_type, body = http_post(
        f"{witness_server}/add-checkpoint", "old 5\n\n" + served.get("/checkpoint")
    )
    assert (status, content_type, body) == (409, SIZE_CONTENT_TYPE, f"{size}\n")
    status, _, body = http_post(f"{witness_server}/add-checkpoint", "old 0\n")
    assert status == 400
    stranger = SignerKey("stranger.example/log", bytes(32))
    unknown = sign_checkpoint(Checkpoint("stranger.example/log", 1, bytes(32)), stranger)
    assert http_post(f"{witness_server}/add-checkpoint", "old 0\n\n" + unknown)[0] == 404
    forged = sign_checkpoint(Checkpoint(ORIGIN, size + 1, bytes(32)), SignerKey(ORIGIN, bytes(32)))
    assert http_post(f"{witness_server}/add-checkpoint", f"old {size}\n\n" + forged)[0] == 403

    served.rewind(10)
    served.append_and_integrate(60, "fork")
    with Session(write_engine(served.engine)) as session, pytest.raises(PushError, match="answered 4"):
        push_checkpoint(session, witness_server, keys, http_post, witness_size=size)


def test_cosignature_endpoint_refuses_what_it_cannot_verify(served: Served) -> None:
    served.append_and_integrate(10, "a")
    note = served.get("/checkpoint")
    post = lambda body: http_post(f"{served.url}/witness/cosignature", body)  # noqa: E731
    assert post("not a note")[0] == 400
    assert post(note)[0] == 403  # only the log's own signature: no known witness
    text = note.split("\n\n")[0] + "\n"
    impostor = SignerKey(WITNESS_NAME, bytes(range(32)), 0x04)  # right name, wrong key
    assert post(note + cosign(text, impostor, 1).line())[0] == 403  # its key ID is not configured
    witness = parse_signer_key(served.witness_key_file.read_text().strip())
    other_text = text.replace(text.split("\n")[1], "999", 1)
    status, _, body = post(note + cosign(other_text, witness, 1).line())
    assert status == 422
    assert f"cosignature: invalid signature by {WITNESS_NAME}+" in body
    assert post(note + cosign(text, witness, 1).line())[:2] == (200, "application/json")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{served.url}/witness/cosignature", timeout=5)  # GET: 405


def test_push_loop_carries_on_past_a_witness_that_is_down(served: Served, witness_server: str) -> None:
    size = served.append_and_integrate(20, "a")
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(served.state_dir.parent),
            "FARMTRACE_DATABASE_URL": served.engine.url.render_as_string(hide_password=False),
            "FARMTRACE_WITNESS_KEYS": format_verifier_key(served.witness_vkey),
            "FARMTRACE_WITNESS_URLS": f"http://127.0.0.1:{free_port()},{witness_server}",  # first: nobody there
        }
    )
    stop = threading.Event()
    loop = threading.Thread(
        target=run_push_loop, args=(served.engine, settings, stop), kwargs={"interval_s": 0.1}
    )
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while WITNESS_NAME + " " not in served.get("/checkpoint"):
            assert time.monotonic() < deadline, "no cosignature pushed for in 30 s"
            time.sleep(0.2)
    finally:
        stop.set()
        loop.join(timeout=30)
    checkpoint, _ = open_checkpoint(
        served.get("/checkpoint"),
        served.signer.verifier_key(),
        cosigners=[CosignatureVerifier(served.witness_vkey)],
    )
    assert checkpoint.size == size
