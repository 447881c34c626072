"""Exceptions of farmtrace.ledger: one root, a few kinds callers may want to tell apart.

Verification fails closed: every `verify_*` function returns None or raises a
VerificationError. Malformed input (text, JSON, keys, paths) raises FormatError at the
point where it is parsed, so no ValueError or binascii.Error leaks out of this package.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by farmtrace.ledger."""


class FormatError(LedgerError):
    """Input text, bytes or JSON is malformed or not in canonical form."""


class TreeError(LedgerError):
    """Tree coordinates are out of range, or a hash reader returned the wrong data."""


class VerificationError(LedgerError):
    """A proof or signature did not verify."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof did not verify."""


class SignatureError(VerificationError):
    """A signed note, checkpoint or cosignature lacks a valid signature from a known key."""


class AppendError(LedgerError):
    """An entry was refused by the append path; nothing was stored."""


class NoSuchChain(AppendError):
    """The entry names a chain (batch) that was never opened."""


class ChainExists(AppendError):
    """A chain was opened twice."""


class ChainConflict(AppendError):
    """A self-signed entry's seq or prev does not continue the chain's current head."""


class IdempotencyConflict(AppendError):
    """An entry id was used before for different content."""


class KeyNotUsable(AppendError):
    """The signing key is unknown, not the author's, revoked, or not yet valid."""


class StoreVerificationError(VerificationError):
    """A store (or one batch of it) failed verification.

    `report` holds the counts of what was checked; `problems` lists what is wrong, the
    first bad item first (the message of this exception is that first problem).
    """

    def __init__(self, report: object, problems: list) -> None:  # list[verify.Problem]
        self.report = report
        self.problems = problems
        first = str(problems[0]) if problems else "verification failed"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(first + more)
