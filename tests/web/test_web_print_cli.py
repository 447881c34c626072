"""`farmtrace print` end to end: a PDF read back with pdftoppm + zxing-cpp and pdftotext, a fake
network printer that drops the connection mid-job (resume prints every label exactly once),
Ctrl-C and resume into a file, a killed process whose recorded count is still right, and the
packing-station console page that starts a job as a separate process."""

from __future__ import annotations

import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_tcp_server import FakeTcpServer
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from farmtrace.ledger.db import create_db_engine, write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace import printing
from farmtrace.trace.codes.export import plan_export
from farmtrace.trace.codes.issue import CodeService
from farmtrace.trace.models.printing import PrintJobRow
from farmtrace.trace.services import trace_services
from farmtrace.web.cli import main

FARMTRACE = str(Path(sys.executable).with_name("farmtrace"))
DOMAIN = "trace.example.org"
OPERATOR = "wuhua-county"
PACKER = "packer-wuhua"
PASSWORD = "correct horse 1"


@dataclass
class County:
    url: str
    home: Path
    env: dict[str, str]
    engine: Engine
    batch: str
    range_id: int
    uris: list[str]  # every URI of the range, in label order

    def job(self, job_id: int) -> PrintJobRow:
        with Session(self.engine) as session:
            row = session.get(PrintJobRow, job_id)
            assert row is not None
            session.expunge(row)
            return row

    def age(self, job_id: int, seconds: float) -> None:
        """The job's process went silent `seconds` ago."""
        moment = datetime.now(UTC) - timedelta(seconds=seconds)
        with Session(write_engine(self.engine)) as session:
            session.execute(update(PrintJobRow).where(PrintJobRow.id == job_id).values(heartbeat_at=moment))
            session.commit()


@pytest.fixture
def county(database_url: str, tmp_path: Path) -> County:
    home = tmp_path / "home"
    master = MasterKey.load_or_create(home / "keys" / "master.key")
    engine = create_db_engine(database_url)
    with Session(write_engine(engine)) as session:
        t = trace_services(session, KeyStore(session, master))
        t.orgs.bootstrap_operator({"id": OPERATOR, "name_zh": "五华县农村电商运营中心"})
        t.places.register(OPERATOR, {"id": "wuhua", "kind": "county", "name_zh": "五华县"})
        t.orgs.register(
            OPERATOR, {"id": "coop-hengpi", "kind": "cooperative", "name_zh": "横陂果蔬专业合作社"}
        )
        t.orgs.register(OPERATOR, {"id": PACKER, "kind": "packing_station", "name_zh": "五华县农产品包装站"})
        t.products.register(
            "coop-hengpi",
            {
                "id": "pomelo",
                "name_zh": "横陂蜜柚",
                "category": "fruit",
                "unit": "kg",
                "gtin": "09506000134352",
            },
        )
        batch = t.batches.register(
            "coop-hengpi",
            {
                "product": "pomelo",
                "lot": "LOT-A1",
                "producers": ["coop-hengpi"],
                "unit": "kg",
                "quantity": "9",
            },
        ).batch
        codes = CodeService(t.ctx)
        issued = codes.issue(PACKER, batch, 2000)
        t.accounts.add_user(
            OPERATOR,
            {
                "org": PACKER,
                "username": "packer",
                "display_name": "包装员",
                "password": PASSWORD,
                "roles": ["recorder"],
            },
        )
        plan = plan_export(session, codes.keyring(), DOMAIN, batch, issued.range_id)
        uris = [uri for _serial, uri in plan]
        session.commit()
    env = {
        "FARMTRACE_HOME": str(home),
        "FARMTRACE_DATABASE_URL": database_url,
        "FARMTRACE_PUBLIC_BASE_URL": f"https://{DOMAIN}",
        "FARMTRACE_PRINT_POLL": "0.2",
    }
    yield County(database_url, home, env, engine, batch, issued.range_id, uris)
    engine.dispose()


def farmtrace(county: County, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=county.env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def spawn(county: County, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FARMTRACE, *args],
        env={**os.environ, **county.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


# -- a fake ZPL network printer (the pattern of tests/printer/fake_printer.py, plus ~DY) ----------

HS_OK = (
    b"\x02030,0,0,0240,000,0,0,0,000,0,0,0\x03\r\n"
    b"\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n"
    b"\x021234,0\x03\r\n"
)
_DY = re.compile(rb"~DY[^,]*,B,T,(\d+),,")


def qr_data(fmt: bytes) -> str:
    """The QR field data of a native ZPL format (^FDMA,... with ^FH _XX escapes)."""
    found = re.search(rb"\^BQN[^\^]*\^FH\^FD[LMQH]A,(.*?)\^FS", fmt, re.S)
    assert found is not None, fmt[:200]
    return re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), found.group(1)).decode()


