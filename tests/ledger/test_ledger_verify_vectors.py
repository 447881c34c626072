"""Entry test vectors (tests/vectors/ledger/entries.json): canonical bytes, hashes, signatures,
key ids, key history, and stored forms and signatures that must be rejected.

The vectors are written by this file (`.venv/bin/python tests/ledger/test_ledger_verify_vectors.py`)
from farmtrace.ledger, and checked here both against the code and, where it is short enough
to do by hand, against hashlib and cryptography directly (docs/ledger-format.md, "Entries"
and "Key history"). The seeds are derived from public strings: NOT secret, test use only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.ledger.canonical import canonical_bytes
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.entry import MAX_ENTRY_BYTES, SIGNATURE_CONTEXT, make_entry, parse_stored_entry
from farmtrace.ledger.errors import FormatError, KeyNotUsable, SignatureError
from farmtrace.ledger.keyhistory import KeyHistory, registration_payload, revocation_payload
from farmtrace.ledger.keys import SigningKey, verify_signature
from farmtrace.ledger.tiles import format_entry_bundle, parse_entry_bundle
from farmtrace.ledger.verify_rows import _fast_fields, stored_entry

PATH = Path(__file__).resolve().parents[1] / "vectors" / "ledger" / "entries.json"
KEY_NAMES = ("root", "log", "coop-1", "lab-1")


def _key(name: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"farmtrace test vector {name} key".encode()).digest())


def _fields(
    batch: str, seq: int, prev: str | None, kind: str, at: str, author: str, key: str, cid: str, payload: dict
) -> dict:
    return {
        "v": 1,
        "batch": batch,
        "seq": seq,
        "prev": prev,
        "type": kind,
        "event_time": at[:19] + "+08:00",
        "recorded_at": at,
        "author": author,
        "key": key,
        "id": cid,
        "payload": payload,
    }


def entry_vectors() -> dict:
    keys = {name: _key(name) for name in KEY_NAMES}
    root, coop, lab = keys["root"], keys["coop-1"], keys["lab-1"]
    made: list[tuple[str, dict, SigningKey]] = []
    heads: dict[str, str | None] = {}

    def add(
        description: str,
        batch: str,
        kind: str,
        at: str,
        author: str,
        signer: SigningKey,
        cid: str,
        payload: dict,
        **extra: str,
    ) -> dict:
        seq = sum(1 for _d, f, _s in made if f["batch"] == batch)
        fields = _fields(batch, seq, heads.get(batch), kind, at, author, signer.key_id, cid, payload) | extra
        heads[batch] = b64encode(make_entry(fields).hash)
        made.append((description, fields, signer))
        return fields

    def register(name: str, role: str, org: str, at: str) -> None:
        key = keys[name]
        add(
            f"keys: {name} key registered (role {role}), signed by the root key",
            "keys",
            "key.registered",
            at,
            "county",
            root,
            f"keys.register.{key.key_id}",
            registration_payload(key.key_id, org, role, key.public_key),
        )

    register("root", "root", "county", "2026-09-01T00:00:00.000Z")
    register("log", "log", "county", "2026-09-01T00:00:00.001Z")
    register("coop-1", "org", "coop-1", "2026-09-01T00:00:01.000Z")
    register("lab-1", "org", "lab-1", "2026-09-01T00:00:02.000Z")
    add(
        "B1/0: batch registration (Chinese text, decimal as string)",
        "FT-2026-0001",
        "batch.registered",
        "2026-09-01T01:00:00.000Z",
        "coop-1",
        coop,
        "FT-2026-0001.reg",
        {"product": "赣南脐橙", "weight_kg": "1200.5", "grade": "特级"},
    )
    add(
        "B1/1: farming input; escapes, a negative integer, nested objects",
        "FT-2026-0001",
        "farming.input",
        "2026-09-02T03:04:05.678Z",
        "coop-1",
        coop,
        "FT-2026-0001.in-1",
        {
            "input": "有机肥",
            "dose_kg_per_mu": "12.5",
            "note": 'line\nbreak "q" \\ \u001f',
            "delta": -9007199254740991,
            "plots": [{"id": "P-7", "area_mu": "3.25"}],
            "€": "euro",
            "ö": True,
            "a": None,
        },
    )
    lab_fields = add(
        "B1/2: lab result signed by the lab's own key",
        "FT-2026-0001",
        "lab.tested",
        "2026-09-02T08:00:00.000Z",
        "lab-1",
        lab,
        "FT-2026-0001.lab-1",
        {
            "analyte": "chlorpyrifos",
            "method": "GB 23200.113-2018",
            "limit_mg_kg": "0.05",
            "value_mg_kg": "0.01",
            "verdict": "pass",
        },
    )
    add(
        "B1/3: a correction that names the entry it amends",
        "FT-2026-0001",
        "lab.corrected",
        "2026-09-02T09:00:00.000Z",
        "lab-1",
        lab,
        "FT-2026-0001.lab-1-fix",
        {"value_mg_kg": "0.02"},
        amends=b64encode(make_entry(lab_fields).hash),
    )
    add(
        "keys: coop-1's key revoked",
        "keys",
        "key.revoked",
        "2026-09-03T00:00:00.000Z",
        "county",
        root,
        f"keys.revoke.{coop.key_id}",
        revocation_payload(coop.key_id, "rotated"),
    )
    add(
        "B1/4: signed with coop-1's key after its revocation: well formed, but the key history rejects it",
        "FT-2026-0001",
        "logistics.pickup",
        "2026-09-03T00:00:00.001Z",
        "coop-1",
        coop,
        "FT-2026-0001.pickup",
        {},
    )

    entries = []
    for description, fields, signer in made:
        entry = make_entry(fields)
        entries.append(
            {
                "description": description,
                "fields": fields,
                "canonical": entry.canonical.decode("utf-8"),
                "hash": b64encode(entry.hash),
                "hash_hex": entry.hash.hex(),
                "signed_by": signer.key_id,
                "signature": b64encode(signer.sign(entry.signing_input())),
            }
        )
    b1 = entries[5]
    stored_mutations = [
        (
            "pretty-printed instead of canonical",
            json.dumps(b1["fields"], indent=1, ensure_ascii=False),
            "not in RFC 8785 canonical form",
        ),
        (
            "keys not sorted",
            json.dumps(b1["fields"], ensure_ascii=False, separators=(",", ":")),
            "not in RFC 8785 canonical form",
        ),
        (
            "non-ASCII escaped as \\u",
            json.dumps(b1["fields"], sort_keys=True, separators=(",", ":")),
            "not in RFC 8785 canonical form",
        ),
        (
            "a decimal written as a JSON number",
            b1["canonical"].replace('"dose_kg_per_mu":"12.5"', '"dose_kg_per_mu":12.5'),
            "number 12.5 has a fraction or exponent",
        ),
        (
            "an integer outside ±(2**53 - 1)",
            b1["canonical"].replace("-9007199254740991", "-9007199254740992"),
            "outside the I-JSON safe range",
        ),
        (
            "duplicate key",
            b1["canonical"].replace('{"a":null,', '{"a":null,"a":null,'),
            "duplicate object key 'a'",
        ),
        ("lone surrogate", b1["canonical"].replace('"€":"euro"', '"€":"\\ud800"'), "lone surrogate"),
        ("unknown field", b1["canonical"][:-1] + ',"z":1}', "entry: unknown field 'z'"),
        ("unknown version", b1["canonical"].replace('"v":1', '"v":2'), "entry.v: expected 1, found 2"),
        (
            "seq 0 with a prev",
            entries[4]["canonical"].replace('"prev":null', '"prev":"' + b1["hash"] + '"'),
            "entry.prev: must be null for seq 0",
        ),
        (
            "prev missing for seq 1",
            b1["canonical"].replace('"prev":"' + b1["fields"]["prev"] + '"', '"prev":null'),
            "entry.prev: missing for seq 1",
        ),
        (
            "prev of 31 bytes",
            b1["canonical"].replace(b1["fields"]["prev"], b64encode(bytes(31))),
            "expected a 32-byte hash, found 31 bytes",
        ),
        (
            "recorded_at without milliseconds",
            b1["canonical"].replace("05.678Z", "05Z"),
            "entry.recorded_at: expected UTC time",
        ),
        (
            "recorded_at with non-ASCII (fullwidth) digits",
            b1["canonical"].replace('"recorded_at":"2026', '"recorded_at":"２０２６'),
            "entry.recorded_at: expected UTC time",
        ),
        (
            "event_time without an offset",
            b1["canonical"].replace("T03:04:05+08:00", "T03:04:05"),
            "entry.event_time: expected an RFC 3339 time with offset",
        ),
        (
            "type not dotted lowercase",
            b1["canonical"].replace('"farming.input"', '"Farming"'),
            "entry.type: expected dotted lowercase words",
        ),
        (
            "payload not an object",
            entries[9]["canonical"].replace('"payload":{}', '"payload":[]'),
            "entry.payload: expected a JSON object",
        ),
    ]
    lab_entry = entries[6]
    bad_signatures = [
        ("one bit flipped", 5, _flip(entries[5]["signature"]), "coop-1"),
        (
            "signed by another organisation's key",
            6,
            b64encode(coop.sign(SIGNATURE_CONTEXT + lab_entry["canonical"].encode())),
            "lab-1",
        ),
        (
            "signed over the canonical bytes without the context prefix",
            6,
            b64encode(lab.sign(lab_entry["canonical"].encode())),
            "lab-1",
        ),
    ]
    return {
        "description": (
            "farmtrace ledger entries, version 1 (docs/ledger-format.md, 'Entries' and 'Key history'). "
            "For each entry: its fields, canonical bytes (RFC 8785, as a UTF-8 string), hash = "
            "SHA-256(0x00 || canonical) in base64 and hex, and the Ed25519 signature over "
            "signature_context || canonical by the key signed_by. Keys: seeds are SHA-256 of public strings, "
            "NOT secret. The key chain replayed in seq order makes entries 0-8 valid and entry 9 invalid "
            "(signed after its key's revocation). stored_mutations must be rejected as stored entries; "
            "bad_signatures must not verify with the key named."
        ),
        "signature_context": SIGNATURE_CONTEXT.decode("ascii"),
        "key_id_context": "farmtrace/key/v1\n",
        "keys": [
            {
                "name": name,
                "seed_hex": key.seed.hex(),
                "public_key": b64encode(key.public_key),
                "key_id": key.key_id,
            }
            for name, key in keys.items()
        ],
        "entries": entries,
        "key_history": {"valid": list(range(9)), "invalid": [{"entry": 9, "error": "was revoked at"}]},
        "stored_mutations": [
            {"description": d, "stored": text, "want_err": True, "error": error}
            for d, text, error in stored_mutations
        ],
        "bad_signatures": [
            {"description": d, "entry": index, "signature": signature, "key": key, "want_err": True}
            for d, index, signature, key in bad_signatures
        ],
    }


def _flip(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[17] ^= 0x04
    return b64encode(bytes(raw))


VECTORS = json.loads(PATH.read_text(encoding="utf-8")) if PATH.exists() else {}
KEYS = {key["name"]: key for key in VECTORS.get("keys", [])}


def test_the_vector_file_is_what_the_code_writes() -> None:
    assert entry_vectors() == VECTORS, (
        "regenerate: .venv/bin/python tests/ledger/test_ledger_verify_vectors.py"
    )
    assert VECTORS["description"]


def test_key_ids_by_hand() -> None:
    for key in VECTORS["keys"]:
        public = base64.b64decode(key["public_key"])
        assert key["key_id"] == "k" + hashlib.sha256(b"farmtrace/key/v1\n" + public).digest()[:8].hex()
        assert SigningKey.from_seed(bytes.fromhex(key["seed_hex"])).public_key == public


@pytest.mark.parametrize("vector", VECTORS.get("entries", []), ids=lambda v: v["description"][:40])
def test_entry_bytes_hash_and_signature(vector: dict) -> None:
    canonical = vector["canonical"].encode("utf-8")
    assert canonical_bytes(vector["fields"]) == canonical
    assert parse_stored_entry(canonical).fields == vector["fields"]
    # The verifier's fast path takes every vector (none has characters beyond U+FFFF).
    assert _fast_fields(canonical) == vector["fields"]
    digest = hashlib.sha256(b"\x00" + canonical).digest()
    assert (b64encode(digest), digest.hex()) == (vector["hash"], vector["hash_hex"])
    signer = next(key for key in VECTORS["keys"] if key["key_id"] == vector["signed_by"])
    signature = base64.b64decode(vector["signature"])
    Ed25519PublicKey.from_public_bytes(base64.b64decode(signer["public_key"])).verify(
        signature, b"farmtrace/entry/v1\n" + canonical
    )
    # Ed25519 is deterministic: the seed reproduces the signature byte for byte.
    assert (
        SigningKey.from_seed(bytes.fromhex(signer["seed_hex"])).sign(b"farmtrace/entry/v1\n" + canonical)
        == signature
    )


def test_chains_link_by_hash() -> None:
    heads: dict[str, str] = {}
    for vector in VECTORS["entries"]:
        fields = vector["fields"]
        assert fields["prev"] == heads.get(fields["batch"])
        heads[fields["batch"]] = vector["hash"]


def test_the_key_history_accepts_and_rejects_as_stated() -> None:
    entries = [parse_stored_entry(v["canonical"].encode()) for v in VECTORS["entries"]]
    signatures = [base64.b64decode(v["signature"]) for v in VECTORS["entries"]]
    history = KeyHistory(base64.b64decode(KEYS["root"]["public_key"]))
    for entry, signature in zip(entries, signatures, strict=True):
        if entry.batch == "keys":
            history.apply(entry, signature)
    for index in VECTORS["key_history"]["valid"]:
        record = history.check(entries[index])
        verify_signature(record.public_key, entries[index].signing_input(), signatures[index])
    for case in VECTORS["key_history"]["invalid"]:
        with pytest.raises(KeyNotUsable, match=case["error"]):
            history.check(entries[case["entry"]])


@pytest.mark.parametrize("case", VECTORS.get("stored_mutations", []), ids=lambda c: c["description"])
def test_stored_mutations_are_rejected(case: dict) -> None:
    assert case["want_err"]
    stored = case["stored"].encode("utf-8")
    with pytest.raises(FormatError) as caught:
        parse_stored_entry(stored)
    assert case["error"] in str(caught.value)
    # The verifier's fast path declines it, and its way in gives the same error.
    assert _fast_fields(stored) is None
    with pytest.raises(FormatError) as fast:
        stored_entry(stored)
    assert str(fast.value) == str(caught.value)


@pytest.mark.parametrize("case", VECTORS.get("bad_signatures", []), ids=lambda c: c["description"])
def test_bad_signatures_do_not_verify(case: dict) -> None:
    entry = parse_stored_entry(VECTORS["entries"][case["entry"]]["canonical"].encode("utf-8"))
    public = base64.b64decode(KEYS[case["key"]]["public_key"])
    with pytest.raises(SignatureError):
        verify_signature(public, entry.signing_input(), base64.b64decode(case["signature"]))
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(public).verify(
            base64.b64decode(case["signature"]), entry.signing_input()
        )


def test_the_entry_size_limit_fits_an_entry_bundle() -> None:
    fields = parse_stored_entry(VECTORS["entries"][4]["canonical"].encode("utf-8")).fields
    base = len(canonical_bytes({**fields, "payload": {"pad": ""}}))
    largest = make_entry({**fields, "payload": {"pad": "x" * (MAX_ENTRY_BYTES - base)}})
    assert len(largest.canonical) == MAX_ENTRY_BYTES == 65535
    assert parse_entry_bundle(format_entry_bundle([largest.canonical]), width=1) == [largest.canonical]
    with pytest.raises(
        FormatError, match="entry: canonical form is 65536 bytes, more than the limit of 65535"
    ):
        make_entry({**fields, "payload": {"pad": "x" * (MAX_ENTRY_BYTES - base + 1)}})


if __name__ == "__main__":
    PATH.write_text(json.dumps(entry_vectors(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PATH}", file=sys.stderr)
