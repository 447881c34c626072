"""Checks of the Merkle log as stored: leaves, stored hashes, checkpoints, trusted checkpoints.

`TreePass` reads the leaves in order and recomputes every stored hash from the entries'
hashes, keeping only the roots of the complete subtrees so far (O(log n) hashes, so a tree
of any size is checked in bounded memory), compares them with merkle_hash, and keeps the
recomputed root at every size a checkpoint (stored or trusted) names. Checkpoints are
then compared with those roots, and consecutive ones are tied by consistency proofs built
from the stored hashes, as a client holding the older one would check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from farmtrace.ledger.checkpoint import Checkpoint, open_checkpoint
from farmtrace.ledger.encoding import b64encode
from farmtrace.ledger.errors import LedgerError, SignatureError, TreeError
from farmtrace.ledger.hashing import EMPTY_ROOT, NODE_PREFIX, node_hash
from farmtrace.ledger.keyhistory import KeyRecord
from farmtrace.ledger.models import Checkpoint as CheckpointRow
from farmtrace.ledger.models import EntryRow, MerkleHash, MerkleLeaf
from farmtrace.ledger.note import VerifierKey
from farmtrace.ledger.proof import verify_consistency
from farmtrace.ledger.tlog import (
    prove_tree,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    tree_proof_indexes,
)
from farmtrace.ledger.verify_report import Problem, Problems, checkpoint_problem, leaf_problem

LEAF_CHUNK = 8192
_IN_LIMIT = 500  # hashes per IN (...) query: far below SQLite's and PostgreSQL's limits


class _DictReader:
    """tlog.HashReader over a dict; asking for anything else is a bug in the caller."""

    def __init__(self, hashes: dict[int, bytes]) -> None:
        self.hashes = hashes

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        try:
            return [self.hashes[i] for i in indexes]
        except KeyError as exc:  # pragma: no cover - index math guarantees presence
            raise TreeError(f"verify: stored hash {exc.args[0]} not at hand") from None


def read_stored(conn: Connection, indexes: Iterable[int]) -> dict[int, bytes]:
    """The merkle_hash rows at `indexes` (absent ones are simply not in the result)."""
    wanted = sorted(set(indexes))
    found: dict[int, bytes] = {}
    for start in range(0, len(wanted), _IN_LIMIT):
        part = wanted[start : start + _IN_LIMIT]
        rows = conn.execute(select(MerkleHash.idx, MerkleHash.hash).where(MerkleHash.idx.in_(part)))
        found.update((idx, bytes(h)) for idx, h in rows)
    return found


class Frontier:
    """The roots of the complete subtrees of a tree's first `size` leaves, largest
    (leftmost) first: one per set bit of size, O(log n) hashes whatever the size."""

    def __init__(self) -> None:
        self.size = 0
        self.subtrees: list[bytes] = []

    def append(self, leaf_hashes: Sequence[bytes]) -> list[bytes]:
        """Add leaves; return the hashes tlog stores for them, in stored-index order (what
        tlog.stored_hashes_for_batch returns, without reading anything).

        Appending leaf i stores its hash, then one node per trailing 1 bit of i: each
        completes a subtree with the newest complete subtree of the same height, which is
        the last of `subtrees` (RFC 6962 §2.1 interior node hash).
        """
        computed: list[bytes] = []
        subtrees = self.subtrees
        sha256 = hashlib.sha256
        i = self.size
        for h in leaf_hashes:
            computed.append(h)
            for _ in range((i ^ (i + 1)).bit_length() - 1):
                h = sha256(NODE_PREFIX + subtrees.pop() + h).digest()
                computed.append(h)
            subtrees.append(h)
            i += 1
        self.size = i
        return computed

    def root(self) -> bytes:
        """RFC 6962 Merkle tree hash of the first `size` leaves: the complete subtrees
        joined from the right, as tlog.tree_hash does from their stored hashes."""
        if not self.subtrees:
            return EMPTY_ROOT
        root = self.subtrees[-1]
        for left in reversed(self.subtrees[:-1]):
            root = node_hash(left, root)
        return root


class TreePass:
    """Recompute the tree from the leaves, a chunk per `step()`, recording into `problems`."""

    def __init__(self, conn: Connection, wanted_sizes: Iterable[int], problems: Problems) -> None:
        self.conn = conn
        self.problems = problems
        self.stops = sorted({size for size in wanted_sizes if size > 0})
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT}
        self.size = 0  # leaves recomputed so far
        self.leaf_rows = 0
        self.frontier = Frontier()
        self._stop = 0  # index into self.stops
        last = conn.scalar(select(func.max(MerkleLeaf.leaf_index)))
        self._end = 0 if last is None else last + 1
        self._next_leaf = 0  # next leaf index to read
        self._done = False

    def step(self) -> bool:
        """Process one chunk of leaves; False when the whole tree has been processed."""
        if self._done:
            return False
        if self._next_leaf >= self._end:
            self._finish()
            return False
        start = self._next_leaf
        rows = self.conn.execute(
            select(MerkleLeaf.leaf_index, EntryRow.entry_hash)
            .outerjoin(EntryRow, EntryRow.id == MerkleLeaf.entry_id)
            .where(MerkleLeaf.leaf_index >= start, MerkleLeaf.leaf_index < start + LEAF_CHUNK)
            .order_by(MerkleLeaf.leaf_index)
        ).all()
        self._next_leaf = start + LEAF_CHUNK
        self.leaf_rows += len(rows)
        stop = min(self._next_leaf, self._end)
        hashes = [entry_hash for _leaf, entry_hash in rows]
        if len(rows) == stop - start and None not in hashes:
            # The usual case. leaf_index is the primary key and every row is in
            # [start, stop): as many rows as indexes means each leaf is there, in order.
            self._absorb_whole([bytes(h) for h in hashes])
            return True
        leaves: list[tuple[int, bytes | None]] = []
        expected = start
        for leaf_index, entry_hash in rows:
            leaves.extend((missing, None) for missing in range(expected, leaf_index))
            leaves.append((leaf_index, None if entry_hash is None else bytes(entry_hash)))
            expected = leaf_index + 1
        # Leaves absent at the end of this chunk's range (rows cannot tell about them).
        leaves.extend((missing, None) for missing in range(expected, stop))
        if not self._absorb(leaves):
            self._done = True
            self._finish()
            return False
        return True

    def run(self) -> None:
        while self.step():
            pass

    def _absorb_whole(self, leaf_hashes: list[bytes]) -> None:
        """Add the next leaves, none missing, flushing at every wanted size."""
        taken = 0
        while taken < len(leaf_hashes):
            take = len(leaf_hashes) - taken
            if self._stop < len(self.stops):
                take = min(take, self.stops[self._stop] - self.size)
            self._flush(leaf_hashes[taken : taken + take])
            taken += take

    def _absorb(self, leaves: list[tuple[int, bytes | None]]) -> bool:
        """Add leaves in order, flushing at every wanted size; False if the tree breaks off."""
        missing = [leaf for leaf, entry_hash in leaves if entry_hash is None]
        stand_ins = read_stored(self.conn, (stored_hash_index(0, leaf) for leaf in missing))
        pending: list[bytes] = []
        for leaf, entry_hash in leaves:
            if entry_hash is None:
                stored = stand_ins.get(stored_hash_index(0, leaf))
                if stored is None:
                    self.problems.add(
                        "tree", leaf_problem(leaf, "missing, and merkle_hash holds no hash for it either")
                    )
                    self._flush(pending)
                    return False
                # Carry on with the stored leaf hash so that one hole is one problem.
                self.problems.add(
                    "tree",
                    leaf_problem(
                        leaf, f"missing: no entry is leaf {leaf} (its stored hash is {b64encode(stored)})"
                    ),
                )
                entry_hash = stored
            pending.append(entry_hash)
            if self._stop < len(self.stops) and self.size + len(pending) == self.stops[self._stop]:
                self._flush(pending)
                pending = []
        self._flush(pending)
        return True

    def _flush(self, leaf_hashes: list[bytes]) -> None:
        """Recompute the stored hashes of the next leaves and compare them with merkle_hash."""
        if not leaf_hashes:
            return
        first = stored_hash_count(self.size)
        computed = self.frontier.append(leaf_hashes)
        self.size = self.frontier.size
        # idx is the primary key: as many rows as hashes in [first, first + n) means each
        # index is there once, and in idx order they line up with `computed`.
        stored = self.conn.scalars(
            select(MerkleHash.hash)
            .where(MerkleHash.idx >= first, MerkleHash.idx < first + len(computed))
            .order_by(MerkleHash.idx)
        ).all()
        if [bytes(h) for h in stored] != computed:
            self._report_stored(first, computed, read_stored(self.conn, range(first, first + len(computed))))
        while self._stop < len(self.stops) and self.stops[self._stop] <= self.size:
            if self.stops[self._stop] == self.size:
                self.roots[self.size] = self.frontier.root()
            self._stop += 1

    def _report_stored(self, first: int, computed: list[bytes], stored: dict[int, bytes]) -> None:
        bad_leaves: list[int] = []
        for index, want in enumerate(computed, start=first):
            have = stored.get(index)
            if have == want:
                continue
            level, position = split_stored_hash_index(index)
            low, high = position << level, (position + 1) << level
            if level == 0:
                bad_leaves.append(low)
                found = "no hash" if have is None else f"hash {b64encode(have)}"
                batch, seq = self._entry_at(low)
                what = f"merkle_hash holds {found} for it, but the entry's hash is {b64encode(want)}"
                self.problems.add("tree", leaf_problem(low, what, batch, seq))
            elif not any(low <= leaf < high for leaf in bad_leaves):
                found = "missing" if have is None else b64encode(have)
                what = f"(level {level}, leaves {low}..{high - 1}) is {found}, but the leaves give {b64encode(want)}"
                self.problems.add("tree", Problem(f"stored hash {index}", what, leaf=low))

    def _entry_at(self, leaf: int) -> tuple[str | None, int | None]:
        row = self.conn.execute(
            select(EntryRow.batch, EntryRow.seq)
            .join(MerkleLeaf, MerkleLeaf.entry_id == EntryRow.id)
            .where(MerkleLeaf.leaf_index == leaf)
        ).first()
        return (None, None) if row is None else (row.batch, row.seq)

    def _finish(self) -> None:
        self._done = True
        beyond = stored_hash_count(self.size)
        count, lowest = self.conn.execute(
            select(func.count(), func.min(MerkleHash.idx)).where(MerkleHash.idx >= beyond)
        ).one()
        if count:
            level, position = split_stored_hash_index(lowest)
            self.problems.add(
                "tree",
                leaf_problem(
                    position << level,
                    f"missing: merkle_hash holds {_count(count, 'hash', 'hashes')} beyond the "
                    f"{_count(self.size, 'leaf', 'leaves')} of the tree, "
                    f"from stored index {lowest}",
                ),
            )


def open_with_log_keys(note: str, log_keys: Sequence[KeyRecord], origin: str | None) -> Checkpoint:
    """The checkpoint of a note signed by any log key of the key history, or raise."""
    name = note.split("\n", 1)[0] if origin is None else origin
    failures = []
    for record in log_keys:
        try:
            checkpoint, _note = open_checkpoint(note, VerifierKey(name, record.public_key), origin=origin)
            return checkpoint
        except LedgerError as exc:
            failures.append(f"{record.key_id}: {exc}")
    if not failures:
        raise SignatureError("no log key is registered in the key history")
    raise SignatureError(f"not signed by a registered log key ({'; '.join(failures)})")


@dataclass(frozen=True)
class CheckpointSummary:
    count: int
    origin: str | None
    latest: Checkpoint | None


def check_checkpoints(
    conn: Connection,
    log_keys: Sequence[KeyRecord],
    origin: str | None,
    tree: TreePass,
    problems: Problems,
    batch_rows: int = 200,
) -> CheckpointSummary:
    """Every stored checkpoint: signed by the log, its columns, its root, consistency."""
    count = 0
    expected_origin = origin
    good_below = 0  # the largest size whose signed root matched the recomputed one
    previous: Checkpoint | None = None
    pairs: list[tuple[Checkpoint, Checkpoint]] = []
    result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(
        select(CheckpointRow.tree_size, CheckpointRow.root_hash, CheckpointRow.note).order_by(
            CheckpointRow.tree_size
        )
    )
    for size, root_hash, note in result:
        count += 1
        try:
            checkpoint = open_with_log_keys(note, log_keys, expected_origin)
        except LedgerError as exc:
            problems.add("checkpoints", checkpoint_problem(size, str(exc)))
            continue
        if expected_origin is None:
            expected_origin = checkpoint.origin
        if checkpoint.size != size or checkpoint.root_hash != bytes(root_hash):
            problems.add(
                "checkpoints",
                checkpoint_problem(
                    size,
                    f"the row says size {size} root {b64encode(bytes(root_hash))}, its signed note says size "
                    f"{checkpoint.size} root {b64encode(checkpoint.root_hash)}",
                ),
            )
            continue
        if not _matches_tree(checkpoint, tree, good_below, problems):
            continue
        good_below = size
        if previous is not None and previous.size > 0:
            pairs.append((previous, checkpoint))
            if len(pairs) >= batch_rows:
                _check_consistency(conn, pairs, problems)
                pairs = []
        previous = checkpoint
    _check_consistency(conn, pairs, problems)
    return CheckpointSummary(count, expected_origin, previous)


def _matches_tree(checkpoint: Checkpoint, tree: TreePass, good_below: int, problems: Problems) -> bool:
    size = checkpoint.size
    if size > tree.size:
        problems.add(
            "checkpoints",
            checkpoint_problem(
                size,
                f"covers {_count(size, 'leaf', 'leaves')}, but the stored tree has {tree.size}: "
                f"{_missing(tree.size, size)}",
                leaf=tree.size,
            ),
        )
        return False
    computed = tree.roots[size]
    if computed != checkpoint.root_hash:
        problems.add(
            "checkpoints",
            checkpoint_problem(
                size,
                f"signed root {b64encode(checkpoint.root_hash)}, but the stored leaves 0..{size - 1} give "
                f"{b64encode(computed)}: a leaf in {good_below}..{size - 1} differs from what was signed",
                leaf=good_below,
            ),
        )
        return False
    return True


def _check_consistency(
    conn: Connection,
    pairs: list[tuple[Checkpoint, Checkpoint]],
    problems: Problems,
    phase: str = "checkpoints",
) -> None:
    """Consistency proofs from stored hashes between each (older, newer) pair, verified."""
    if not pairs:
        return
    reader = _DictReader(
        read_stored(
            conn,
            (i for old, new in pairs if old.size < new.size for i in tree_proof_indexes(new.size, old.size)),
        )
    )
    for old, new in pairs:
        try:
            proof = prove_tree(new.size, old.size, reader)
            verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
        except LedgerError as exc:
            where = checkpoint_problem(new.size, f"not consistent with checkpoint {old.size}: {exc}")
            problems.add(phase, where)


def check_trusted(
    conn: Connection,
    trusted: Sequence[tuple[int, Checkpoint]],
    tree: TreePass,
    latest: Checkpoint | None,
    problems: Problems,
) -> None:
    """Checkpoints kept by others must be prefixes of the stored tree: catches truncation and forks."""
    for number, checkpoint in trusted:
        where = f"trusted checkpoint #{number + 1} (size {checkpoint.size})"
        size = checkpoint.size
        if size > tree.size:
            problems.add(
                "trusted",
                Problem(
                    where,
                    f"the stored tree has only {tree.size} leaves: the log was truncated "
                    f"({_missing(tree.size, size)})",
                    leaf=tree.size,
                ),
            )
            continue
        if tree.roots[size] != checkpoint.root_hash:
            problems.add(
                "trusted",
                Problem(
                    where,
                    f"signed root {b64encode(checkpoint.root_hash)}, but the stored leaves 0..{size - 1} give "
                    f"{b64encode(tree.roots[size])}: the log has forked from what was published",
                ),
            )
            continue
        if latest is not None and 0 < size <= latest.size:
            try:
                reader = _DictReader(read_stored(conn, tree_proof_indexes(latest.size, size)))
                proof = prove_tree(latest.size, size, reader)
                verify_consistency(size, latest.size, proof, checkpoint.root_hash, latest.root_hash)
            except LedgerError as exc:
                problems.add(
                    "trusted", Problem(where, f"not consistent with checkpoint {latest.size}: {exc}")
                )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _missing(low: int, high: int) -> str:
    """Leaves low..high-1 are missing, in words."""
    return f"leaf {low} is missing" if high - low == 1 else f"leaves {low}..{high - 1} are missing"
