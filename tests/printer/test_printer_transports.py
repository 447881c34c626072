"""Transports and PrintJob against a fake network printer, a spool directory and a fake lp."""

from __future__ import annotations

import stat
import threading
from collections import Counter
from pathlib import Path

import pytest
from fake_printer import HS_PAPER_OUT, FakeZebra
from printer_testkit import sample_label

from farmtrace.printer import LAYOUTS, PrinterError, TextFitError, TransportError
from farmtrace.printer.render_zpl import iter_zpl
from farmtrace.printer.transports import (
    ZPL_HOST_STATUS,
    CupsTransport,
    PrintJob,
    Progress,
    SpoolTransport,
    TcpTransport,
)
from farmtrace.printer.transports.base import (
    PrinterStatusError,
    tspl_check_status,
    zpl_check_host_status,
)

N = 12
LABELS = [sample_label(i) for i in range(N)]
URIS = [label.uri for label in LABELS]


def _chunks(start: int = 0):
    return iter_zpl(LABELS[start:], LAYOUTS["50x30"], 203)


def _tcp(printer: FakeZebra, **kw: object) -> TcpTransport:
    return TcpTransport("127.0.0.1", printer.port, status_query=ZPL_HOST_STATUS, connect_timeout=2, **kw)


def _job(chunks, transport, **kw: object) -> PrintJob:
    kw.setdefault("backoff_initial", 0.01)
    return PrintJob(chunks, transport, **kw)


def test_drop_mid_label_resumes_each_label_exactly_once() -> None:
    with FakeZebra(drop_at_label=[3, 8]) as printer:
        result = _job(_chunks(), _tcp(printer), confirm_every=1).run()
    assert printer.printed == URIS
    assert result.confirmed_until == N and result.reconnects == 2 and not result.cancelled
    assert printer.connections == 3


def test_drop_with_larger_window_is_at_least_once_bounded_by_window() -> None:
    with FakeZebra(drop_at_label=[7]) as printer:
        result = _job(_chunks(), _tcp(printer), confirm_every=5).run()
    assert set(printer.printed) == set(URIS)  # nothing lost
    duplicates = len(printer.printed) - N
    assert 0 < duplicates < 5  # labels 5 and 6 were read but not yet confirmed
    assert Counter(printer.printed)[URIS[5]] == 2
    assert result.confirmed_until == N


def test_drop_between_print_and_reply_duplicates_one_label() -> None:
    """The honest limit of raw TCP: a label read but not acknowledged is sent again."""
    with FakeZebra(drop_before_reply={4}) as printer:
        _job(_chunks(), _tcp(printer), confirm_every=1).run()
    assert Counter(printer.printed)[URIS[4]] == 2
    assert sorted(set(printer.printed)) == sorted(URIS) and len(printer.printed) == N + 1


def test_unreachable_printer_reports_where_to_resume_and_next_job_resumes() -> None:
    with FakeZebra(drop_at_label=[6, 6, 6]) as first:
        job = _job(_chunks(), _tcp(first), confirm_every=1, max_retries=2)
        with pytest.raises(TransportError) as info:
            job.run()
    assert first.printed == URIS[:6]
    assert job.confirmed_until == 6
    message = str(info.value)
    assert message.startswith("printer 127.0.0.1:")
    assert message.endswith(
        "gave up after 3 attempts; labels before index 6 are confirmed, resume from there"
    )
    with FakeZebra() as second:
        result = _job(_chunks(6), _tcp(second), start_index=6, confirm_every=1).run()
    assert first.printed + second.printed == URIS
    assert (result.start_index, result.confirmed_until, result.confirmed) == (6, N, N - 6)


def test_connection_refused_message() -> None:
    with FakeZebra() as printer:
        port = printer.port
    transport = TcpTransport("127.0.0.1", port, connect_timeout=1)
    with pytest.raises(TransportError) as info:
        transport.open()
    assert str(info.value).startswith(f"printer 127.0.0.1:{port}: cannot connect (")


def test_no_status_reply_times_out() -> None:
    with FakeZebra(reply=False) as printer:
        job = _job(_chunks(), _tcp(printer, io_timeout=0.3), confirm_every=3, max_retries=0)
        with pytest.raises(TransportError) as info:
            job.run()
    assert "no ~HS reply (timed out)" in str(info.value)
    assert job.confirmed_until == 0


def test_paper_out_is_not_a_confirmation() -> None:
    with FakeZebra(status=HS_PAPER_OUT) as printer:
        job = _job(_chunks(), _tcp(printer), confirm_every=2, max_retries=1)
        with pytest.raises(PrinterStatusError) as info:
            job.run()
    assert str(info.value).startswith("printer status (~HS): paper out; gave up after 2 attempts")
    assert job.confirmed_until == 0


def test_progress_pause_resume_and_cancel() -> None:
    events: list[Progress] = []
    with FakeZebra() as printer:
        job = _job(_chunks(), _tcp(printer), confirm_every=2)

        def on_progress(progress: Progress) -> None:
            events.append(progress)
            if progress.state == "running" and progress.confirmed_until == 4:
                job.pause()
                threading.Timer(0.1, job.resume).start()
            if progress.state == "running" and progress.confirmed_until == 8:
                job.cancel()

        job._on_progress = on_progress
        result = job.run()
    states = [e.state for e in events]
    assert "paused" in states and states[-1] == "cancelled"
    assert result.cancelled and result.confirmed_until == 8
    assert printer.printed == URIS[:8]
    assert [e.confirmed_until for e in events if e.state == "running"] == [2, 4, 6, 8]


