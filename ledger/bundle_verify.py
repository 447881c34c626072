"""Verification of a proof bundle (see bundle.py) against a pinned root public key.

The same steps run in the scan page's script (web/static/verify.js), so a consumer's phone
and `farmtrace verify-url` reach the same verdict, with the same message, from the same
bytes. docs/ledger-format.md ("Proof bundles") lists the steps; docs/verification.md says
what they prove.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from farmtrace.ledger.checkpoint import Checkpoint, open_checkpoint
from farmtrace.ledger.cosignature import verify_cosignature
from farmtrace.ledger.encoding import b64decode, decode_hash
from farmtrace.ledger.entry import KEYS_CHAIN, Entry, make_entry
from farmtrace.ledger.errors import FormatError, KeyNotUsable, SignatureError, VerificationError
from farmtrace.ledger.keyhistory import KEY_REGISTERED, KeyHistory, KeyRecord
from farmtrace.ledger.keys import key_id_for, verify_signature
from farmtrace.ledger.note import SIG_TYPE_COSIGNATURE_V1, VerifierKey, parse_note
from farmtrace.ledger.proof import verify_inclusion

BUNDLE_VERSION = 2
# Version 1 carried only the key entries the server picked, so a dropped revocation went
# unnoticed. Accepting it, even with a warning, would show a phone "verified" for a bundle
# that cannot show a revoked key; the server and its script are upgraded together.
VERSION_1_REFUSED = (
    "proof bundle: version 1 is no longer accepted: it carries only the key entries the server "
    "chose, so a left-out key revocation would go unnoticed; the server must send version 2"
)


@dataclass(frozen=True)
class BundleVerdict:
    batch: str
    entries: int  # entries whose chain links and signatures verified
    included: int  # of those, how many are covered by the checkpoint
    tree_size: int
    log_origin: str
    key_entries: int = 0  # the key chain shown, keys/0 onwards, chained and signed by the root
    keys_included: int = 0  # of those, how many are covered by the checkpoint
    cosigned_by: tuple[str, ...] = ()  # names of the pinned witnesses whose cosignature verified


@dataclass
class _KeyChain:
    history: KeyHistory
    entries: list[Entry]
    leaves: list[Any]  # each entry's leaf_index as the bundle states it
    registered_by: dict[str, int]  # key id -> seq of the entry that registered it


def verify_bundle(
    bundle: dict[str, Any],
    root_public_key: bytes,
    origin: str | None = None,
    witnesses: Sequence[VerifierKey] = (),
) -> BundleVerdict:
    """Return the verdict if every check holds; raise VerificationError naming the first failure.

    `witnesses` are cosigner keys (type 0x04) the caller pinned: the verdict names those whose
    cosignature on the checkpoint verifies; an invalid one by a pinned witness fails. How many
    are enough is the caller's policy.
    """
    for witness in witnesses:
        if witness.key_type != SIG_TYPE_COSIGNATURE_V1:
            raise VerificationError(
                f"witness key {witness.name}: expected a cosignature key (type 0x04), "
                f"found type 0x{witness.key_type:02x}"
            )
    try:
        return _verify(bundle, root_public_key, origin, witnesses)
    except (KeyError, TypeError, AttributeError) as exc:
        raise VerificationError(f"proof bundle: malformed ({type(exc).__name__}: {exc})") from None
    except (FormatError, KeyNotUsable) as exc:
        raise VerificationError(f"proof bundle: {exc}") from None


def _verify(
    bundle: dict[str, Any], root_public_key: bytes, origin: str | None, witnesses: Sequence[VerifierKey]
) -> BundleVerdict:
    version = bundle.get("version")
    if version == 1:
        raise VerificationError(VERSION_1_REFUSED)
    if version != BUNDLE_VERSION:
        raise VerificationError(f"proof bundle: unknown version {version!r}")
    # 1. The whole key chain: contiguous from keys/0, linked, each entry signed by the root.
    keys = _replay_key_chain(bundle["keys"], root_public_key)
    # 2. The checkpoint, signed by a log key that the root registered.
    checkpoint, log_key = _open_checkpoint(bundle["checkpoint"], keys.history, origin)
    cosigned_by = _check_cosignatures(bundle["checkpoint"], witnesses)
    # 3. The key chain's newest covered entry is in the log; the links vouch for the rest.
    keys_head = _check_key_chain_head(bundle, keys, checkpoint)
    if keys.registered_by[log_key.key_id] > keys_head:
        raise VerificationError(
            f"checkpoint: signed by log key {log_key.key_id}, whose registration "
            f"keys/{keys.registered_by[log_key.key_id]} is not in the checkpoint"
        )
    # 4. The batch chain: links, signatures by keys valid at the recorded time.
    entries = _check_batch_chain(bundle, keys.history)
    # 5. The batch's newest covered entry is in the log; the chain vouches for the ones before.
    included = _check_batch_head(bundle, entries, keys, keys_head, checkpoint)
    return BundleVerdict(
        bundle["batch"],
        len(entries),
        included,
        checkpoint.size,
        checkpoint.origin,
        len(keys.entries),
        keys_head + 1,
        cosigned_by,
    )


def _replay_key_chain(items: list[Any], root_public_key: bytes) -> _KeyChain:
    keys = _KeyChain(KeyHistory(root_public_key), [], [], {})
    root_id = key_id_for(root_public_key)
    for position, item in enumerate(items):
        entry = make_entry(item["entry"])
        where = f"keys/{entry.seq}"
        if entry.batch != KEYS_CHAIN:
            raise VerificationError(f"{where}: not an entry of the key chain")
        if entry.seq != position:
            raise VerificationError(
                f"{where}: expected seq {position}; a key entry is missing or out of order"
            )
        expected_prev = keys.entries[-1].hash if keys.entries else None
        if entry.prev != expected_prev:
            raise VerificationError(f"{where}: prev does not match the hash of keys/{position - 1}")
        if entry.key_id != root_id:
            raise VerificationError(
                f"{where}: signed by {entry.key_id}, not by the pinned root key {root_id}"
            )
        _check_signature(where, root_public_key, entry, b64decode(item["signature"], f"{where} signature"))
        record = keys.history.record(entry)
        if entry.type == KEY_REGISTERED:
            keys.registered_by[record.key_id] = entry.seq
        keys.entries.append(entry)
        keys.leaves.append(item.get("leaf_index"))
    return keys


def _open_checkpoint(note_text: str, history: KeyHistory, origin: str | None) -> tuple[Checkpoint, KeyRecord]:
    log_keys = [record for record in history.keys.values() if record.role == "log"]
    if not log_keys:
        raise VerificationError("proof bundle: no log key registration among the key entries")
    failures = []
    for record in log_keys:
        name = note_text.split("\n", 1)[0] if origin is None else origin
        try:
            checkpoint, _note = open_checkpoint(
                note_text, VerifierKey(name, record.public_key), origin=origin
            )
            return checkpoint, record
        except VerificationError as exc:
            failures.append(str(exc))
    raise VerificationError(f"checkpoint: not signed by a registered log key ({'; '.join(failures)})")


def _check_cosignatures(note_text: str, witnesses: Sequence[VerifierKey]) -> tuple[str, ...]:
    """Names of the pinned witnesses that cosigned the checkpoint (tlog-cosignature); the
    first line by each is checked, lines by other keys are ignored."""
    note = parse_note(note_text)
    cosigned = []
    for witness in witnesses:
        line = next(
            (s for s in note.unverified_signatures if (s.name, s.key_id) == (witness.name, witness.key_id)),
            None,
        )
        if line is None:
            continue
        try:
            verify_cosignature(note.text, line, witness)
        except (SignatureError, FormatError) as exc:
            raise VerificationError(f"checkpoint: {exc}") from None
        cosigned.append(witness.name)
    return tuple(cosigned)


def _check_key_chain_head(bundle: dict[str, Any], keys: _KeyChain, checkpoint: Checkpoint) -> int:
    """The position of the key chain's newest entry that the checkpoint covers, proven."""
    head = _newest_covered(keys.leaves, checkpoint.size)
    if head is None:
        raise VerificationError(
            f"keys: no key entry is in the checkpoint (no leaf_index below its size {checkpoint.size})"
        )
    proof = bundle.get("keys_head_proof")
    if proof is None:
        raise VerificationError(f"keys/{head}: keys_head_proof is missing")
    _check_inclusion(f"keys/{head}", keys.entries[head], keys.leaves[head], proof, checkpoint)
    return head


