"""An in-memory tlog for tests: stored hashes in a list, reads counted."""

from __future__ import annotations

from farmtrace.ledger.hashing import leaf_hash
from farmtrace.ledger.tlog import stored_hash_count, stored_hashes_for_record_hash


class MemoryLog:
    """Appends records one at a time through tlog.stored_hashes, as the storage will."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0
        self.calls: list[list[int]] = []

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        self.calls.append(list(indexes))
        return [self.hashes[i] for i in indexes]

    def append_hash(self, record_hash: bytes) -> None:
        new = stored_hashes_for_record_hash(self.size, record_hash, self)
        assert len(self.hashes) == stored_hash_count(self.size)
        self.hashes.extend(new)
        self.size += 1

    def append(self, data: bytes) -> None:
        self.append_hash(leaf_hash(data))

    @classmethod
    def of(cls, records: list[bytes]) -> MemoryLog:
        log = cls()
        for record in records:
            log.append(record)
        log.calls.clear()
        return log