def test_render_error_midway_confirms_what_was_sent() -> None:
    def chunks():
        yield from iter_zpl(LABELS[:5], LAYOUTS["50x30"], 203)
        raise TextFitError("product: too long")

    with FakeZebra() as printer:
        job = _job(chunks(), _tcp(printer), confirm_every=4)
        with pytest.raises(TextFitError):
            job.run()
    assert printer.printed == URIS[:5] and job.confirmed_until == 5


def test_spool_directory_atomic_chunks_and_resume(tmp_path: Path) -> None:
    spool = tmp_path / "spool"

    job = _job(
        (c for i, c in enumerate(_chunks()) if i < 10), SpoolTransport(spool, "job42"), confirm_every=4
    )
    result = job.run()
    assert result.confirmed_until == 10
    names = sorted(p.name for p in spool.iterdir())
    assert names == [
        "job42-00000000-00000003.zpl",
        "job42-00000004-00000007.zpl",
        "job42-00000008-00000009.zpl",
    ]
    expected = list(_chunks())
    assert (spool / names[1]).read_bytes() == b"".join(expected[4:8])
    # A crashed writer leaves only a hidden temp file; the next open removes it.
    (spool / ".job42-00000010.tmp").write_bytes(b"^XA half")
    resumed = _job(_chunks(10), SpoolTransport(spool, "job42", start_index=10), start_index=10)
    assert resumed.run().confirmed_until == N
    assert sorted(p.name for p in spool.iterdir())[-1] == "job42-00000010-00000011.zpl"
    assert not list(spool.glob(".*"))
    joined = b"".join(p.read_bytes() for p in sorted(spool.iterdir()))
    assert joined == b"".join(expected)


def test_spool_job_id_validated(tmp_path: Path) -> None:
    with pytest.raises(TransportError) as info:
        SpoolTransport(tmp_path, "../x")
    assert str(info.value) == "job_id: expected a plain file-name stem, found '../x'"


def _fake_lp(tmp_path: Path, exit_code: int = 0) -> Path:
    script = tmp_path / "lp"
    out = tmp_path / "lp-jobs"
    out.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'n=$(ls "{out}" | wc -l)\n'
        f'echo "$@" > "{out}/args-$n"\n'
        f'cat > "{out}/job-$n.raw"\n'
        f'if [ {exit_code} -ne 0 ]; then echo "lp: The printer or class does not exist." >&2; exit {exit_code}; fi\n'
        'echo "request id is zebra-$n (1 file(s))"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_cups_raw_one_lp_job_per_window(tmp_path: Path) -> None:
    lp = _fake_lp(tmp_path)
    transport = CupsTransport("zebra", lp=str(lp))
    result = _job(_chunks(), transport, confirm_every=5).run()
    assert result.confirmed_until == N
    jobs = sorted((tmp_path / "lp-jobs").glob("job-*.raw"), key=lambda p: int(p.stem[4:]))
    expected = list(_chunks())
    assert [p.read_bytes() for p in jobs] == [
        b"".join(expected[0:5]),
        b"".join(expected[5:10]),
        b"".join(expected[10:12]),
    ]
    args = (tmp_path / "lp-jobs" / "args-0").read_text().split()
    assert args == ["-d", "zebra", "-o", "raw", "-t", "farmtrace", "labels"]
    assert transport.job_ids == [f"request id is zebra-{n} (1 file(s))" for n in (0, 2, 4)]


def test_cups_failure_message(tmp_path: Path) -> None:
    transport = CupsTransport("nowhere", lp=str(_fake_lp(tmp_path, exit_code=1)))
    job = _job(_chunks(), transport, confirm_every=3, max_retries=0)
    with pytest.raises(TransportError) as info:
        job.run()
    assert "exited 1: lp: The printer or class does not exist." in str(info.value)
    assert job.confirmed_until == 0


def test_cups_missing_lp() -> None:
    transport = CupsTransport("zebra", lp="lp-does-not-exist-here")
    with pytest.raises(TransportError) as info:
        transport.open()
    assert str(info.value) == (
        "CUPS: 'lp-does-not-exist-here' not found on PATH; install the CUPS client "
        "(cups-client) or use the TCP or spool transport"
    )


@pytest.mark.parametrize(
    "status,message",
    [
        (b"\x00", None),
        (b"\x20", None),  # printing
        (b"\x10", None),  # paused
        (b"\x04", "printer status (<ESC>!? = 0x04): out of paper"),
        (b"\x05", "printer status (<ESC>!? = 0x05): head opened, out of paper"),
        (b"", "<ESC>!? reply: expected one status byte, found none"),
    ],
)
def test_tspl_status_byte(status: bytes, message: str | None) -> None:
    if message is None:
        tspl_check_status(status)
    else:
        with pytest.raises(PrinterStatusError) as info:
            tspl_check_status(status)
        assert str(info.value) == message


def test_zpl_host_status_parse() -> None:
    from fake_printer import HS_OK

    zpl_check_host_status(HS_OK)
    head_up = HS_OK.replace(b"\x02001,0,0,0,", b"\x02001,0,1,0,")
    with pytest.raises(PrinterStatusError) as info:
        zpl_check_host_status(head_up)
    assert str(info.value) == "printer status (~HS): head up"
    with pytest.raises(PrinterStatusError):
        zpl_check_host_status(b"\x02garbage\x03")


def test_confirm_every_validated() -> None:
    with pytest.raises(PrinterError) as info:
        PrintJob([], SpoolTransport(Path("unused"), "x"), confirm_every=0)
    assert str(info.value) == "confirm_every: expected >= 1, found 0"
