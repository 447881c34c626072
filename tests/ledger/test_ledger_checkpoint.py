"""C2SP tlog-checkpoint and tlog-cosignature: formats, strict parsing, signing."""

from __future__ import annotations

import json

import pytest
from _paths import reference_dir

from farmtrace.ledger.checkpoint import (
    Checkpoint,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from farmtrace.ledger.cosignature import (
    CosignatureVerifier,
    cosign,
    cosignature_timestamp,
    cosignature_v1_message,
    verify_cosignature,
)
from farmtrace.ledger.errors import FormatError, SignatureError
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    NoteSignature,
    SignerKey,
    format_note,
    generate_signer_key,
    key_id,
    parse_note,
)

VECTORS = json.loads((reference_dir() / "signed-note" / "vectors.json").read_text())
EXAMPLES = {v["id"]: v for v in VECTORS["format_examples_unverifiable"]}
SOFA = EXAMPLES["c2sp-tlog-checkpoint-example"]
COSIGNED = EXAMPLES["c2sp-tlog-cosignature-example"]
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

LOG = SignerKey("farmtrace.example/log", bytes(range(32)))
WITNESS = SignerKey("witness.example/w1", bytes(range(32, 64)), SIG_TYPE_COSIGNATURE_V1)


def test_c2sp_checkpoint_example_parses_and_formats_back() -> None:
    note = parse_note(SOFA["note"])
    assert note.text == BODY
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        (),
    )
    assert format_checkpoint(checkpoint) == BODY
    assert format_note(note.text, note.unverified_signatures) == SOFA["note"]


def test_go_sumdb_tree_note_parses() -> None:
    text = EXAMPLES["go-sumdb-tree-note"]["note_text"]
    checkpoint = parse_checkpoint(text)
    assert checkpoint.size == 123456789012
    assert format_checkpoint(checkpoint) == text


def test_c2sp_cosignature_example_layout() -> None:
    note = parse_note(COSIGNED["note"])
    log_sig, witness_sig = note.unverified_signatures
    assert witness_sig.name == "witness.example.com/w1"
    assert f"{witness_sig.key_id:08x}" == "8d66cf3f"
    assert len(witness_sig.signature) == 8 + 64
    assert cosignature_timestamp(witness_sig) == 1679315147
    assert cosignature_v1_message(note.text, 1679315147).decode() == COSIGNED["cosigned_message_example"]
    assert len(log_sig.signature) == 64


def test_extension_lines_round_trip() -> None:
    checkpoint = Checkpoint("farmtrace.example/log", 0, bytes(32), ("ext one", "ext two"))
    text = format_checkpoint(checkpoint)
    assert (
        text == "farmtrace.example/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\next two\n"
    )
    assert parse_checkpoint(text) == checkpoint


ROOT = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"o\n5\n{ROOT}", "checkpoint: expected text ending in a newline"),
        ("o\n5\n", r"expected at least 3 lines \(origin, size, root hash\), found 2"),
        (f"\n5\n{ROOT}\n", "checkpoint origin: expected a non-empty line"),
        (f"o\n05\n{ROOT}\n", "checkpoint tree size: expected a decimal without leading zeros, found '05'"),
        (f"o\n+5\n{ROOT}\n", "found '\\+5'"),
        (f"o\n 5\n{ROOT}\n", "found ' 5'"),
        (f"o\n5_0\n{ROOT}\n", "found '5_0'"),
        (f"o\n５\n{ROOT}\n", "found '５'"),  # fullwidth digit: int() would accept it
        (f"o\n-1\n{ROOT}\n", "found '-1'"),
        (f"o\n{2**63}\n{ROOT}\n", "checkpoint tree size: expected an integer 0 to 2\\*\\*63-1"),
        (
            "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
            "checkpoint root hash: expected standard base64",
        ),
        (
            "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
            "checkpoint root hash: base64 .* is not in canonical form",
        ),
        ("o\n5\nAAAA\n", "checkpoint root hash: expected a 32-byte hash, found 3 bytes"),
        (f"o\n5\n{ROOT}\n\n", "checkpoint extension line 1: expected a non-empty line"),
        (f"o\n5\n{ROOT}\nx\ty\n", r"checkpoint extension line 1: character U\+0009 at index 1"),
    ],
)
def test_non_canonical_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_checkpoint(text)


def test_signed_checkpoint_opens_with_the_log_key() -> None:
    checkpoint = Checkpoint(LOG.name, 7, bytes(range(32)))
    signed = sign_checkpoint(checkpoint, LOG)
    opened, note = open_checkpoint(signed, LOG.verifier_key())
    assert opened == checkpoint
    assert note.text == format_checkpoint(checkpoint)


