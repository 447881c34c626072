"""Verification of a proof bundle (see bundle.py) against a pinned root public key.

The same steps run in the scan page's script (web/static/verify.js), so a consumer's phone
and `farmtrace verify-url` reach the same verdict from the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from farmtrace.ledger.checkpoint import open_checkpoint
from farmtrace.ledger.encoding import b64decode, decode_hash
from farmtrace.ledger.entry import KEYS_CHAIN, Entry, make_entry
from farmtrace.ledger.errors import FormatError, KeyNotUsable, VerificationError
from farmtrace.ledger.keyhistory import KEY_REGISTERED, KEY_REVOKED, KeyRecord, parse_registration
from farmtrace.ledger.keys import key_id_for, verify_signature
from farmtrace.ledger.note import VerifierKey
from farmtrace.ledger.proof import verify_inclusion


@dataclass(frozen=True)
class BundleVerdict:
    batch: str
    entries: int  # entries whose chain links and signatures verified
    included: int  # of those, how many are covered by the checkpoint
    tree_size: int
    log_origin: str


def verify_bundle(bundle: dict[str, Any], root_public_key: bytes, origin: str | None = None) -> BundleVerdict:
    """Return the verdict if every check holds; raise VerificationError naming the first failure."""
    try:
        return _verify(bundle, root_public_key, origin)
    except (KeyError, TypeError, AttributeError) as exc:
        raise VerificationError(f"proof bundle: malformed ({type(exc).__name__}: {exc})") from None
    except (FormatError, KeyNotUsable) as exc:
        raise VerificationError(f"proof bundle: {exc}") from None


def _verify(bundle: dict[str, Any], root_public_key: bytes, origin: str | None) -> BundleVerdict:
    if bundle.get("version") != 1:
        raise VerificationError(f"proof bundle: unknown version {bundle.get('version')!r}")
    root_id = key_id_for(root_public_key)
    keys: dict[str, KeyRecord] = {}
    key_entries = [
        (make_entry(item["entry"]), b64decode(item["signature"], "keys[].signature"), item)
        for item in bundle["keys"]
    ]
    # 1. Key registrations and revocations, each signed by the pinned root key.
    for entry, signature, _item in key_entries:
        where = f"keys/{entry.seq}"
        if entry.batch != KEYS_CHAIN:
            raise VerificationError(f"{where}: not an entry of the key chain")
        if entry.key_id != root_id:
            raise VerificationError(
                f"{where}: signed by {entry.key_id}, not by the pinned root key {root_id}"
            )
        _check_signature(where, root_public_key, entry, signature)
        if entry.type == KEY_REGISTERED:
            record = parse_registration(entry)
            keys[record.key_id] = record
        elif entry.type == KEY_REVOKED:
            key_id = entry.payload["key_id"]
            if key_id in keys:
                old = keys[key_id]
                keys[key_id] = KeyRecord(
                    old.key_id, old.org, old.role, old.public_key, old.valid_from, entry.recorded_at
                )
        else:
            raise VerificationError(f"{where}: unexpected key entry type {entry.type!r}")
    # 2. The checkpoint, signed by the log key that the root registered.
    log_keys = [record for record in keys.values() if record.role == "log"]
    if not log_keys:
        raise VerificationError("proof bundle: no log key registration among the key entries")
    note_text = bundle["checkpoint"]
    checkpoint = None
    failures = []
    for record in log_keys:
        name = note_text.split("\n", 1)[0] if origin is None else origin
        try:
            checkpoint, _note = open_checkpoint(
                note_text, VerifierKey(name, record.public_key), origin=origin
            )
            break
        except VerificationError as exc:
            failures.append(str(exc))
    if checkpoint is None:
        raise VerificationError(f"checkpoint: not signed by a registered log key ({'; '.join(failures)})")
    # 3. Every key entry is in the log.
    for entry, _signature, item in key_entries:
        proof = item.get("proof")
        if proof is None:
            raise VerificationError(f"keys/{entry.seq}: not yet covered by the checkpoint")
        _check_inclusion(f"keys/{entry.seq}", entry, proof, checkpoint.size, checkpoint.root_hash)
    # 4. The batch chain: links, signatures by keys valid at the recorded time.
    entries: list[Entry] = []
    previous: Entry | None = None
    for position, item in enumerate(bundle["entries"]):
        entry = make_entry(item["entry"])
        where = f"{entry.batch}/{entry.seq}"
        if entry.batch != bundle["batch"]:
            raise VerificationError(f"{where}: belongs to another batch than {bundle['batch']}")
        if entry.seq != position:
            raise VerificationError(f"{where}: expected seq {position}; an entry is missing or out of order")
        expected_prev = None if previous is None else previous.hash
        if entry.prev != expected_prev:
            raise VerificationError(f"{where}: prev does not match the hash of entry {position - 1}")
        record = keys.get(entry.key_id)
        if record is None:
            raise VerificationError(
                f"{where}: signed by key {entry.key_id}, which the bundle does not register"
            )
        if record.org != entry.author or not record.valid_at(entry.recorded_at):
            raise VerificationError(
                f"{where}: key {entry.key_id} may not sign for {entry.author} at {entry.fields['recorded_at']}"
            )
        _check_signature(where, record.public_key, entry, b64decode(item["signature"], f"{where} signature"))
        entries.append(entry)
        previous = entry
    # 5. The latest integrated entry is in the checkpoint; the chain vouches for the ones before.
    included = 0
    head_proof = bundle.get("head_proof")
    if head_proof is not None:
        leaf_indexes = [item.get("leaf_index") for item in bundle["entries"]]
        head_position = max(
            i for i, leaf in enumerate(leaf_indexes) if leaf is not None and leaf < checkpoint.size
        )
        _check_inclusion(
            f"{bundle['batch']}/{head_position}",
            entries[head_position],
            head_proof,
            checkpoint.size,
            checkpoint.root_hash,
        )
        included = head_position + 1
    return BundleVerdict(bundle["batch"], len(entries), included, checkpoint.size, checkpoint.origin)


def _check_inclusion(where: str, entry: Entry, proof: dict[str, Any], size: int, root: bytes) -> None:
    if proof["tree_size"] != size:
        raise VerificationError(
            f"{where}: proof is for tree size {proof['tree_size']}, checkpoint has {size}"
        )
    hashes = [decode_hash(h, f"{where} proof") for h in proof["hashes"]]
    verify_inclusion(proof["leaf_index"], size, entry.hash, hashes, root)


def _check_signature(where: str, public_key: bytes, entry: Entry, signature: bytes) -> None:
    try:
        verify_signature(public_key, entry.signing_input(), signature)
    except VerificationError as exc:
        raise VerificationError(f"{where}: {exc}") from None