class FakeZebra(FakeTcpServer):
    """Prints every complete ^XA...^XZ format, stores ~DY fonts, answers ~HS (after `delay`),
    and drops the connection when format number `drop_at` (over all connections) starts."""

    def __init__(self, drop_at: list[int] | None = None, delay: float = 0.0) -> None:
        super().__init__()
        self.drop_at = list(drop_at or ())
        self.delay = delay
        self.printed: list[str] = []
        self.fonts = 0

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buffer += data
            while True:
                buffer = buffer.lstrip(b"\r\n ")
                if buffer.startswith(b"~HS"):
                    buffer = buffer[3:]
                    time.sleep(self.delay)
                    conn.sendall(HS_OK)
                    continue
                header = _DY.match(buffer)
                if header is not None:
                    end = header.end() + int(header.group(1))
                    if len(buffer) < end:
                        break
                    self.fonts += 1
                    buffer = buffer[end:]
                    continue
                if buffer.startswith(b"^XA"):
                    if len(self.printed) in self.drop_at:
                        self.drop_at.remove(len(self.printed))
                        return  # the network is gone: this format and the rest are lost
                    end = buffer.find(b"^XZ")
                    if end < 0:
                        break
                    self.printed.append(qr_data(buffer[: end + 3]))
                    buffer = buffer[end + 3 :]
                    continue
                break


def formats_in(data: bytes) -> list[str]:
    return [qr_data(m.group(0)) for m in re.finditer(rb"\^XA.*?\^XZ", data, re.S)]


# -- the tests ---------------------------------------------------------------------------------


def test_print_a_pdf_and_read_it_back(county: County, tmp_path: Path) -> None:
    pytest.importorskip("zxingcpp")
    for tool in ("pdftoppm", "pdftotext"):
        if not shutil_which(tool):
            pytest.skip(f"{tool} not installed (apt-get install -y poppler-utils)")
    import zxingcpp
    from PIL import Image

    out = tmp_path / "sheet.pdf"
    code, stdout, stderr = farmtrace(
        county, "print", "--batch", county.batch, "--count", "30", "--layout", "a4-3x8", "--to", str(out),
        "--station", PACKER,
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout == "job 1 done: 30 labels confirmed\n"
    assert f"job 1: batch {county.batch} range {county.range_id} labels 0..29 (30) as pdf a4-3x8" in stderr
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(out), str(tmp_path / "page")], check=True
    )
    page = Image.open(next(tmp_path.glob("page-*.png")))
    decoded = [r.text for r in zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)]
    assert sorted(decoded) == sorted(county.uris[:24])  # 3 x 8 labels on page 1
    text = subprocess.run(["pdftotext", str(out), "-"], check=True, capture_output=True).stdout.decode()
    assert "横陂蜜柚" in text and "横陂果蔬专业合作社" in text and "批次 LOT-A1" in text
    row = county.job(1)
    assert (row.state, row.confirmed, row.format, row.dpi, row.printer) == ("done", 30, "pdf", None, str(out))
    # the next job takes the next labels; printing label 29 again needs a reason
    code, _, stderr = farmtrace(
        county, "print", "--batch", county.batch, "--count", "2", "--range", str(county.range_id),
        "--start", "29", "--to", str(tmp_path / "again.pdf"), "--station", PACKER,
    )  # fmt: skip
    assert code == 1 and stderr.startswith(
        f"Error: reprint_reason: labels of range {county.range_id} were already printed (29..29 by job 1 (done))"
    )
    code, _, stderr = farmtrace(
        county, "print", "--batch", county.batch, "--count", "2", "--range", str(county.range_id),
        "--start", "29", "--to", str(tmp_path / "again.pdf"), "--station", PACKER, "--reprint-reason", "卡纸",
    )  # fmt: skip
    assert code == 0 and "REPRINT (卡纸)" in stderr
    code, stdout, _ = farmtrace(county, "print", "--list", "--batch", county.batch)
    assert code == 0 and stdout.count("\n    REPRINT: 卡纸\n") == 1 and "job 1  done" in stdout
    code, stdout, _ = farmtrace(county, "codes", "ranges", "--batch", county.batch)
    assert "reprinted code" in stdout and "卡纸" in stdout


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def test_a_printer_that_drops_mid_job_then_resume_prints_each_label_once(county: County) -> None:
    with FakeZebra(drop_at=[7]) as printer:
        to = f"tcp://127.0.0.1:{printer.port}"
        args = ["--confirm-every", "1", "--retries", "0", "--station", PACKER]
        code, _, stderr = farmtrace(
            county, "print", "--batch", county.batch, "--count", "20", "--to", to, *args
        )
        assert code == 1
        assert (
            "job 1 failed: printer 127.0.0.1" in stderr
            and "resume with: farmtrace print --resume 1" in stderr
        )
        row = county.job(1)
        assert (row.state, row.confirmed) == ("failed", 7) and "labels before index 7 are confirmed" in (
            row.error or ""
        )
        code, stdout, stderr = farmtrace(county, "print", "--resume", "1", "--confirm-every", "1")
        assert code == 0, stderr
        assert stdout == "job 1 done: 20 labels confirmed\n"
    assert Counter(printer.printed) == Counter(county.uris[:20])  # every label, exactly once
    assert printer.printed == county.uris[:20] and printer.fonts == printer.connections == 2
    row = county.job(1)
    assert (row.state, row.confirmed, row.error) == ("done", 20, None)


