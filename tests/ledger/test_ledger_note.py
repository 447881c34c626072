"""C2SP signed-note: the published vectors, key encodings, and strict parsing."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from _paths import reference_dir

from farmtrace.ledger.errors import FormatError, LedgerError, SignatureError
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    NoteSignature,
    SignerKey,
    VerifierKey,
    format_note,
    format_signer_key,
    format_verifier_key,
    generate_signer_key,
    key_id,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)

VECTORS = json.loads((reference_dir() / "signed-note" / "vectors.json").read_text())
BY_ID = {v["id"]: v for v in VECTORS["vectors"]}
PETER = BY_ID["go-sumdb-note-PeterNeumann"]
ENOCH = BY_ID["go-sumdb-note-EnochRoot"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["id"])
def test_published_notes_open_with_their_keys(vector: dict) -> None:
    key = parse_verifier_key(vector["vkey"])
    assert format_verifier_key(key) == vector["vkey"]
    note = open_note(vector["signed_note"], [key])
    assert note.text == vector["text"]
    assert [(s.name, s.key_id) for s in note.signatures] == [(key.name, key.key_id)]
    assert note.unverified_signatures == ()
    assert format_note(note.text, note.signatures) == vector["signed_note"]


def test_peter_neumann_signature_is_reproduced_byte_for_byte() -> None:
    signer = parse_signer_key(PETER["skey"])
    assert format_signer_key(signer) == PETER["skey"]
    assert format_verifier_key(signer.verifier_key()) == PETER["vkey"]
    assert sign_note(PETER["text"], signer) == PETER["signed_note"]


def test_key_id_by_hand() -> None:
    key = parse_verifier_key(PETER["vkey"])
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + key.public_key).digest()
    assert digest[:4].hex() == "c74f20a3" == f"{key.key_id:08x}"
    assert key_id("PeterNeumann", 1, key.public_key) == 0xC74F20A3


def test_signer_key_repr_hides_the_seed() -> None:
    signer = parse_signer_key(PETER["skey"])
    assert "seed" not in repr(signer)
    assert signer.seed.hex() not in repr(signer)


def test_unknown_signatures_are_kept_aside() -> None:
    both = PETER["signed_note"] + ENOCH["signed_note"].split("\n\n")[1]
    note = open_note(both, [parse_verifier_key(ENOCH["vkey"])])
    assert [s.name for s in note.signatures] == ["EnochRoot"]
    assert [s.name for s in note.unverified_signatures] == ["PeterNeumann"]


def test_note_signed_only_by_unknown_keys_is_refused() -> None:
    with pytest.raises(
        SignatureError,
        match=r"note: no signature by a known key \(known: EnochRoot\+af0cfe78; found: PeterNeumann\+c74f20a3\)",
    ):
        open_note(PETER["signed_note"], [parse_verifier_key(ENOCH["vkey"])])


def test_same_name_other_key_id_is_unknown_not_invalid() -> None:
    # signed-note: ignore signatures from unknown keys even if they share a name.
    other = generate_signer_key("PeterNeumann")
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(PETER["signed_note"], [other.verifier_key()])


def test_invalid_signature_by_a_known_key_rejects_the_note() -> None:
    tampered = PETER["signed_note"].replace("answer", "ANSWER")
    with pytest.raises(SignatureError, match=r"note: invalid signature by known key PeterNeumann\+c74f20a3"):
        open_note(tampered, [parse_verifier_key(PETER["vkey"])])


def test_repeated_signature_is_checked_once_and_bytes_are_accepted() -> None:
    line = PETER["signed_note"].split("\n\n")[1]
    note = open_note((PETER["signed_note"] + line).encode(), [parse_verifier_key(PETER["vkey"])])
    assert len(note.signatures) == 1


def _sig_line(name: str = "PeterNeumann", payload: bytes = b"\x00" * 68) -> str:
    return f"\u2014 {name} {base64.b64encode(payload).decode()}\n"


TEXT = "hello\n"


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        ("hello\n" + _sig_line(), "no blank line separating the text from the signatures"),
        ("hello\n\n", "no signature lines after the blank line"),
        (TEXT + "\n" + _sig_line()[:-1], "signature block does not end in a newline"),
        (TEXT + "\n" + _sig_line().replace("\u2014", "-"), r"signature line 1: expected to start with '— '"),
        (
            TEXT + "\n" + _sig_line().replace("\u2014 ", "\u2014"),
            "signature line 1: expected to start with '— '",
        ),
        (TEXT + "\n" + "\u2014 PeterNeumann\n", r"expected '— <name> <base64 signature>'"),
        (TEXT + "\n" + _sig_line(name="a+b"), r"key name 'a\+b': must not contain spaces or '\+'"),
        (
            TEXT + "\n" + _sig_line(payload=b"\x00" * 4),
            "expected a 4-byte key ID and a signature, found 4 bytes",
        ),
        (TEXT + "\n" + _sig_line()[:-2] + "\n", "signature line 1: signature: expected standard base64"),
        (TEXT + "\n" + _sig_line() + "\n", "no signature lines after the blank line"),
        (TEXT + "\n" + _sig_line() + "x\n", "signature line 2: expected to start with '— '"),
        ("hel\tlo\n\n" + _sig_line(), r"note: character U\+0009 at index 3 is not allowed"),
        ("hello\r\n\n" + _sig_line(), r"note: character U\+000D at index 5 is not allowed"),
        (TEXT.encode() + b"\n\xff" + _sig_line().encode(), "note: not valid UTF-8 at byte 7"),
        (TEXT + "\n" + _sig_line() * 101, "101 signature lines, more than the limit of 100"),
    ],
)
def test_malformed_notes_are_refused(msg: str | bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        open_note(msg, [parse_verifier_key(PETER["vkey"])])


def test_text_may_contain_blank_lines() -> None:
    signer = generate_signer_key("farmtrace.example/log")
    text = "first\n\nthird\n"
    signed = sign_note(text, signer)
    assert open_note(signed, [signer.verifier_key()]).text == text


def test_several_signers_and_round_trip_of_parse() -> None:
    a, b = generate_signer_key("a.example"), generate_signer_key("b.example")
    signed = sign_note(TEXT, a, b)
    parsed = parse_note(signed)
    assert [s.name for s in parsed.unverified_signatures] == ["a.example", "b.example"]
    assert format_note(parsed.text, parsed.unverified_signatures) == signed
    note = open_note(signed, [a.verifier_key(), b.verifier_key()])
    assert len(note.signatures) == 2


def test_sign_note_refuses_text_without_final_newline() -> None:
    with pytest.raises(FormatError, match="note text: must be a string ending in a newline"):
        sign_note("hello", generate_signer_key("x"))


def test_duplicate_verifiers_are_a_configuration_error() -> None:
    key = parse_verifier_key(PETER["vkey"])
    with pytest.raises(LedgerError, match=r"key PeterNeumann\+c74f20a3 is listed twice"):
        open_note(PETER["signed_note"], [key, key])


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann+c74f20a3", "expected <name>\\+<hex8 key ID>\\+<base64 key>"),
        (
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "expected an 8-digit lower-case hex key ID, found 'C74F20A3'",
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "key ID c74f20a4 does not match the key \\(expected c74f20a3\\)",
        ),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "expected standard base64"),
        (
            "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "unsupported signature type 0x02",
        ),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",
            "expected a type byte and 32 key bytes, found 30 bytes",
        ),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "must not contain spaces"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "expected a non-empty string"),
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_verifier_key(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    ],
)
def test_malformed_signer_keys_are_refused_without_echoing_the_secret(skey: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_signer_key(skey)
    assert "AYEKFALVFGyNhPJEMzD1QIDr" not in str(info.value)


def test_generated_keys_round_trip() -> None:
    for key_type in (1, SIG_TYPE_COSIGNATURE_V1):
        signer = generate_signer_key("farmtrace.example/w", key_type)
        assert parse_signer_key(format_signer_key(signer)) == signer
        vkey = format_verifier_key(signer.verifier_key())
        assert (
            parse_verifier_key(vkey)
            == signer.verifier_key()
            == VerifierKey(signer.name, signer.public_key, key_type)
        )
        assert base64.b64decode(vkey.split("+", 2)[2])[0] == key_type


def test_cosigner_key_cannot_make_or_check_plain_signatures() -> None:
    witness = generate_signer_key("w.example", SIG_TYPE_COSIGNATURE_V1)
    with pytest.raises(SignatureError, match="type 0x04 keys make cosignatures"):
        sign_note(TEXT, witness)
    fake = NoteSignature("w.example", witness.key_id, b"\x00" * 64)
    with pytest.raises(SignatureError, match="has signature type 0x04"):
        open_note(format_note(TEXT, [fake]), [witness.verifier_key()])


def test_signer_key_checks_seed_size() -> None:
    with pytest.raises(FormatError, match="expected a 32-byte Ed25519 seed, found 31 bytes"):
        SignerKey("x", b"\x00" * 31)
