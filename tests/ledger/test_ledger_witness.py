"""The witness state machine: C2SP tlog-witness add-checkpoint, and polling from tiles."""

from __future__ import annotations

import json
import re

import pytest
from _paths import VECTORS_DIR
from ledger_memlog import MemoryLog

from farmtrace.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from farmtrace.ledger.cosignature import CosignatureVerifier, verify_cosignature
from farmtrace.ledger.errors import FormatError, VerificationError
from farmtrace.ledger.note import SignerKey, parse_note, parse_signer_key, parse_verifier_key
from farmtrace.ledger.tiles import read_tile_data
from farmtrace.ledger.tlog import prove_tree, stored_hash_count, tree_hash
from farmtrace.ledger.witness import (
    AddCheckpointRequest,
    BadProof,
    BadRequest,
    SizeConflict,
    TileHashReader,
    UnknownLog,
    UntrustedCheckpoint,
    WitnessAlarm,
    WitnessState,
    add_checkpoint,
    format_add_checkpoint_request,
    format_size_body,
    format_state,
    parse_add_checkpoint_request,
    parse_cosignature_lines,
    parse_size_body,
    parse_state,
    poll_checkpoint,
)

VECTORS = json.loads((VECTORS_DIR / "ledger" / "checkpoint.json").read_text())
LOG = parse_signer_key(VECTORS["log_skey"])
LOG_KEY = parse_verifier_key(VECTORS["log_vkey"])
WITNESS = parse_signer_key(VECTORS["witness_skey"])
WITNESS_KEY = parse_verifier_key(VECTORS["witness_vkey"])
ORIGIN = LOG.name
NOW = 1_795_000_000


def _signer(name: str) -> SignerKey:
    return SignerKey(name, bytes(range(32)))  # a key the witness does not trust


def records(prefix: str, n: int) -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(n)]


def signed(log: MemoryLog, size: int | None = None) -> str:
    size = log.size if size is None else size
    return sign_checkpoint(Checkpoint(ORIGIN, size, tree_hash(size, log)), LOG)


def request(old: int, log: MemoryLog, note: str, proof: list[bytes] | None = None) -> str:
    size = int(parse_note(note).text.split("\n")[1])
    if proof is None:
        proof = prove_tree(size, old, log) if 0 < old < size else []
    return format_add_checkpoint_request(AddCheckpointRequest(old, tuple(proof), note))


def witness(state: WitnessState, body: str) -> tuple[WitnessState, str]:
    return add_checkpoint(state, body, [LOG_KEY], WITNESS, NOW)


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog.of(records("a", 7))


def test_happy_path_cosigns_and_advances(log) -> None:
    first = signed(log, 3)
    state, lines = witness(WitnessState(), request(0, log, first))
    assert state.get(ORIGIN).size == 3
    # The response concatenated to the checkpoint is a note both the log and witness signed.
    checkpoint, note = open_checkpoint(first + lines, LOG_KEY, cosigners=[CosignatureVerifier(WITNESS_KEY)])
    assert checkpoint.size == 3
    assert {s.name for s in note.signatures} == {ORIGIN, WITNESS.name}
    (cosig,) = parse_cosignature_lines(lines)
    verify_cosignature(parse_note(first).text, cosig, WITNESS_KEY)
    assert cosig.signature[:8] == NOW.to_bytes(8, "big")

    second = signed(log)
    state, lines = witness(state, request(3, log, second))
    assert (state.get(ORIGIN).size, state.get(ORIGIN).note) == (7, second)
    open_checkpoint(second + lines, LOG_KEY, cosigners=[CosignatureVerifier(WITNESS_KEY)])
    # Submitting the same checkpoint again (old size = its size, no proof) cosigns again.
    again, _ = witness(state, request(7, log, second))
    assert again == state


def test_stale_old_size_is_a_conflict_that_names_the_size(log) -> None:
    state, _ = witness(WitnessState(), request(0, log, signed(log)))
    with pytest.raises(SizeConflict) as caught:
        witness(state, request(3, log, signed(log)))
    assert caught.value.status == 409
    assert caught.value.size == 7
    assert str(caught.value) == (
        f"add-checkpoint: old size 3 is not the size this witness last cosigned for {ORIGIN}, 7"
    )
    assert format_size_body(caught.value.size) == "7\n"
    assert parse_size_body("7\n") == 7


def test_bad_proof_is_422_and_changes_nothing(log) -> None:
    state, _ = witness(WitnessState(), request(0, log, signed(log, 3)))
    proof = prove_tree(7, 3, log)
    proof[0] = bytes(32)
    with pytest.raises(BadProof) as caught:
        witness(state, request(3, log, signed(log), proof))
    assert caught.value.status == 422
    assert "consistency proof: computed root" in str(caught.value)
    with pytest.raises(BadProof, match="expected no proof from size 0 to size 7, found 1 hashes"):
        witness(WitnessState(), request(0, log, signed(log), [bytes(32)]))


def test_unknown_log_untrusted_signature_and_bad_requests(log) -> None:
    stranger = sign_checkpoint(
        Checkpoint("other.example/log", 7, tree_hash(7, log)), _signer("other.example/log")
    )
    with pytest.raises(UnknownLog, match=re.escape("unknown log origin 'other.example/log'")) as caught:
        witness(WitnessState(), request(0, log, stranger))
    assert caught.value.status == 404

    forged = sign_checkpoint(Checkpoint(ORIGIN, 7, tree_hash(7, log)), _signer(ORIGIN))
    with pytest.raises(UntrustedCheckpoint, match="no signature by a known key") as caught:
        witness(WitnessState(), request(0, log, forged))
    assert caught.value.status == 403

    state, _ = witness(WitnessState(), request(0, log, signed(log, 3)))
    with pytest.raises(BadRequest, match="old size 5 is larger than the checkpoint size 3"):
        witness(state, request(5, log, signed(log, 3)))
    with pytest.raises(BadRequest, match="no blank line"):
        witness(state, "old 0\n")