def test_ctrl_c_cancels_cleanly_and_resume_finishes_the_file(county: County, tmp_path: Path) -> None:
    out = tmp_path / "roll.zpl"
    process = spawn(
        county, "print", "--batch", county.batch, "--count", "200", "--to", str(out), "--confirm-every", "10",
        "--zpl-font", "none", "--station", PACKER,
    )  # fmt: skip
    try:
        wait_for(lambda: _confirmed(county, 1) >= 20)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    row = county.job(1)
    assert row.state == "cancelled" and 20 <= row.confirmed < 200
    assert f"job 1 cancelled: {row.confirmed:,} of 200 labels confirmed; resume with" in stderr.decode()
    # cancelled after confirming what was sent: the file holds exactly the confirmed labels
    assert (
        formats_in(out.read_bytes()) == county.uris[: row.confirmed]
        and out.stat().st_size == row.output_bytes
    )
    code, _, stderr = farmtrace(county, "print", "--resume", "1", "--zpl-font", "none")
    assert code == 0, stderr
    assert formats_in(out.read_bytes()) == county.uris[:200]


def test_a_killed_process_leaves_an_accurate_count(county: County, tmp_path: Path) -> None:
    out = tmp_path / "roll.zpl"
    process = spawn(
        county, "print", "--batch", county.batch, "--count", "300", "--to", str(out), "--confirm-every", "25",
        "--zpl-font", "none", "--station", PACKER,
    )  # fmt: skip
    try:
        wait_for(lambda: _confirmed(county, 1) >= 50)
        process.kill()  # SIGKILL: nothing is recorded on the way out
        process.communicate(timeout=30)
    finally:
        process.kill()
    row = county.job(1)
    assert row.state == "running" and row.confirmed >= 50 and row.output_bytes is not None
    # every label counted as confirmed is in the file (more may follow, unconfirmed)
    assert formats_in(out.read_bytes()[: row.output_bytes]) == county.uris[: row.confirmed]
    code, _, stderr = farmtrace(county, "print", "--resume", "1")
    assert code == 1 and "is being printed by" in stderr  # not yet known to be dead
    county.age(1, 120)
    code, _, stderr = farmtrace(county, "print", "--resume", "1", "--zpl-font", "none")
    assert code == 0, stderr
    assert formats_in(out.read_bytes()) == county.uris[:300]


def test_a_progress_bar_on_a_terminal(county: County, tmp_path: Path) -> None:
    out = tmp_path / "roll.tspl"
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [
                FARMTRACE,
                "print",
                "--batch",
                county.batch,
                "--count",
                "40",
                "--to",
                str(out),
                "--station",
                PACKER,
            ],
            env={**os.environ, **county.env},
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            timeout=120,
        )
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(primary)
    assert result.returncode == 0
    assert b"job 1  [" in seen and b"100%" in seen
    assert out.read_bytes().count(b"PRINT 1,1\r\n") == 40