def _check_batch_chain(bundle: dict[str, Any], history: KeyHistory) -> list[Entry]:
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
        record = history.keys.get(entry.key_id)
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
    return entries


def _check_batch_head(
    bundle: dict[str, Any], entries: list[Entry], keys: _KeyChain, keys_head: int, checkpoint: Checkpoint
) -> int:
    """How many of the batch's entries the checkpoint covers (0 without a head proof)."""
    proof = bundle.get("head_proof")
    if proof is None:
        return 0
    batch = bundle["batch"]
    leaves = [item.get("leaf_index") for item in bundle["entries"]]
    head = _newest_covered(leaves, checkpoint.size)
    if head is None:
        raise VerificationError(
            f"{batch}: head_proof given, but no entry has a leaf_index below the checkpoint's size "
            f"{checkpoint.size}"
        )
    _check_inclusion(f"{batch}/{head}", entries[head], leaves[head], proof, checkpoint)
    # An entry in the log whose key's registration is not would let the log hide a key.
    for entry in entries[: head + 1]:
        registered = keys.registered_by[entry.key_id]
        if registered > keys_head:
            raise VerificationError(
                f"{batch}/{entry.seq}: is in the checkpoint, but the registration of its key "
                f"{entry.key_id} (keys/{registered}) is not"
            )
    return head + 1


def _newest_covered(leaves: list[Any], size: int) -> int | None:
    """The largest position whose leaf_index is an integer below `size`."""
    covered = [
        i
        for i, leaf in enumerate(leaves)
        if isinstance(leaf, int) and not isinstance(leaf, bool) and leaf < size
    ]
    return covered[-1] if covered else None


def _check_inclusion(
    where: str, entry: Entry, leaf_index: int, proof: dict[str, Any], checkpoint: Checkpoint
) -> None:
    if proof["tree_size"] != checkpoint.size:
        raise VerificationError(
            f"{where}: proof is for tree size {proof['tree_size']}, checkpoint has {checkpoint.size}"
        )
    if proof["leaf_index"] != leaf_index:
        raise VerificationError(
            f"{where}: proof is for leaf {proof['leaf_index']}, the entry's leaf_index is {leaf_index}"
        )
    hashes = [decode_hash(h, f"{where} proof") for h in proof["hashes"]]
    try:
        verify_inclusion(leaf_index, checkpoint.size, entry.hash, hashes, checkpoint.root_hash)
    except VerificationError as exc:
        raise VerificationError(f"{where}: {exc}") from None


def _check_signature(where: str, public_key: bytes, entry: Entry, signature: bytes) -> None:
    try:
        verify_signature(public_key, entry.signing_input(), signature)
    except VerificationError as exc:
        raise VerificationError(f"{where}: {exc}") from None