def test_fork_at_the_same_size_raises_the_alarm_and_keeps_refusing(log) -> None:
    state, _ = witness(WitnessState(), request(0, log, signed(log)))
    forked = MemoryLog.of(records("b", 7))
    fork_note = signed(forked)
    with pytest.raises(WitnessAlarm) as caught:
        witness(state, request(7, forked, fork_note))
    alarm = caught.value.alarm
    assert isinstance(caught.value, VerificationError)
    assert (alarm.cosigned_note, alarm.conflicting_note) == (signed(log), fork_note)
    assert str(caught.value).startswith(f"ALARM: log {ORIGIN}: two different trees of size 7 (a fork)\n")
    assert signed(log) in str(caught.value) and fork_note in str(caught.value)
    # The state carried by the alarm refuses the log from then on, even honest requests.
    log.append(b"a7")
    with pytest.raises(WitnessAlarm):
        witness(caught.value.state, request(7, log, signed(log)))
    # ... and survives being written and read back.
    assert parse_state(format_state(caught.value.state)) == caught.value.state


def test_request_and_state_round_trip(log) -> None:
    body = request(3, log, signed(log))
    parsed = parse_add_checkpoint_request(body)
    assert format_add_checkpoint_request(parsed) == body
    assert body.startswith("old 3\n") and f"\n\n{ORIGIN}\n7\n" in body
    state, _ = witness(WitnessState(), request(0, log, signed(log)))
    assert parse_state(format_state(state)) == state


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("old 03\n\nx", "old size: expected a decimal without leading zeros, found '03'"),
        ("old -1\n\nx", "old size: expected a decimal without leading zeros, found '-1'"),
        ("new 3\n\nx", "expected first line 'old <size>'"),
        ("old 3\nAAAA\n\nx", "proof line 1: expected a 32-byte hash, found 3 bytes"),
        ("old 3\n" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n" * 64 + "\nx", "64 proof lines"),
        ("old 3\n\nno signatures\n", "note: no blank line"),
    ],
)
def test_malformed_requests_are_refused(body: str, message: str) -> None:
    with pytest.raises(FormatError, match=re.escape(message)):
        parse_add_checkpoint_request(body)


def tile_reader(log: MemoryLog, size: int) -> TileHashReader:
    return TileHashReader(size, lambda tile: read_tile_data(tile, log))


def test_tile_hash_reader_reads_every_stored_hash() -> None:
    log = MemoryLog.of(records("t", 600))  # two full level-0 tiles, a level-1 tile of width 2
    reader = tile_reader(log, 600)
    every = list(range(stored_hash_count(600)))
    assert reader.read_hashes(every) == log.read_hashes(every)
    assert {t.path() for t in reader.tiles} >= {"tile/0/000", "tile/0/002.p/88", "tile/1/000.p/2"}
    assert prove_tree(600, 300, reader) == prove_tree(600, 300, log)


def test_poll_cosigns_with_a_proof_computed_from_tiles() -> None:
    log = MemoryLog.of(records("p", 300))
    state, lines = poll_checkpoint(
        WitnessState(), signed(log, 260), tile_reader(log, 260), LOG_KEY, WITNESS, NOW
    )
    state, lines = poll_checkpoint(state, signed(log), tile_reader(log, 300), LOG_KEY, WITNESS, NOW + 1)
    assert state.get(ORIGIN).size == 300
    open_checkpoint(signed(log) + lines, LOG_KEY, cosigners=[CosignatureVerifier(WITNESS_KEY)])
    # Polling the same checkpoint again answers with the same cosignature.
    assert poll_checkpoint(state, signed(log), tile_reader(log, 300), LOG_KEY, WITNESS, NOW + 9) == (
        state,
        lines,
    )


def test_poll_raises_the_alarm_on_a_fork_and_on_a_rollback() -> None:
    log = MemoryLog.of(records("p", 300))
    state, _ = poll_checkpoint(WitnessState(), signed(log), tile_reader(log, 300), LOG_KEY, WITNESS, NOW)

    forked = MemoryLog.of(records("p", 100) + records("q", 300))
    with pytest.raises(WitnessAlarm, match="does not contain the tree of size 300") as caught:
        poll_checkpoint(state, signed(forked), tile_reader(forked, 400), LOG_KEY, WITNESS, NOW)
    assert caught.value.alarm.conflicting_note == signed(forked)

    with pytest.raises(WitnessAlarm, match="tree size 100 as its latest, smaller than size 300") as caught:
        poll_checkpoint(state, signed(log, 100), tile_reader(log, 100), LOG_KEY, WITNESS, NOW)
    with pytest.raises(WitnessAlarm):  # still refusing, even the honest log
        poll_checkpoint(caught.value.state, signed(log), tile_reader(log, 300), LOG_KEY, WITNESS, NOW)


def test_poll_tiles_that_do_not_match_the_signed_root_are_an_error_not_an_alarm() -> None:
    log = MemoryLog.of(records("p", 300))
    state, _ = poll_checkpoint(WitnessState(), signed(log, 200), tile_reader(log, 200), LOG_KEY, WITNESS, NOW)
    garbage = MemoryLog.of(records("z", 300))
    with pytest.raises(
        VerificationError, match=r"tiles of .*: the tree of size 300 they hold has root"
    ) as caught:
        poll_checkpoint(state, signed(log), tile_reader(garbage, 300), LOG_KEY, WITNESS, NOW)
    assert not isinstance(caught.value, WitnessAlarm)
