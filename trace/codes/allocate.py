"""The code-number counter: contiguous ranges of n, handed out once, never reused.

One row (codes_allocator, id 1) holds the next unused n. Issuance locks it (SELECT ... FOR
UPDATE on PostgreSQL; on SQLite the caller's session must be a write session, whose BEGIN
IMMEDIATE takes the database's write lock), reads next_n, and moves it past the range: one
UPDATE whatever the count. Concurrent issuers wait for each other only for this short
transaction. A range never spans two serial keys; when the current key's block has too
little room left, the counter jumps to the next key's block and the rest is skipped (at
most one request's worth of numbers out of 2^26).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.trace.codes.keys import SerialKeyStore, SerialKeyUnusable
from farmtrace.trace.codes.models import Allocator, SerialKeyRow
from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.serials import CODES_PER_KEY, COUNTER_BITS, MAX_KEY_ID, SerialKey, key_id_of

ALLOCATOR_ID: Final = 1


@dataclass(frozen=True)
class Allocation:
    key: SerialKey
    first_n: int
    count: int


def allocate(session: Session, keys: SerialKeyStore, count: int) -> Allocation:
    """Reserve `count` consecutive code numbers under one serial key (creating it if new)."""
    if not 1 <= count <= CODES_PER_KEY:
        raise InvalidInput("count", f"Invalid count {count}: Expected 1 to {CODES_PER_KEY}.")
    row = session.scalars(select(Allocator).where(Allocator.id == ALLOCATOR_ID).with_for_update()).first()
    if row is None:
        # The migration inserts the row; a missing row means a database not migrated to 0003.
        raise InvalidInput("allocator", "The code allocator row is missing: run `farmtrace db upgrade`.")
    n = row.next_n
    while True:
        key_id = key_id_of(n)
        if key_id > MAX_KEY_ID:
            raise SerialKeyUnusable(
                "key_id", f"All {MAX_KEY_ID + 1} serial keys are used up: no code numbers are left."
            )
        block_end = (key_id + 1) << COUNTER_BITS
        key_row = session.get(SerialKeyRow, key_id)
        retired = key_row is not None and key_row.retired_at is not None
        if not retired and n + count <= block_end:
            break
        n = block_end  # skip the rest of this block: it is retired or too small for the range
    key = keys.get(key_id) if key_row is not None else keys.create(key_id)
    assert key is not None
    row.next_n = n + count
    session.flush()
    return Allocation(key, n, count)
