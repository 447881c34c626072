"""Exceptions of the JSON API itself (authentication, scopes, idempotency, paging).

Domain and ledger errors are raised by farmtrace.trace and farmtrace.ledger; these are the
few things only the HTTP layer can get wrong. farmtrace.web.problems maps all of them.
"""

from __future__ import annotations


class ApiError(Exception):
    """Root of the errors the API layer raises; `field` names the input when there is one."""

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthenticated(ApiError):
    """No bearer token, or one that is unknown, revoked or expired. Says nothing more."""

    status = 401
    title = "Authentication required"
    slug = "unauthenticated"


class ScopeMissing(ApiError):
    """The token is valid but does not hold the scope the operation needs."""

    status = 403
    title = "Scope missing"
    slug = "scope-missing"

    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message, "Authorization")
        self.scope = scope


class IdempotencyKeyInvalid(ApiError):
    status = 400
    title = "Malformed Idempotency-Key"
    slug = "idempotency-key-invalid"


class IdempotencyKeyReused(ApiError):
    """The key was used before (within its lifetime) for a different request."""

    status = 409
    title = "Idempotency-Key reused for a different request"
    slug = "idempotency-key-reused"


class SecretShownOnce(ApiError):
    """A retry of a request whose response showed a secret (a new API token): the secret is
    not kept, so the retry says what was made instead of showing it again."""

    status = 409
    title = "Secret shown once"
    slug = "secret-shown-once"


class IdempotencyInProgress(ApiError):
    """Another request with this key has not finished yet (only when waiting timed out)."""

    status = 409
    title = "A request with this Idempotency-Key is in progress"
    slug = "idempotency-in-progress"


class BadCursor(ApiError):
    status = 400
    title = "Malformed page cursor"
    slug = "bad-cursor"


class NotFoundHere(ApiError):
    """The resource named by the request path does not exist."""

    status = 404
    title = "Not found"
    slug = "not-found"


def refuse_nul_characters() -> None:
    """A NUL in the path or query names nothing, and PostgreSQL refuses it in any text."""
    from flask import request

    if "\x00" in request.path:
        raise ApiError("path: contains a NUL character", "path")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise ApiError(f"{name.replace(chr(0), '')}: contains a NUL character", name.replace("\x00", ""))