def test_the_console_pauses_resumes_and_cancels_a_running_process(county: County) -> None:
    def ask(state: str) -> None:
        with Session(write_engine(county.engine)) as session:
            printing.request_state(session, 1, state, datetime.now(UTC), station=PACKER)
            session.commit()

    with FakeZebra(delay=0.05) as printer:
        process = spawn(
            county, "print", "--batch", county.batch, "--count", "60", "--to", f"tcp://127.0.0.1:{printer.port}",
            "--confirm-every", "1", "--station", PACKER,
        )  # fmt: skip
        try:
            wait_for(lambda: _confirmed(county, 1) >= 5)
            ask("paused")
            wait_for(lambda: county.job(1).state == "paused")
            held = len(printer.printed)
            time.sleep(1.0)
            assert len(printer.printed) == held == county.job(1).confirmed < 60
            ask("running")
            wait_for(lambda: len(printer.printed) > held + 3)
            assert county.job(1).state == "running"
            ask("cancelled")
            _, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    row = county.job(1)
    assert process.returncode == 1 and row.state == "cancelled" and row.confirmed < 60, stderr
    assert printer.printed == county.uris[: row.confirmed]


def _confirmed(county: County, job_id: int) -> int:
    try:
        return county.job(job_id).confirmed
    except AssertionError:
        return 0


def test_refusals_are_one_sentence(county: County, tmp_path: Path) -> None:
    code, _, stderr = farmtrace(county, "print", "--batch", county.batch, "--count", "5", "--to", "lpt1")
    assert (
        code == 2
        and "expected tcp://HOST:9100, FILE.zpl, FILE.tspl, FILE.pdf, spool:DIR or cups:QUEUE" in stderr
    )
    code, _, stderr = farmtrace(
        county,
        "print",
        "--batch",
        county.batch,
        "--count",
        "2001",
        "--to",
        str(tmp_path / "a.zpl"),
        "--station",
        PACKER,
    )
    assert code == 1 and stderr == (
        f"Error: count: batch {county.batch} has 2,000 unprinted codes but at most 2,000 in a row "
        f"(range {county.range_id}), found a request for 2,001; print at most 2,000 or issue more codes "
        f"(farmtrace codes issue --batch {county.batch} --count N)\n"
    )
    code, _, stderr = farmtrace(county, "print", "--resume", "9")
    assert code == 1 and stderr == "Error: job: no print job 9\n"
    code, _, stderr = farmtrace(county, "print", "--resume", "9", "--count", "3")
    assert code == 2 and "--resume continues a recorded job as it was started" in stderr
    # a scanned label names where to start (a reprint after a jam starts at the jammed label)
    code, _, stderr = farmtrace(
        county, "print", "--batch", county.batch, "--count", "2", "--from-code", county.uris[3],
        "--to", str(tmp_path / "b.tspl"), "--station", PACKER,
    )  # fmt: skip
    assert code == 0 and f"range {county.range_id} labels 3..4 (2) as tspl 50x30" in stderr
    assert (tmp_path / "b.tspl").read_bytes().count(b"PRINT 1,1\r\n") == 2


# -- the console page ----------------------------------------------------------------------------


def test_console_starts_a_job_as_a_process_and_shows_its_progress(county: County) -> None:
    from farmtrace.web.app import create_app
    from farmtrace.web.settings import Settings

    app = create_app(Settings.from_env(county.env), test_config={"TESTING": True})
    client = app.test_client()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    login = client.post(
        "/console/login", data={"username": "packer", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert login.status_code == 303
    batch_page = client.get(f"/console/packing/batches/{county.batch}")
    assert f'href="/console/printing/batches/{county.batch}/new"' in batch_page.text
    form = client.get(f"/console/printing/batches/{county.batch}/new")
    assert form.status_code == 200 and "未打印 2,000 / 共 2,000" in form.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.text))
    with FakeZebra() as printer:
        data = {
            **fields,
            "range": str(county.range_id),
            "count": "12",
            "layout": "50x30",
            "format": "zpl",
            "dpi": "203",
            "printer": f"tcp://127.0.0.1:{printer.port}",
        }
        started = client.post(f"/console/printing/batches/{county.batch}/new", data=data)
        assert started.status_code == 303 and started.headers["Location"] == "/console/printing/jobs/1"
        wait_for(lambda: county.job(1).state == "done", timeout=90)
        assert printer.printed == county.uris[:12]
        # a path is never accepted from the web form
        bad = client.post(
            f"/console/printing/batches/{county.batch}/new", data={**data, "printer": "/etc/roll.zpl"}
        )
        assert bad.status_code == 422 and "tcp://地址:9100" in bad.text
    job_page = client.get("/console/printing/jobs/1")
    assert job_page.status_code == 200 and "已完成" in job_page.text and "Refresh" not in job_page.headers
    listing = client.get("/console/printing/")
    assert 'id="job-1"' in listing.text and "补打" not in listing.text.split('id="jobs"')[1]
