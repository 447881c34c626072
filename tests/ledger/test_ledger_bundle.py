"""Proof bundles verify from the root key alone, and every tampering is named."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from ledger_env import LedgerEnv

from farmtrace.ledger.append import Draft
from farmtrace.ledger.bundle import proof_bundle
from farmtrace.ledger.bundle_verify import verify_bundle
from farmtrace.ledger.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.ledger.errors import VerificationError
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate

WHEN = datetime(2026, 8, 30, tzinfo=UTC)


@pytest.fixture
def bundle(env: LedgerEnv) -> dict:
    coop = env.keystore.create_org_key("coop-1")
    lab = env.keystore.create_org_key("lab-1")
    env.ledger.open_chain(Draft("B1", "batch.registered", WHEN, "coop-1", "reg"), coop)
    env.ledger.append(Draft("B1", "farming.input", WHEN, "coop-1", "f1", {"dose": "1.5"}), coop)
    env.ledger.append(Draft("B1", "lab.tested", WHEN, "lab-1", "t1", {"verdict": "pass"}), lab)
    integrate(env.session, env.log_signer)
    env.ledger.append(Draft("B1", "logistics.pickup", WHEN, "coop-1", "p1"), coop)  # not yet integrated
    return proof_bundle(env.session, "B1")


def test_a_genuine_bundle_verifies(env: LedgerEnv, bundle: dict) -> None:
    verdict = verify_bundle(bundle, env.keys.root.public_key)
    assert (verdict.entries, verdict.included) == (4, 3)
    assert verdict.tree_size > 0


def mutate(bundle: dict, change) -> dict:
    copied = copy.deepcopy(bundle)
    change(copied)
    return copied


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "payload edited",
            lambda b: b["entries"][1]["entry"]["payload"].update(dose="15"),
            "B1/1: prev|signature does not verify",
        ),
        ("entry removed", lambda b: b["entries"].pop(1), "B1/2: expected seq 1"),
        ("entries swapped", lambda b: b["entries"].insert(1, b["entries"].pop(2)), "expected seq 1"),
        (
            "signature swapped",
            lambda b: b["entries"][2].update(signature=b["entries"][1]["signature"]),
            "B1/2: .*signature does not verify",
        ),
        ("head proof bent", lambda b: b["head_proof"]["hashes"].reverse(), "inclusion proof"),
        ("key entry dropped", lambda b: b["keys"].pop(), "does not register|no log key"),
    ],
)
def test_tampering_is_named(env: LedgerEnv, bundle: dict, name: str, change, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        verify_bundle(mutate(bundle, change), env.keys.root.public_key)


def test_a_forged_checkpoint_is_refused(env: LedgerEnv, bundle: dict) -> None:
    lines = bundle["checkpoint"].split("\n")
    forger = SignerKey(lines[0], SigningKey.generate().seed)
    from farmtrace.ledger.encoding import b64decode

    forged = sign_checkpoint(Checkpoint(lines[0], int(lines[1]), b64decode(lines[2], "root")), forger)
    with pytest.raises(VerificationError, match="checkpoint: not signed by a registered log key"):
        verify_bundle(mutate(bundle, lambda b: b.update(checkpoint=forged)), env.keys.root.public_key)


def test_another_root_key_trusts_nothing(env: LedgerEnv, bundle: dict) -> None:
    with pytest.raises(VerificationError, match="not by the pinned root key"):
        verify_bundle(bundle, SigningKey.generate().public_key)