def test_checkpoint_with_foreign_origin_is_refused() -> None:
    signed = sign_checkpoint(Checkpoint("other.example/log", 7, bytes(32)), LOG)
    with pytest.raises(
        SignatureError,
        match=r"origin 'other\.example/log' does not match expected origin 'farmtrace\.example/log'",
    ):
        open_checkpoint(signed, LOG.verifier_key())
    assert open_checkpoint(signed, LOG.verifier_key(), origin="other.example/log")[0].size == 7


def test_checkpoint_signed_only_by_a_cosigner_is_refused() -> None:
    body = format_checkpoint(Checkpoint(LOG.name, 7, bytes(32)))
    only_witness = format_note(body, [cosign(body, WITNESS, 1700000000)])
    with pytest.raises(
        SignatureError, match=r"checkpoint: not signed by the log key farmtrace.example/log\+"
    ):
        open_checkpoint(
            only_witness, LOG.verifier_key(), cosigners=[CosignatureVerifier(WITNESS.verifier_key())]
        )


def test_cosignature_round_trip_and_key_id_by_hand() -> None:
    import hashlib

    body = format_checkpoint(Checkpoint(LOG.name, 7, bytes(32)))
    signature = cosign(body, WITNESS, 1700000000)
    expected_id = hashlib.sha256(b"witness.example/w1\n\x04" + WITNESS.public_key).digest()[:4]
    assert (
        signature.key_id == int.from_bytes(expected_id, "big") == key_id(WITNESS.name, 4, WITNESS.public_key)
    )
    assert signature.signature[:8] == (1700000000).to_bytes(8, "big")
    verify_cosignature(body, signature, WITNESS.verifier_key())

    signed = sign_checkpoint(Checkpoint(LOG.name, 7, bytes(32)), LOG)
    cosigned = format_note(body, [*parse_note(signed).unverified_signatures, signature])
    _, note = open_checkpoint(
        cosigned, LOG.verifier_key(), cosigners=[CosignatureVerifier(WITNESS.verifier_key())]
    )
    assert [s.name for s in note.signatures] == [LOG.name, WITNESS.name]


def test_tampered_cosignatures_are_refused() -> None:
    body = format_checkpoint(Checkpoint(LOG.name, 7, bytes(32)))
    good = cosign(body, WITNESS, 1700000000)
    later = NoteSignature(good.name, good.key_id, (1700000001).to_bytes(8, "big") + good.signature[8:])
    with pytest.raises(
        SignatureError, match=r"cosignature: invalid signature by witness\.example/w1\+.* at time 1700000001"
    ):
        verify_cosignature(body, later, WITNESS.verifier_key())
    with pytest.raises(SignatureError, match="cosignature: invalid signature"):
        verify_cosignature(body.replace("\n7\n", "\n8\n"), good, WITNESS.verifier_key())
    short = NoteSignature(good.name, good.key_id, good.signature[8:])
    with pytest.raises(FormatError, match="expected 72 bytes after the key ID, found 64"):
        verify_cosignature(body, short, WITNESS.verifier_key())
    other = generate_signer_key("witness.example/w2", SIG_TYPE_COSIGNATURE_V1)
    with pytest.raises(
        SignatureError, match=r"signed by witness.example/w1\+.*, expected witness.example/w2\+"
    ):
        verify_cosignature(body, good, other.verifier_key())
    signed = sign_checkpoint(Checkpoint(LOG.name, 7, bytes(32)), LOG)
    cosigned = format_note(body, [*parse_note(signed).unverified_signatures, later])
    with pytest.raises(SignatureError, match=r"note: invalid signature by known key witness.example/w1\+"):
        open_checkpoint(cosigned, LOG.verifier_key(), cosigners=[CosignatureVerifier(WITNESS.verifier_key())])


def test_cosign_needs_a_cosignature_key_and_sane_time() -> None:
    body = format_checkpoint(Checkpoint(LOG.name, 7, bytes(32)))
    with pytest.raises(SignatureError, match="expected a signature type 0x04 key, found 0x01"):
        cosign(body, LOG, 1)
    with pytest.raises(
        FormatError, match="cosignature timestamp: expected an integer 0 to 2\\*\\*63-1, found -1"
    ):
        cosign(body, WITNESS, -1)
    with pytest.raises(FormatError, match="expected a signature type 0x04 key"):
        CosignatureVerifier(LOG.verifier_key())
