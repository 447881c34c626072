"""Idempotency-Key: a retried write returns the first response instead of acting twice.

Rural phones lose answers more often than requests: the request arrives, the write is
committed, and the response dies on the way back. So every write (POST, PUT, PATCH,
DELETE) accepts an `Idempotency-Key` header (1-100 of A-Z a-z 0-9 . _ : -, a UUID fits),
scoped to the token's organisation:

- first time: the request runs; if it succeeds (status < 400) its status, the headers that
  matter (STORED_HEADERS) and the body bytes are stored in api_idempotency in the same
  transaction as the write itself, so either both are committed or neither is;
- a retry with the same key and the same request (method, path, query and body; a JSON
  body is compared in RFC 8785 canonical form, so key order and whitespace do not matter)
  gets the stored response byte for byte, plus `Idempotent-Replayed: true`;
- the same key with a different request is a 409 problem (idempotency-key-reused);
- a failed request (status >= 400) stores nothing and recorded nothing: retrying it
  simply runs it again;
- two concurrent requests with one key: the second waits for the first (SQLite: the
  write lock taken at BEGIN; PostgreSQL: the primary key of the pending row), then replays
  its response, or runs itself if the first failed;
- a response that shows a secret (a new API token's) is not kept: in its place a 409
  problem (secret-shown-once) naming what was made is stored, so a retry neither makes a
  second token nor reads a live secret out of the database (`shows_secret`);
- keys expire IDEMPOTENCY_TTL after first use; expired rows are deleted now and then.
  This table is a cache of responses, not part of the record; the ledger's own entry ids
  (derived from the key by `client_id`) keep a retry after expiry from recording twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta

import rfc8785
from flask import Response, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from farmtrace.web.api.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    SecretShownOnce,
)
from farmtrace.web.api.models import IdempotencyRecord
from farmtrace.web.db import SAFE_METHODS, get_session

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_TTL = timedelta(hours=24)
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")
STORED_HEADERS = ("Content-Type", "Location", "Link")
IN_PROGRESS = 0  # status_code of a row whose request has not finished
PURGE_ONE_IN = 64  # delete expired rows on about one write in this many
CLIENT_ID_MAX = 128


def utc_now() -> datetime:
    return datetime.now(UTC)


def request_fingerprint(method: str, path: str, query: bytes, body: bytes) -> bytes:
    """SHA-256 over what makes two requests "the same" (JSON bodies canonicalised)."""
    # Not JSON (or not canonicalisable): compare the bytes as sent.
    with contextlib.suppress(ValueError, TypeError, RecursionError, rfc8785.CanonicalizationError):
        body = rfc8785.dumps(json.loads(body))
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def current_key() -> str | None:
    """The request's Idempotency-Key, checked; None when the client sent none."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.match(key):
        raise IdempotencyKeyInvalid(
            f"{HEADER}: expected 1-100 characters of A-Z a-z 0-9 . _ : - (a UUID fits), found {key[:120]!r}",
            HEADER,
        )
    return key


def client_id(org_id: str, key: str | None, suffix: str = "", max_length: int = CLIENT_ID_MAX) -> str | None:
    """The ledger entry id for a write made under `key` (None without a key)."""
    if key is None:
        return None
    readable = f"api.{org_id}.{key}{suffix}"
    if len(readable) <= max_length:
        return readable
    digest = hashlib.sha256(f"{org_id}\0{key}\0{suffix}".encode()).hexdigest()[:40]
    return f"api.{digest}"


def begin(org_id: str) -> Response | None:
    """Before the view: replay a finished request, refuse a reused key, or claim the key."""
    if request.method in SAFE_METHODS:
        return None
    key = current_key()
    if key is None:
        return None
    fingerprint = request_fingerprint(
        request.method, request.path, request.query_string, request.get_data(cache=True)
    )
    session = get_session()
    now = utc_now()
    record = _load(org_id, key)
    if record is not None and _aware(record.expires_at) <= now:
        session.delete(record)
        session.flush()
        record = None
    if record is None:
        record = IdempotencyRecord(
            org_id=org_id,
            key=key,
            request_hash=fingerprint,
            method=request.method,
            path=request.path[:500],
            status_code=IN_PROGRESS,
            headers="[]",
            body=b"",
            created_at=now,
            expires_at=now + IDEMPOTENCY_TTL,
        )
        try:
            # On PostgreSQL this INSERT waits while another transaction holds the same key.
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:
            record = _load(org_id, key)
            if record is None:  # the other request failed and rolled back: run this one
                return begin(org_id)
        else:
            if secrets.randbelow(PURGE_ONE_IN) == 0:
                session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.expires_at < now, IdempotencyRecord.key != key
                    )
                )
            g.idempotency_record = record
            return None
    return _replay(record, key, fingerprint)


def _load(org_id: str, key: str) -> IdempotencyRecord | None:
    return (
        get_session()
        .scalars(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.org_id == org_id, IdempotencyRecord.key == key)
            .execution_options(populate_existing=True)
        )
        .first()
    )


def _replay(record: IdempotencyRecord, key: str, fingerprint: bytes) -> Response:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"{HEADER}: {key!r} was used at {_aware(record.created_at).isoformat()} for "
            f"{record.method} {record.path} with a different body; use a new key for a new request",
            HEADER,
        )
    if record.status_code == IN_PROGRESS:
        raise IdempotencyInProgress(
            f"{HEADER}: the request first sent with {key!r} has not finished; retry in a few seconds",
            HEADER,
        )
    response = Response(record.body, status=record.status_code)
    for name, value in json.loads(record.headers):
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def shows_secret(what: str) -> None:
    """The view's response shows a secret, once: keep a problem naming `what` instead of it."""
    g.idempotency_secret = what


def finish(response: Response) -> Response:
    """After the view: store a successful response under the claimed key."""
    record: IdempotencyRecord | None = g.pop("idempotency_record", None)
    secret = g.pop("idempotency_secret", None)
    if record is None or response.status_code >= 400 or response.is_streamed:
        return response
    if secret is not None:
        _store_secret_refusal(record, secret)
    else:
        record.status_code = response.status_code
        record.headers = json.dumps(
            [[name, response.headers[name]] for name in STORED_HEADERS if name in response.headers]
        )
        record.body = response.get_data()
    get_session().flush()
    return response


def _store_secret_refusal(record: IdempotencyRecord, what: str) -> None:
    from farmtrace.web.problems import PROBLEM_JSON, problem_details

    refusal = SecretShownOnce(
        f"{HEADER}: {record.key!r} was first used to issue {what}, whose secret was shown then and is "
        "not kept; revoke it and issue another if the secret was lost",
        HEADER,
    )
    body = problem_details(refusal)
    assert body is not None
    body["instance"] = record.path
    record.status_code = refusal.status
    record.headers = json.dumps([["Content-Type", PROBLEM_JSON]])
    record.body = json.dumps(body, ensure_ascii=False).encode("utf-8")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
