"""What a store verification found: the problems (first bad item first) and the counts.

A Problem names where it is (batch/seq with its leaf index, a leaf, a checkpoint, a key)
and what is wrong, in one line: `B7K/12 (leaf 4031): signature does not verify with key
k1a2b...`. Problems are collected per phase and reported in a fixed order (key history,
entries by batch and seq, Merkle leaves and stored hashes, checkpoints, trusted
checkpoints), so the first problem is the same whichever order the work was done in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Enough to name the damage; a store with every entry broken must not fill memory.
MAX_PROBLEMS_PER_PHASE = 1000
PHASES = ("keys", "entries", "tree", "checkpoints", "trusted")


@dataclass(frozen=True)
class Problem:
    where: str
    what: str
    batch: str | None = None
    seq: int | None = None
    leaf: int | None = None
    checkpoint: int | None = None  # the tree size of the checkpoint concerned

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "message": str(self)}


def entry_problem(batch: str, seq: int, leaf: int | None, what: str) -> Problem:
    where = f"{batch}/{seq}" + ("" if leaf is None else f" (leaf {leaf})")
    return Problem(where, what, batch=batch, seq=seq, leaf=leaf)


def leaf_problem(leaf: int, what: str, batch: str | None = None, seq: int | None = None) -> Problem:
    where = f"leaf {leaf}" if batch is None else f"{batch}/{seq} (leaf {leaf})"
    return Problem(where, what, batch=batch, seq=seq, leaf=leaf)


def checkpoint_problem(size: int, what: str, leaf: int | None = None) -> Problem:
    return Problem(f"checkpoint {size}", what, checkpoint=size, leaf=leaf)


class Problems:
    """Problems per phase; one per location (the first found there), capped per phase."""

    def __init__(self) -> None:
        self.by_phase: dict[str, list[Problem]] = {phase: [] for phase in PHASES}
        self.dropped = 0
        self._seen: set[tuple[str, str]] = set()

    def add(self, phase: str, problem: Problem | None) -> None:
        if problem is None:
            return
        key = (phase, problem.where)
        if key in self._seen:
            return
        self._seen.add(key)
        found = self.by_phase[phase]
        if len(found) >= MAX_PROBLEMS_PER_PHASE:
            self.dropped += 1
            return
        found.append(problem)

    def all(self) -> list[Problem]:
        return [problem for phase in PHASES for problem in self.by_phase[phase]]

    def __bool__(self) -> bool:
        return any(self.by_phase.values())


@dataclass(frozen=True)
class VerifyReport:
    """Counts of what was checked. Returned only when everything held."""

    root_key_id: str
    log_origin: str | None
    entries: int
    batches: int
    signatures: int  # entry signatures verified
    leaves: int
    unsequenced: int  # entries waiting for the sequencer (not yet in any checkpoint)
    stored_hashes: int
    checkpoints: int  # signed checkpoints verified, roots recomputed, consecutive pairs consistent
    trusted_checkpoints: int
    tree_size: int  # of the latest checkpoint
    root_hash: str | None  # base64, of the latest checkpoint
    elapsed_s: float
    problems: tuple[Problem, ...] = field(default=())
    more_problems: int = 0  # problems beyond the per-phase cap, not listed

    @property
    def ok(self) -> bool:
        return not self.problems

    def entries_per_second(self) -> float:
        return self.entries / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["problems"] = [problem.to_json() for problem in self.problems]
        return data
