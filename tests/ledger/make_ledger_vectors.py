"""Writes tests/vectors/ledger/*.json from farmtrace.ledger. Run: .venv/bin/python tests/ledger/make_ledger_vectors.py

The vectors are outputs of our own code, checked in so that a verifier in another
language can be tested against them; test_ledger_vectors.py recomputes every value and
cross-checks the 7-leaf root by hand with hashlib.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ledger_memlog import MemoryLog

from farmtrace.ledger.canonical import canonical_bytes
from farmtrace.ledger.checkpoint import Checkpoint, format_checkpoint, sign_checkpoint
from farmtrace.ledger.cosignature import cosign
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SignerKey,
    format_note,
    format_signer_key,
    format_verifier_key,
    parse_note,
    sign_note,
)
from farmtrace.ledger.receipt import Receipt, format_receipt
from farmtrace.ledger.tiles import Tile, format_entry_bundle, read_tile_data
from farmtrace.ledger.tlog import (
    prove_record,
    prove_tree,
    split_stored_hash_index,
    stored_hash_count,
    tree_hash,
)

OUT = Path(__file__).resolve().parents[1] / "vectors" / "ledger"

OBJECTS = [
    {"batch": "FT-2026-0001", "seq": 0, "type": "register", "product": "赣南脐橙", "org": "coop-17"},
    {"batch": "FT-2026-0001", "seq": 1, "type": "input", "input": "有机肥", "dose_kg_per_mu": "12.5"},
    {
        "batch": "FT-2026-0001",
        "seq": 2,
        "type": "harvest",
        "weight_kg": "1200.5",
        "at": "2026-11-02T08:30:00Z",
    },
    {"batch": "FT-2026-0002", "seq": 0, "type": "register", "product": "Navel orange", "org": "coop-17"},
    {"z": [3, 2, 1], "a": {"y": None, "x": True}, "\u20ac": "euro", "\u00f6": "o", "\U0001f34a": "tangerine"},
    {
        "batch": "FT-2026-0001",
        "seq": 3,
        "type": "lab_test",
        "result": {"analyte": "chlorpyrifos", "value": "0.01", "limit": "0.05", "verdict": "pass"},
    },
    {"text": 'line\nbreak "quoted" \\ back\u001f', "n": -9007199254740991},
]

LOG = SignerKey("farmtrace.example/log", hashlib.sha256(b"farmtrace test vector log key").digest())
WITNESS = SignerKey(
    "witness.farmtrace.example/w1",
    hashlib.sha256(b"farmtrace test vector witness key").digest(),
    SIG_TYPE_COSIGNATURE_V1,
)
COSIGN_TIME = 1795000000


def b64s(hashes: list[bytes]) -> list[str]:
    return [b64encode(h) for h in hashes]


def merkle_vectors() -> dict:
    canonical = [canonical_bytes(o) for o in OBJECTS]
    log = MemoryLog.of(canonical)
    size = len(canonical)
    roots = {str(t): b64encode(tree_hash(t, log)) for t in range(size + 1)}
    inclusion = [
        {
            "leaf_index": n,
            "tree_size": t,
            "leaf_hash": b64encode(leaf_hash(canonical[n])),
            "root": roots[str(t)],
            "proof": b64s(prove_record(t, n, log)),
        }
        for t in range(1, size + 1)
        for n in range(t)
    ]
    consistency = [
        {
            "size1": m,
            "size2": t,
            "root1": roots[str(m)],
            "root2": roots[str(t)],
            "proof": b64s(prove_tree(t, m, log)),
        }
        for t in range(1, size + 1)
        for m in range(1, t + 1)
    ]
    incl = next(c for c in inclusion if (c["leaf_index"], c["tree_size"]) == (2, 7))
    cons = next(c for c in consistency if (c["size1"], c["size2"]) == (3, 7))
    flipped = b64encode(bytes([1]) + bytes(31))
    mutations = [
        {
            "description": "inclusion: leaf index 3 with the proof of leaf 2",
            "kind": "inclusion",
            **incl,
            "leaf_index": 3,
            "want_err": True,
        },
        {
            "description": "inclusion: tree size 4 with the proof for size 7",
            "kind": "inclusion",
            **incl,
            "tree_size": 4,
            "want_err": True,
        },
        {
            "description": "inclusion: last proof hash dropped",
            "kind": "inclusion",
            **incl,
            "proof": incl["proof"][:-1],
            "want_err": True,
        },
        {
            "description": "inclusion: extra hash appended",
            "kind": "inclusion",
            **incl,
            "proof": [*incl["proof"], incl["root"]],
            "want_err": True,
        },
        {
            "description": "inclusion: first proof hash replaced",
            "kind": "inclusion",
            **incl,
            "proof": [flipped, *incl["proof"][1:]],
            "want_err": True,
        },
        {
            "description": "inclusion: root of size 6",
            "kind": "inclusion",
            **incl,
            "root": roots["6"],
            "want_err": True,
        },
        {
            "description": "consistency: roots swapped",
            "kind": "consistency",
            **cons,
            "root1": cons["root2"],
            "root2": cons["root1"],
            "want_err": True,
        },
        {
            "description": "consistency: size1 4 with the proof from 3",
            "kind": "consistency",
            **cons,
            "size1": 4,
            "want_err": True,
        },
        {
            "description": "consistency: proof hashes reversed",
            "kind": "consistency",
            **cons,
            "proof": cons["proof"][::-1],
            "want_err": True,
        },
        {
            "description": "consistency: from size 0",
            "kind": "consistency",
            "size1": 0,
            "size2": 7,
            "root1": roots["0"],
            "root2": roots["7"],
            "proof": [],
            "want_err": True,
        },
        {
            "description": "consistency: equal sizes, equal roots, empty proof",
            "kind": "consistency",
            "size1": 7,
            "size2": 7,
            "root1": roots["7"],
            "root2": roots["7"],
            "proof": [],
            "want_err": False,
        },
    ]
    return {
        "description": (
            "A 7-leaf RFC 6962 Merkle tree. Each leaf is the RFC 8785 canonical JSON of a sample object "
            "(not the ledger entry format); leaf hash = SHA-256(0x00 || canonical bytes), node hash = "
            "SHA-256(0x01 || left || right). Hashes are standard base64 with padding. stored_hashes is the "
            "tlog storage layout (index -> level, n) after 7 records; tiles are C2SP tlog-tiles. Every "
            "inclusion (leaf, size) and consistency (size1 <= size2, size1 > 0) pair of sizes 1..7 is listed; "
            "mutations with want_err true must be rejected."
        ),
        "leaves": [
            {"object": o, "canonical": c.decode("utf-8"), "leaf_hash": b64encode(leaf_hash(c))}
            for o, c in zip(OBJECTS, canonical, strict=True)
        ],
        "roots": roots,
        "stored_hashes": [
            {
                "index": i,
                "level": split_stored_hash_index(i)[0],
                "n": split_stored_hash_index(i)[1],
                "hash": b64encode(h),
            }
            for i, h in enumerate(log.hashes[: stored_hash_count(size)])
        ],
        "inclusion": inclusion,
        "consistency": consistency,
        "tiles": [
            {"path": Tile(0, 0, 7).path(), "data": b64encode(read_tile_data(Tile(0, 0, 7), log))},
            {"path": Tile(-1, 0, 7).path(), "data": b64encode(format_entry_bundle(canonical))},
        ],
        "mutations": mutations,
    }


def checkpoint_vectors(merkle: dict) -> dict:
    log = MemoryLog.of([canonical_bytes(o) for o in OBJECTS])
    checkpoint = Checkpoint(LOG.name, 7, tree_hash(7, log))
    body = format_checkpoint(checkpoint)
    signed = sign_checkpoint(checkpoint, LOG)
    cosignature = cosign(body, WITNESS, COSIGN_TIME)
    cosigned = format_note(body, [*parse_note(signed).unverified_signatures, cosignature])
    receipt = format_receipt(Receipt(3, tuple(prove_record(7, 3, log)), cosigned))
    sig_line = signed.split("\n\n")[1]
    return {
        "description": (
            "A C2SP tlog-checkpoint for the 7-leaf tree of merkle-7.json, signed (C2SP signed-note, Ed25519) "
            "by a TEST log key, cosigned (C2SP tlog-cosignature/v1) by a TEST witness key, and a C2SP "
            "tlog-proof receipt for leaf 3. The private keys are derived from public strings and are NOT "
            "SECRET: never use them outside tests. Mutations with want_err true must be rejected."
        ),
        "log_skey": format_signer_key(LOG),
        "log_vkey": format_verifier_key(LOG.verifier_key()),
        "witness_skey": format_signer_key(WITNESS),
        "witness_vkey": format_verifier_key(WITNESS.verifier_key()),
        "checkpoint": {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "root_hash": merkle["roots"]["7"],
        },
        "checkpoint_text": body,
        "signed_checkpoint": signed,
        "cosignature_time": COSIGN_TIME,
        "cosigned_message": f"cosignature/v1\ntime {COSIGN_TIME}\n" + body,
        "cosigned_checkpoint": cosigned,
        "receipt_leaf_index": 3,
        "receipt_leaf_hash": merkle["leaves"][3]["leaf_hash"],
        "receipt": receipt,
        "mutations": [
            {
                "description": "checkpoint: size with a leading zero, validly signed",
                "note": sign_note(body.replace("\n7\n", "\n07\n"), LOG),
                "want_err": True,
            },
            {
                "description": "checkpoint: size changed (signature no longer valid)",
                "note": signed.replace("\n7\n", "\n8\n"),
                "want_err": True,
            },
            {
                "description": "checkpoint: root hash without padding, validly signed",
                "note": sign_note(body.replace("=\n", "\n"), LOG),
                "want_err": True,
            },
            {
                "description": "checkpoint: origin of another log, validly signed",
                "note": sign_note(body.replace("farmtrace.example/log", "other.example/log"), LOG),
                "want_err": True,
            },
            {
                "description": "note: ASCII hyphen instead of em dash",
                "note": signed.replace("\u2014", "-"),
                "want_err": True,
            },
            {
                "description": "note: no blank line before the signature",
                "note": signed.replace("\n\n", "\n"),
                "want_err": True,
            },
            {
                "description": "note: text without its final newline (blank line missing)",
                "note": body[:-1] + "\n" + sig_line,
                "want_err": True,
            },
            {
                "description": "note: signature line without final newline",
                "note": signed[:-1],
                "want_err": True,
            },
            {
                "description": "note: CRLF line endings",
                "note": signed.replace("\n", "\r\n"),
                "want_err": True,
            },
            {
                "description": "note: only the witness signed",
                "note": format_note(body, [cosignature]),
                "want_err": True,
            },
            {
                "description": "note: unknown extra signature is ignored",
                "note": signed + "\u2014 someone.example " + b64encode(bytes(68)) + "\n",
                "want_err": False,
            },
        ],
    }


CANONICAL_CASES = [
    (
        "key order is by UTF-16 code units",
        '{"\u20ac":1,"\U0001f600":2,"\u00f6":3,"a":4,"B":5}',
        '{"B":5,"a":4,"\u00f6":3,"\u20ac":1,"\U0001f600":2}',
    ),
    (
        "whitespace removed, non-ASCII kept as UTF-8",
        '{ "产地" : "江西 赣州" , "n" : [ 1 , -0 , 0 ] }',
        '{"n":[1,0,0],"产地":"江西 赣州"}',
    ),
    (
        "escapes: only the required ones, lower-case hex",
        '["\\u00e9\\/\\t\\u001F\\"\\\\"]',
        '["\u00e9/\\t\\u001f\\"\\\\"]',
    ),
    ("largest safe integers", "[9007199254740991,-9007199254740991]", "[9007199254740991,-9007199254740991]"),
]
CANONICAL_ERRORS = [
    ("a float", '{"payload":{"dose":1.5}}', "has a fraction or exponent"),
    ("an exponent", "[1e2]", "has a fraction or exponent"),
    ("NaN", "[NaN]", "NaN is not a JSON number"),
    ("Infinity", "[Infinity]", "Infinity is not a JSON number"),
    ("duplicate key", '{"a":1,"a":1}', "duplicate object key 'a'"),
    (
        "integer beyond 2**53-1",
        '{"payload":{"count":9007199254740992}}',
        "payload.count: integer 9007199254740992 is outside the I-JSON safe range",
    ),
    ("lone surrogate escape", '{"s":"\\udc00"}', "s: string contains U+DC00"),
    ("trailing comma", "[1,]", "JSON input: Expecting value"),
]


def canonical_vectors() -> dict:
    cases = [
        {
            "description": d,
            "input": i,
            "canonical": canonical_bytes(json.loads(i)).decode("utf-8"),
            "want_err": False,
        }
        for d, i, _ in CANONICAL_CASES
    ]
    for (_, _, expected), case in zip(CANONICAL_CASES, cases, strict=True):
        assert case["canonical"] == expected, case
    cases += [
        {"description": d, "input": i, "error_contains": e, "want_err": True} for d, i, e in CANONICAL_ERRORS
    ]
    cases.append(
        {
            "description": "invalid UTF-8 (given as hex)",
            "input_hex": "5b22ff225d",
            "error_contains": "not valid UTF-8 at byte 2",
            "want_err": True,
        }
    )
    return {
        "description": (
            "Canonical JSON (RFC 8785 JCS over the I-JSON subset, integers only): input JSON text -> canonical "
            "UTF-8 text, or want_err true with the error text the implementation gives."
        ),
        "cases": cases,
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    merkle = merkle_vectors()
    files = {
        "merkle-7.json": merkle,
        "checkpoint.json": checkpoint_vectors(merkle),
        "canonical.json": canonical_vectors(),
    }
    for name, data in files.items():
        (OUT / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
