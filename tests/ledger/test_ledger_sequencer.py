"""The sequencer on a real database: leaves in order, signed checkpoints, proofs that verify."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger_env import ORIGIN, LedgerEnv
from sqlalchemy import func, select

from farmtrace.ledger.append import Draft
from farmtrace.ledger.checkpoint import open_checkpoint
from farmtrace.ledger.models import Checkpoint, EntryRow, MerkleLeaf, Unsequenced
from farmtrace.ledger.proof import verify_consistency, verify_inclusion
from farmtrace.ledger.sequencer import DbHashReader, integrate, tree_size
from farmtrace.ledger.tlog import prove_record, prove_tree


def add_entries(env: LedgerEnv, batch: str, count: int) -> None:
    signer = (
        env.keystore.signer_for("coop-1")
        if env.keystore.public_keys("coop-1")
        else env.keystore.create_org_key("coop-1")
    )
    when = datetime(2026, 8, 30, tzinfo=UTC)
    if env.ledger.head(batch) is None:
        env.ledger.open_chain(Draft(batch, "batch.registered", when, "coop-1", f"{batch}-reg"), signer)
        count -= 1
    for i in range(count):
        env.ledger.append(
            Draft(batch, "farming.input", when, "coop-1", f"{batch}-{i}-{env.clock().timestamp()}"), signer
        )


def test_integration_signs_a_checkpoint_the_log_key_verifies(env: LedgerEnv) -> None:
    add_entries(env, "B1", 10)
    done = integrate(env.session, env.log_signer)
    total = env.session.scalar(select(func.count()).select_from(EntryRow))
    assert done is not None and (done.old_size, done.new_size) == (0, total)
    checkpoint, _note = open_checkpoint(done.note, env.log_signer.verifier_key(), origin=ORIGIN)
    assert checkpoint.size == total and checkpoint.root_hash == done.root_hash
    assert env.session.scalar(select(func.count()).select_from(Unsequenced)) == 0
    assert integrate(env.session, env.log_signer) is None


def test_every_entry_has_an_inclusion_proof_and_checkpoints_are_consistent(env: LedgerEnv) -> None:
    add_entries(env, "B1", 7)
    first = integrate(env.session, env.log_signer)
    add_entries(env, "B2", 13)
    add_entries(env, "B1", 4)
    second = integrate(env.session, env.log_signer)
    reader = DbHashReader(env.session)
    size = tree_size(env.session)
    assert size == second.new_size
    leaves = env.session.execute(
        select(MerkleLeaf.leaf_index, EntryRow.entry_hash).join(EntryRow, EntryRow.id == MerkleLeaf.entry_id)
    ).all()
    assert sorted(index for index, _ in leaves) == list(range(size))
    for index, entry_hash in leaves:
        verify_inclusion(index, size, entry_hash, prove_record(size, index, reader), second.root_hash)
    proof = prove_tree(second.new_size, first.new_size, reader)
    verify_consistency(first.new_size, second.new_size, proof, first.root_hash, second.root_hash)


def test_every_checkpoint_is_kept(env: LedgerEnv) -> None:
    for round_ in range(3):
        add_entries(env, f"B{round_}", 2)
        integrate(env.session, env.log_signer)
    sizes = env.session.scalars(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)).all()
    assert len(sizes) == 3 and sizes == sorted(set(sizes))
