"""Bulk writes: up to MAX_BULK_ITEMS items in one request, answered item by item.

A lab's or a logistics system's batch upload mixes good and bad items. Each item is first
validated alone; the valid ones are then grouped by the batch they write to and each group
is recorded in its own savepoint, in the order sent, by one call that records the whole
group (EventRecorder.record_many: the batch's chain is replayed once, not once per item):
all of a batch's items are recorded, or none of them (the item that was refused says why;
the others of that batch say that they were not recorded because of it, status 424).
Groups are independent: one batch's refusal does not undo another's. The request as a
whole commits what was recorded.

Item failures carry exactly the problem body a single request would have got
(farmtrace.web.problems.problem_details). An error that is not a known refusal (a bug, a
lost database) is not an item's failure: it fails the whole request, and nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from farmtrace.ledger.errors import LedgerError
from farmtrace.trace.errors import TraceError
from farmtrace.trace.recorder_bulk import ItemRefused
from farmtrace.web.api.errors import ApiError
from farmtrace.web.problems import PROBLEM_TYPE_BASE, problem_details

MAX_BULK_ITEMS = 1000
REFUSALS = (TraceError, LedgerError, ValidationError, ApiError)

P = TypeVar("P")


@dataclass(frozen=True)
class Prepared(Generic[P]):
    """An item that passed validation: `group` is the batch it writes to."""

    group: str
    value: P


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: int
    result: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.result is not None:
            out.update(self.result)
        if self.problem is not None:
            out["problem"] = self.problem
        return out


def _item_problem(index: int, exc: Exception) -> ItemResult:
    body = problem_details(exc)
    assert body is not None, f"{type(exc).__name__} is in REFUSALS but has no problem mapping"
    body["instance"] = f"#/items/{index}"
    return ItemResult(index, body["status"], problem=body)


def run_bulk(
    session: Session,
    items: Sequence[Any],
    prepare: Callable[[int, Any], Prepared[P]],
    record: Callable[[list[P]], list[tuple[int, dict[str, Any]]]],
) -> list[ItemResult]:
    """Validate each item with `prepare`, then record each batch group with `record`, which
    returns (status, result fields) per item of the group, or raises ItemRefused naming the
    group's item that was refused (and then keeps nothing of the group)."""
    results: dict[int, ItemResult] = {}
    groups: dict[str, list[tuple[int, P]]] = {}
    for index, item in enumerate(items):
        try:
            prepared = prepare(index, item)
        except REFUSALS as exc:
            results[index] = _item_problem(index, exc)
            continue
        groups.setdefault(prepared.group, []).append((index, prepared.value))

    for group, members in groups.items():
        try:
            with session.begin_nested():
                answers = record([value for _index, value in members])
        except ItemRefused as refused:
            if not isinstance(refused.cause, REFUSALS):
                raise
            cause = members[refused.index][0]
            results[cause] = _item_problem(cause, refused.cause)
            for index, _value in members:
                if index != cause:
                    results[index] = _not_recorded(index, group, cause)
            continue
        for (index, _value), (status, result) in zip(members, answers, strict=True):
            results[index] = ItemResult(index, status, result=result)
    return [results[index] for index in range(len(items))]


def _not_recorded(index: int, group: str, cause: int) -> ItemResult:
    return ItemResult(
        index,
        424,
        problem={
            "type": PROBLEM_TYPE_BASE + "bulk-group-refused",
            "title": "Not recorded",
            "status": 424,
            "detail": (
                f"items[{index}]: not recorded because items[{cause}] for the same batch {group} was refused; "
                "a batch's items are recorded all or none"
            ),
            "instance": f"#/items/{index}",
            "errors": [{"field": f"items[{cause}]", "message": "was refused; see its problem"}],
        },
    )
