"""Self-custody: entries an organisation signed with its own key (docs/api.md, "Self-custody").

A lab that keeps its private key fetches the chain head (GET /batches/{batch}/head),
builds the next entry (seq = head.seq + 1, prev = head.hash, recorded_at = now, key = its
registered self-custody key), signs SIGNATURE_CONTEXT || RFC 8785 bytes with Ed25519
(`farmtrace sign` does this) and posts {entry, signature} here. The server applies the same
checks as to an event it signs itself: the token's organisation must be the author, the
type one anyone may record, the payload exactly what that type's schema produces, the
domain's rules; then the ledger checks the key, the signature and the chain head.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields

from farmtrace.ledger.encoding import b64decode, b64encode
from farmtrace.ledger.entry import make_entry
from farmtrace.trace.errors import InvalidInput, NotPermitted
from farmtrace.trace.events import types as t
from farmtrace.trace.events import validate_payload
from farmtrace.trace.projections import commit, load_state, require_batch_id
from farmtrace.trace.recorder import recorded
from farmtrace.trace.rules import check_event
from farmtrace.web.api.auth import check_scope, requires
from farmtrace.web.api.common import actor, envelope, request_body
from farmtrace.web.api.context import services
from farmtrace.web.api.events import scope_for
from farmtrace.web.api.schemas.batches import RecordedEventOut
from farmtrace.web.api.schemas.common import Timestamp

bp = Blueprint(
    "entries", __name__, url_prefix="/api/v1", description="Entries signed by their author's own key."
)


class SignedEntryIn(Schema):
    class Meta:
        unknown = RAISE

    entry = fields.Dict(required=True, metadata={"description": "The entry's fields (docs/ledger-format.md)"})
    signature = fields.String(required=True, metadata={"description": "Ed25519 signature, base64"})


class HeadOut(Schema):
    batch = fields.String(required=True)
    seq = fields.Integer(
        required=True, metadata={"description": "seq of the latest entry; the next is seq + 1"}
    )
    hash = fields.String(required=True, metadata={"description": "Its hash (base64): the next entry's prev"})
    recorded_at = Timestamp(
        required=True, metadata={"description": "The next entry's recorded_at may not be earlier"}
    )


@bp.route("/batches/<batch>/head", methods=["GET"])
@bp.response(200, HeadOut)
def chain_head(batch: str) -> Any:
    """The batch chain's latest entry, for building the next one (public, like the record)."""
    require_batch_id(batch)
    head = services().ctx.ledger.head(batch)
    if head is None:
        require_batch_id("")
    assert head is not None
    return {
        "batch": batch,
        "seq": head.entry.seq,
        "hash": b64encode(head.entry.hash),
        "recorded_at": head.entry.recorded_at,
    }


@bp.route("/entries", methods=["POST"])
@requires("events:write", "lab:write")
@request_body(SignedEntryIn)
@bp.response(201, RecordedEventOut)
def post_signed_entry() -> Any:
    """Record an entry its author signed with its own key (self-custody)."""
    body = envelope(schema=SignedEntryIn)
    entry = make_entry(body["entry"])
    signature = b64decode(body["signature"], "signature")
    if entry.author != actor():
        raise NotPermitted(
            "entry.author",
            f"entry.author: this token acts for {actor()}, not for {entry.author}",
            "author_only",
        )
    if entry.type not in t.RECORDABLE:
        raise InvalidInput(
            "entry.type", f"entry.type: expected one of {', '.join(t.RECORDABLE)}, found {entry.type!r}"
        )
    check_scope(scope_for(entry.type))
    if "amends" in entry.fields:
        raise InvalidInput(
            "entry.amends", "entry.amends: corrections are posted to /batches/{batch}/corrections"
        )
    values = validate_payload(entry.type, entry.payload, prefix="entry.payload")
    if values != entry.payload:
        raise InvalidInput(
            "entry.payload",
            "entry.payload: not in the form the schema gives it (decimals as text, times as given, "
            f"no empty values); sign this payload instead: {values}",
        )
    ctx = services().ctx
    require_batch_id(entry.batch, "entry.batch")
    previous = ctx.previous(entry.client_id)
    if previous is None:
        ctx.lock_chain(entry.batch, "entry.batch")
        state = load_state(ctx.session, entry.batch, "entry.batch")
        check_event(ctx, state, entry.type, entry.author, entry.event_time, values)
    stored = ctx.ledger.append_signed(entry, signature)
    if stored.created:
        commit(ctx.session, state, stored)
    result = recorded(stored, stored.created)
    location = {"Location": f"/api/v1/batches/{result.batch}/entries/{result.seq}"}
    return result, 201 if result.created else 200, location
