"""trace.complaints: what the scan page's "report a problem" form will call, and how the
operator handles it. The phone number never comes back unless asked for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import test_web_console_kit as kit
from flask import Flask
from sqlalchemy.orm import Session

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.complaints import MAX_TEXT, PROBLEM_TYPES, ComplaintService
from farmtrace.trace.errors import InvalidInput, NotFound, NotPermitted
from farmtrace.trace.services import TraceServices, trace_services
from farmtrace.web.api.context import MASTER_KEY_FILE

app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")


@pytest.fixture
def services(app: Flask) -> Iterator[TraceServices]:
    settings = app.config["FARMTRACE"]
    _readers, writers = app.extensions["farmtrace.sessions"]
    session: Session = writers()
    try:
        yield trace_services(session, KeyStore(session, MasterKey.load(settings.keys_dir / MASTER_KEY_FILE)))
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def batch(services: TraceServices) -> str:
    recorded = services.batches.register(
        "coop-changbu", {"product": "changbu-potato", "unit": "kg", "quantity": "100"}
    )
    services.batches.register("coop-hengpi", {"product": "hengpi-rice", "unit": "kg", "quantity": "5"})
    return recorded.batch


def test_a_report_is_stored_with_its_phone_but_read_back_without_it(
    services: TraceServices, batch: str
) -> None:
    complaints = ComplaintService(services.ctx)
    view = complaints.submit(batch, "quality", "  红薯有黑斑\r\n请核实  ", phone="+86 138-0013-8000")
    assert view.status == "new" and view.phone is None
    assert view.text == "红薯有黑斑\n请核实"  # line breaks kept, ends trimmed
    assert "phone" not in view.to_json()
    assert complaints.get(view.id).phone is None
    assert complaints.get(view.id, include_phone=True).phone == "+8613800138000"
    assert [c.id for c in complaints.list()] == [view.id]
    assert complaints.list()[0].phone is None
    assert complaints.list(include_phone=True)[0].phone == "+8613800138000"


def test_lists_filter_by_owner_batch_and_status(services: TraceServices, batch: str) -> None:
    complaints = ComplaintService(services.ctx)
    first = complaints.submit(batch, "label", "二维码扫不出")
    second = complaints.submit(batch, "other", "包装破损")
    assert [c.id for c in complaints.list(owner="coop-changbu")] == [second.id, first.id]
    assert complaints.list(owner="coop-hengpi") == []
    assert complaints.count_by_batch([batch, "B0000000000AB"]) == {batch: 2}
    assert complaints.count_open() == 2
    complaints.handle("wuhua-county", first.id, status="resolved", handled_by="op-admin", notes="已换货")
    assert [c.id for c in complaints.list(status="new")] == [second.id]
    assert complaints.count_open() == 1
    handled = complaints.get(first.id)
    assert (handled.status, handled.handled_by, handled.notes) == ("resolved", "op-admin", "已换货")
    assert handled.handled_at is not None


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"problem_type": "smell"}, "problem_type", "expected one of quality, safety"),
        ({"text": "   "}, "text", "must not be empty"),
        ({"text": "坏了\t真的"}, "text", "control character U+0009 at position 3"),
        ({"text": "abc\u202edef"}, "text", "control character U+202E"),
        ({"text": "\x00"}, "text", "control character U+0000"),
        (
            {"text": "好" * (MAX_TEXT + 1)},
            "text",
            f"expected at most {MAX_TEXT} characters, found {MAX_TEXT + 1}",
        ),
        ({"text": "x" * 10_000_000}, "text", "expected at most 1000 characters, found 10000000"),
        ({"phone": "call me"}, "phone", "expected a phone number of 5 to 20 digits"),
        ({"phone": "1" * 30}, "phone", "found"),
        ({"serial": "NOT-A-SERIAL"}, "serial", "serial: Invalid code"),
        ({"text": 12}, "text", "expected text, found"),
    ],
)
def test_bad_reports_are_refused_by_field(
    services: TraceServices, batch: str, kwargs: dict[str, object], field: str, message: str
) -> None:
    values: dict[str, object] = {"problem_type": "quality", "text": "有问题"} | kwargs
    with pytest.raises(InvalidInput) as caught:
        ComplaintService(services.ctx).submit(batch, **values)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert message in caught.value.message


def test_a_report_names_an_existing_batch(services: TraceServices) -> None:
    with pytest.raises(NotFound, match="no batch 'B0000000000AB'"):
        ComplaintService(services.ctx).submit("B0000000000AB", "quality", "x")
    with pytest.raises(NotFound):
        ComplaintService(services.ctx).submit("../../etc", "quality", "x")


def test_a_scanned_serial_is_kept_normalised(services: TraceServices, batch: str) -> None:
    from farmtrace.trace.codes.issue import CodeService

    issued = CodeService(services.ctx).issue("packer-wuhua", batch, 2)
    assert issued.first_serial is not None
    typed = issued.first_serial.lower()
    view = ComplaintService(services.ctx).submit(batch, "counterfeit", "标签像是复印的", serial=typed)
    assert view.serial == issued.first_serial


def test_only_the_operator_handles_and_statuses_are_fixed(services: TraceServices, batch: str) -> None:
    complaints = ComplaintService(services.ctx)
    view = complaints.submit(batch, "safety", "吃后腹泻")
    with pytest.raises(NotPermitted):
        complaints.handle("coop-changbu", view.id, status="resolved", handled_by="coop-user")
    with pytest.raises(InvalidInput, match="status: expected one of new, in_progress, resolved, dismissed"):
        complaints.handle("wuhua-county", view.id, status="closed", handled_by="op-admin")
    with pytest.raises(NotFound):
        complaints.handle("wuhua-county", 999_999, status="resolved", handled_by="op-admin")
    with pytest.raises(NotFound):
        complaints.get(True)  # type: ignore[arg-type]


def test_every_problem_type_has_both_names() -> None:
    assert all(len(names) == 2 and all(names) for names in PROBLEM_TYPES.values())
