"""Consumers' problem reports about a batch, and the operator's handling of them.

The scan page's "report a problem" form calls `ComplaintService(ctx).submit(...)` (the page
owns CSRF and rate limiting); the console lists and handles them. A complaint is working
data, not part of the record: it is not signed, not in the ledger, and may be handled.

The phone number is personal data. Every read returns it only when the caller asks with
`include_phone=True`, which the console does on the operator's pages alone; a public page
or export that forgets to strip it gets None by default.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from farmtrace.trace.context import TraceContext
from farmtrace.trace.errors import InvalidInput, NotFound, SerialError
from farmtrace.trace.models.complaints import Complaint
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.orgs import OrgService
from farmtrace.trace.projections import require_batch_id
from farmtrace.trace.serials import verify_serial_check
from farmtrace.trace.text import clean_text, describe

# problem type -> (Chinese, English), in the order a form lists them.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "quality": ("质量问题（变质、破损、异味）", "quality (spoiled, damaged, off smell)"),
    "safety": ("食品安全（疑似农残超标、食用后不适）", "food safety (suspected residues, illness)"),
    "counterfeit": ("疑似假冒或标签被复制", "suspected counterfeit or copied label"),
    "label": ("标签或二维码有问题", "label or QR code problem"),
    "information": ("追溯信息与实物不符", "the record does not match the product"),
    "other": ("其他", "other"),
}
# new -> in_progress -> resolved or dismissed; the operator may set any of them.
STATUSES: dict[str, tuple[str, str]] = {
    "new": ("待处理", "new"),
    "in_progress": ("处理中", "in progress"),
    "resolved": ("已解决", "resolved"),
    "dismissed": ("不予处理", "dismissed"),
}
MAX_TEXT = 1000
MAX_NOTES = 1000
# After spaces, hyphens, dots and brackets are removed: an optional + and 5-20 digits.
_PHONE = re.compile(r"\+?\d{5,20}\Z")
_PHONE_SEPARATORS = str.maketrans("", "", " -.()（）")


@dataclass(frozen=True)
class ComplaintView:
    id: int
    batch_id: str
    serial: str | None
    problem_type: str
    text: str
    phone: str | None  # None unless the reader asked for it (include_phone=True)
    created_at: datetime
    status: str
    handled_by: str | None
    handled_at: datetime | None
    notes: str | None

    def to_json(self) -> dict[str, Any]:
        out = {**self.__dict__, "created_at": self.created_at.isoformat()}
        out["handled_at"] = None if self.handled_at is None else self.handled_at.isoformat()
        if self.phone is None:
            del out["phone"]
        return out


def check_free_text(field: str, value: object, max_length: int) -> str:
    """Several lines of text: NFC, trimmed, line breaks kept, every other control character refused.

    A consumer types into a textarea, so a line break is normal there; a tab, NUL, BEL or a
    bidirectional override (U+202E) is not, and is refused like in every other text field.
    """
    if not isinstance(value, str):
        raise InvalidInput(field, f"{field}: expected text, found {describe(value)}")
    if len(value) > max_length * 4:  # before any per-character work on a huge value
        raise InvalidInput(field, f"{field}: expected at most {max_length} characters, found {len(value)}")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    for index, char in enumerate(text):
        if char != "\n" and unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            raise InvalidInput(
                field, f"{field}: contains the control character U+{ord(char):04X} at position {index + 1}"
            )
    if len(text) > max_length:
        raise InvalidInput(field, f"{field}: expected at most {max_length} characters, found {len(text)}")
    if not text:
        raise InvalidInput(field, f"{field}: must not be empty")
    return text


def check_phone(value: object) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput("phone", f"phone: expected a phone number, found {describe(value)}")
    phone = value.translate(_PHONE_SEPARATORS)
    if not _PHONE.match(phone):
        raise InvalidInput(
            "phone", f"phone: expected a phone number of 5 to 20 digits like 13800138000, found {value!r}"
        )
    return phone


class ComplaintService:
    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def submit(
        self,
        batch_id: str,
        problem_type: str,
        text: str,
        *,
        serial: str | None = None,
        phone: str | None = None,
    ) -> ComplaintView:
        """Record a consumer's report about `batch_id` (and the item `serial`, if scanned)."""
        require_batch_id(batch_id)
        if self.session.get(Batch, batch_id) is None:
            raise NotFound("batch", f"batch: no batch {batch_id!r}")
        if problem_type not in PROBLEM_TYPES:
            raise InvalidInput(
                "problem_type",
                f"problem_type: expected one of {', '.join(PROBLEM_TYPES)}, found {describe(problem_type)}",
            )
        body = check_free_text("text", text, MAX_TEXT)
        item = None
        if serial is not None and serial != "":
            if not isinstance(serial, str):
                raise InvalidInput("serial", f"serial: expected text, found {describe(serial)}")
            try:
                item = verify_serial_check(serial[:64])
            except SerialError as exc:
                raise InvalidInput("serial", f"serial: {exc.message}") from None
        number = None if phone is None or phone.strip() == "" else check_phone(phone)
        row = Complaint(
            batch_id=batch_id,
            serial=item,
            problem_type=problem_type,
            text=body,
            phone=number,
            created_at=self.ctx.now(),
            status="new",
        )
        self.session.add(row)
        self.session.flush()
        return _view(row, include_phone=False)

    def get(self, complaint_id: int, *, include_phone: bool = False) -> ComplaintView:
        return _view(self._row(complaint_id), include_phone)

    def list(
        self,
        *,
        status: str | None = None,
        batch_id: str | None = None,
        owner: str | None = None,
        include_phone: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ComplaintView]:
        """Newest first; `owner` keeps complaints about batches that organisation registered."""
        query = (
            select(Complaint)
            .order_by(Complaint.created_at.desc(), Complaint.id.desc())
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        )
        if status is not None:
            _check_status(status)
            query = query.where(Complaint.status == status)
        if batch_id is not None:
            query = query.where(Complaint.batch_id == batch_id)
        if owner is not None:
            owned = select(Batch.id).where(Batch.owner_org_id == owner)
            query = query.where(Complaint.batch_id.in_(owned))
        return [_view(row, include_phone) for row in self.session.scalars(query)]

    def count_by_batch(self, batch_ids: list[str]) -> dict[str, int]:
        if not batch_ids:
            return {}
        rows = self.session.execute(
            select(Complaint.batch_id, func.count())
            .where(Complaint.batch_id.in_(batch_ids))
            .group_by(Complaint.batch_id)
        )
        return {batch: int(count) for batch, count in rows}

    def count_open(self) -> int:
        query = (
            select(func.count()).select_from(Complaint).where(Complaint.status.in_(("new", "in_progress")))
        )
        return self.session.scalar(query) or 0

    def handle(
        self,
        actor: str,
        complaint_id: int,
        *,
        status: str,
        handled_by: str,
        notes: str | None = None,
    ) -> ComplaintView:
        """The operator sets the status and notes; `handled_by` names the person (user name)."""
        OrgService(self.ctx).require_operator(actor)
        row = self._row(complaint_id)
        _check_status(status)
        row.status = status
        row.handled_by = clean_text("handled_by", handled_by, max_length=64)
        row.handled_at = self.ctx.now()
        if notes is not None and notes.strip() != "":
            row.notes = check_free_text("notes", notes, MAX_NOTES)
        self.session.flush()
        return _view(row, include_phone=True)

    def _row(self, complaint_id: int) -> Complaint:
        row = (
            self.session.get(Complaint, complaint_id)
            if isinstance(complaint_id, int)
            and not isinstance(complaint_id, bool)
            and 0 < complaint_id < 2**31
            else None
        )
        if row is None:
            raise NotFound("complaint", f"complaint: no complaint {complaint_id!r}")
        return row


def _check_status(status: object) -> None:
    if status not in STATUSES:
        raise InvalidInput(
            "status", f"status: expected one of {', '.join(STATUSES)}, found {describe(status)}"
        )


def _view(row: Complaint, include_phone: bool) -> ComplaintView:
    return ComplaintView(
        id=row.id,
        batch_id=row.batch_id,
        serial=row.serial,
        problem_type=row.problem_type,
        text=row.text,
        phone=row.phone if include_phone else None,
        created_at=_aware(row.created_at),
        status=row.status,
        handled_by=row.handled_by,
        handled_at=None if row.handled_at is None else _aware(row.handled_at),
        notes=row.notes,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
