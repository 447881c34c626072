"""Proof bundles verify from the root key alone, and every tampering is named."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from ledger_env import LedgerEnv

from farmtrace.ledger.append import Draft
from farmtrace.ledger.bundle import BUNDLE_VERSION, proof_bundle
from farmtrace.ledger.bundle_verify import VERSION_1_REFUSED, verify_bundle
from farmtrace.ledger.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import format_recorded_at, make_entry
from farmtrace.ledger.errors import VerificationError
from farmtrace.ledger.keys import SigningKey
from farmtrace.ledger.note import SIG_TYPE_COSIGNATURE_V1, SignerKey, parse_note
from farmtrace.ledger.sequencer import DbHashReader, integrate
from farmtrace.ledger.tlog import prove_record

WHEN = datetime(2026, 8, 30, tzinfo=UTC)


@dataclass
class Built:
    bundle: dict
    old_coop_key: SigningKey  # revoked at keys/5


@pytest.fixture
def built(env: LedgerEnv) -> Built:
    """Key chain: 0 root, 1 log, 2 coop-1, 3 lab-1, 4 coop-1's new key, 5 revocation of the
    old one, 6 lab-2 (so the revocation sits inside the chain, not at its end)."""
    coop = env.keystore.create_org_key("coop-1")
    lab = env.keystore.create_org_key("lab-1")
    env.ledger.open_chain(Draft("B1", "batch.registered", WHEN, "coop-1", "reg"), coop)
    env.ledger.append(Draft("B1", "farming.input", WHEN, "coop-1", "f1", {"dose": "1.5"}), coop)
    env.ledger.append(Draft("B1", "lab.tested", WHEN, "lab-1", "t1", {"verdict": "pass"}), lab)
    coop2 = env.keystore.rotate("coop-1")
    env.keystore.create_org_key("lab-2")
    env.ledger.append(Draft("B1", "batch.packed", WHEN, "coop-1", "p1"), coop2)
    integrate(env.session, env.log_signer)
    env.ledger.append(Draft("B1", "logistics.pickup", WHEN, "coop-1", "l1"), coop2)  # not yet integrated
    bundle = proof_bundle(env.session, "B1")
    assert bundle is not None
    return Built(bundle, coop)


@pytest.fixture
def bundle(built: Built) -> dict:
    return built.bundle


def mutate(bundle: dict, change) -> dict:
    copied = copy.deepcopy(bundle)
    change(copied)
    return copied


def test_a_genuine_bundle_verifies(env: LedgerEnv, bundle: dict) -> None:
    assert bundle["version"] == BUNDLE_VERSION == 2
    verdict = verify_bundle(bundle, env.keys.root.public_key)
    assert (verdict.entries, verdict.included) == (5, 4)
    assert (verdict.key_entries, verdict.keys_included) == (7, 7)
    assert verdict.tree_size > 0


def test_the_bundle_carries_the_whole_key_chain(bundle: dict) -> None:
    keys = [item["entry"] for item in bundle["keys"]]
    assert [entry["seq"] for entry in keys] == list(range(7))
    assert [entry["type"] for entry in keys].count("key.revoked") == 1
    assert keys[5]["type"] == "key.revoked"
    assert all("proof" not in item for item in bundle["keys"])
    head = bundle["keys_head_proof"]
    assert head["leaf_index"] == bundle["keys"][-1]["leaf_index"]


def test_key_entries_not_yet_in_a_checkpoint_are_carried_and_counted(env: LedgerEnv, bundle: dict) -> None:
    env.keystore.create_org_key("lab-3")  # keys/7, after the checkpoint
    later = proof_bundle(env.session, "B1")
    assert later is not None and later["keys"][7]["leaf_index"] is None
    verdict = verify_bundle(later, env.keys.root.public_key)
    assert (verdict.key_entries, verdict.keys_included) == (8, 7)


def _drop_revocation(b: dict) -> None:
    b["keys"].pop(5)


def _swap_keys(b: dict) -> None:
    b["keys"].insert(4, b["keys"].pop(5))


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "payload edited",
            lambda b: b["entries"][1]["entry"]["payload"].update(dose="15"),
            "B1/1: signature does not verify",
        ),
        ("entry removed", lambda b: b["entries"].pop(1), "B1/2: expected seq 1"),
        ("entries swapped", lambda b: b["entries"].insert(1, b["entries"].pop(2)), "B1/2: expected seq 1"),
        (
            "signature swapped",
            lambda b: b["entries"][2].update(signature=b["entries"][1]["signature"]),
            "B1/2: signature does not verify",
        ),
        (
            "head proof bent",
            lambda b: b["head_proof"]["hashes"].reverse(),
            "B1/3: inclusion proof: computed root",
        ),
        # The key chain (version 2): nothing inside it can go missing unseen.
        (
            "revocation removed",
            _drop_revocation,
            "keys/6: expected seq 5; a key entry is missing or out of order",
        ),
        (
            "key entry altered",
            lambda b: b["keys"][5]["entry"]["payload"].update(reason="mistake"),
            "keys/5: signature does not verify with the key",
        ),
        ("key chain reordered", _swap_keys, "keys/5: expected seq 4; a key entry is missing or out of order"),
        (
            "key head proof bent",
            lambda b: b["keys_head_proof"]["hashes"].reverse(),
            "keys/6: inclusion proof: computed root",
        ),
        (
            "key head proof for another leaf",
            lambda b: b["keys_head_proof"].update(leaf_index=0),
            "keys/6: proof is for leaf 0, the entry's leaf_index is ",
        ),
        (
            "key head proof missing",
            lambda b: b.update(keys_head_proof=None),
            "keys/6: keys_head_proof is missing",
        ),
        ("log key dropped", lambda b: b["keys"].pop(1), "keys/2: expected seq 1"),
        ("version 1", lambda b: b.update(version=1), "version 1 is no longer accepted"),
        ("unknown version", lambda b: b.update(version=3), "unknown version 3"),
    ],
)
def test_tampering_is_named(env: LedgerEnv, bundle: dict, name: str, change, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        verify_bundle(mutate(bundle, change), env.keys.root.public_key)


def test_version_1_is_refused_with_the_reason(env: LedgerEnv, bundle: dict) -> None:
    with pytest.raises(VerificationError) as refused:
        verify_bundle(mutate(bundle, lambda b: b.update(version=1)), env.keys.root.public_key)
    assert str(refused.value) == VERSION_1_REFUSED


def forged_after_revocation(env: LedgerEnv, built: Built) -> dict:
    """What a thief of coop-1's old key, with write access to the store, would add: an entry
    signed by that key after its revocation (the append path itself refuses it)."""
    entries = built.bundle["entries"]
    last = make_entry(entries[-1]["entry"])
    revoked_at = make_entry(built.bundle["keys"][5]["entry"]).recorded_at
    fields = {
        **entries[-1]["entry"],
        "seq": last.seq + 1,
        "prev": b64encode(last.hash),
        "type": "lab.tested",
        "id": "forged",
        "key": built.old_coop_key.key_id,
        "recorded_at": format_recorded_at(revoked_at + timedelta(seconds=1)),
        "payload": {"verdict": "pass"},
    }
    forged = make_entry(fields)
    signature = built.old_coop_key.sign(forged.signing_input())
    return mutate(
        built.bundle,
        lambda b: b["entries"].append(
            {"entry": fields, "signature": b64encode(signature), "leaf_index": None}
        ),
    )


def test_a_key_used_after_its_revocation_is_refused(env: LedgerEnv, built: Built) -> None:
    forged = forged_after_revocation(env, built)
    key = built.old_coop_key.key_id
    with pytest.raises(VerificationError, match=f"B1/5: key {key} may not sign for coop-1 at "):
        verify_bundle(forged, env.keys.root.public_key)
    # Version 1's hole: leave the revocation out. Now the chain has a gap where it was...
    with pytest.raises(VerificationError, match="keys/6: expected seq 5"):
        verify_bundle(mutate(forged, _drop_revocation), env.keys.root.public_key)

    # ...and closing the gap needs the root key: renumbering breaks the root's signatures.
    def renumber(b: dict) -> None:
        _drop_revocation(b)
        moved = b["keys"][5]["entry"]
        moved.update(seq=5, prev=b64encode(make_entry(b["keys"][4]["entry"]).hash))

    with pytest.raises(VerificationError, match="keys/5: signature does not verify with the key"):
        verify_bundle(mutate(forged, renumber), env.keys.root.public_key)


def test_known_limit_a_cut_at_the_end_of_the_key_chain_is_not_seen(env: LedgerEnv, built: Built) -> None:
    """docs/verification.md: inclusion proofs show what is in the log, never what is not, so a
    key chain cut after its last shown entry (with a proof for that entry) passes. This test
    pins the documented limit; if it ever fails, update the documents."""

    def cut(b: dict) -> None:
        del b["keys"][6:]
        size = b["head_proof"]["tree_size"]
        leaf = b["keys"][5]["leaf_index"]
        hashes = prove_record(size, leaf, DbHashReader(env.session))
        b["keys_head_proof"] = {
            "leaf_index": leaf,
            "tree_size": size,
            "hashes": [b64encode(h) for h in hashes],
        }

    verdict = verify_bundle(mutate(built.bundle, cut), env.keys.root.public_key)
    assert (verdict.key_entries, verdict.keys_included) == (6, 6)


def test_a_covered_entry_needs_a_covered_key_registration(env: LedgerEnv, bundle: dict) -> None:
    # The server claims keys/3 (lab-1's registration) and later are not integrated, while B1/2,
    # signed by lab-1, is: a log must not hold an entry whose key it hides.
    def uncover(b: dict) -> None:
        for item in b["keys"][3:]:
            item["leaf_index"] = None
        size = b["head_proof"]["tree_size"]
        leaf = b["keys"][2]["leaf_index"]
        hashes = prove_record(size, leaf, DbHashReader(env.session))
        b["keys_head_proof"] = {
            "leaf_index": leaf,
            "tree_size": size,
            "hashes": [b64encode(h) for h in hashes],
        }

    lab_key = bundle["entries"][2]["entry"]["key"]
    with pytest.raises(
        VerificationError,
        match=f"B1/2: is in the checkpoint, but the registration of its key {lab_key} \\(keys/3\\) is not",
    ):
        verify_bundle(mutate(bundle, uncover), env.keys.root.public_key)


def test_a_forged_checkpoint_is_refused(env: LedgerEnv, bundle: dict) -> None:
    lines = bundle["checkpoint"].split("\n")
    forger = SignerKey(lines[0], SigningKey.generate().seed)
    forged = sign_checkpoint(Checkpoint(lines[0], int(lines[1]), b64decode(lines[2], "root")), forger)
    with pytest.raises(VerificationError, match="checkpoint: not signed by a registered log key"):
        verify_bundle(mutate(bundle, lambda b: b.update(checkpoint=forged)), env.keys.root.public_key)


def test_another_root_key_trusts_nothing(env: LedgerEnv, bundle: dict) -> None:
    with pytest.raises(VerificationError, match=r"keys/0: signed by k[0-9a-f]+, not by the pinned root key"):
        verify_bundle(bundle, SigningKey.generate().public_key)


def test_pinned_witnesses_that_cosigned_are_named(env: LedgerEnv, built: Built) -> None:
    witness = SignerKey("witness.example.org", bytes(range(32)), SIG_TYPE_COSIGNATURE_V1)
    stranger = SignerKey("other.example.org", bytes(range(1, 33)), SIG_TYPE_COSIGNATURE_V1)

    def cosigned(row) -> str:  # type: ignore[no-untyped-def]
        return row.note + cosign(parse_note(row.note).text, witness, 1_796_000_000).line()

    bundle = proof_bundle(env.session, "B1", note=cosigned)
    assert bundle is not None and bundle["checkpoint"].count("\n— ") == 2
    root = env.keys.root.public_key
    pinned = [witness.verifier_key(), stranger.verifier_key()]
    assert verify_bundle(bundle, root, witnesses=pinned).cosigned_by == ("witness.example.org",)
    assert verify_bundle(bundle, root).cosigned_by == ()  # unpinned cosignatures are ignored
    with pytest.raises(
        VerificationError, match="expected a cosignature key \\(type 0x04\\), found type 0x01"
    ):
        verify_bundle(bundle, root, witnesses=[env.log_signer.verifier_key()])
