"""Identifiers the service mints: batches, lineage operations, recalls, API tokens.

A batch id is "B" and 12 Crockford base32 characters (60 random bits): short enough to read
aloud, a valid ledger chain id and a valid GS1 AI (10) lot. When the caller supplies an
idempotency key, the id is derived from it, so a retried registration names the same batch.
"""

from __future__ import annotations

import hashlib
import secrets

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_CHARS = 12


def _encode(number: int) -> str:
    out = []
    for _ in range(ID_CHARS):
        number, digit = divmod(number, 32)
        out.append(CROCKFORD[digit])
    return "".join(reversed(out))


def new_id(prefix: str, client_id: str | None = None) -> str:
    """prefix + 12 Crockford characters, random, or derived from `client_id` when given."""
    if client_id is None:
        number = secrets.randbits(5 * ID_CHARS)
    else:
        digest = hashlib.sha256(f"farmtrace/{prefix}/{client_id}".encode()).digest()
        number = int.from_bytes(digest[:8], "big") >> (64 - 5 * ID_CHARS)
    return prefix + _encode(number)


def new_batch_id(client_id: str | None = None) -> str:
    return new_id("B", client_id)


def new_operation_id(client_id: str | None = None) -> str:
    return new_id("L", client_id)


def new_recall_id(client_id: str | None = None) -> str:
    return new_id("R", client_id)


def new_client_id(kind: str) -> str:
    """An idempotency key for callers that did not send one (a retry then records twice)."""
    return f"{kind}:{secrets.token_hex(12)}"
