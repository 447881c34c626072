"""Packing-station print jobs in the console: start a job for a batch's next unprinted labels
(or a reprint, with its reason), watch its progress, pause, resume or cancel it, and see the
station's jobs with reprints flagged.

A job is printed by a separate `farmtrace print --job-id N` process started here, so that a
gunicorn worker timeout never kills a 100,000-label run; this page only reads the job row and
writes the state the operator asks for, which that process polls (trace.printing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from flask import Blueprint, abort, current_app, make_response, request, url_for
from sqlalchemy import select

from farmtrace.printer import LAYOUTS
from farmtrace.trace import printing
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.errors import InvalidInput, TraceError
from farmtrace.web.api.context import settings
from farmtrace.web.console import queries
from farmtrace.web.console.access import now, require, user
from farmtrace.web.console.forms import Field, bind
from farmtrace.web.console.pages import (
    Outcome,
    attempt,
    batch_or_404,
    client_id,
    done,
    new_client_id,
    page,
    svc,
)
from farmtrace.web.db import get_session
from farmtrace.web.i18n import translate

bp = Blueprint("printing", __name__, url_prefix="/printing")
# action -> (the state asked for, the message shown)
ACTIONS = {
    "pause": ("paused", "printing.paused"),
    "resume": ("running", "printing.resumed"),
    "cancel": ("cancelled", "printing.cancelled"),
}
_SPOOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_TCP = re.compile(r"tcp://[A-Za-z0-9.\-]{1,253}:\d{1,5}\Z")
_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,126}\Z")


def printer_target(text: str) -> str:
    """What the console may print to, as the transport URI `farmtrace print` reads.

    A network printer (tcp://HOST:PORT), a CUPS queue (cups:QUEUE) or a spool folder named
    under FARMTRACE_HOME/spool (spool:NAME). Never a path: a web form must not make the
    server write files where it likes."""
    text = text.strip()
    if _TCP.match(text) and 0 < int(text.rsplit(":", 1)[1]) < 65536:
        return text
    if text.startswith("cups:") and _QUEUE.match(text[5:]):
        return text
    if text.startswith("spool:") and _SPOOL_NAME.match(text[6:]):
        return f"spool:{settings().home / 'spool' / text[6:]}"
    raise InvalidInput("printer", f"printer: {translate('printing.printer_help')}")


def _fields(ranges: list[tuple[str, str]]) -> list[Field]:
    formats = tuple((f, translate(f"printing.format.{f}")) for f in printing.FORMATS)
    return [
        Field("range", translate("printing.range"), "select", required=True, choices=tuple(ranges)),
        Field("count", translate("printing.count"), "number", required=True, minimum=1),
        Field(
            "start", translate("printing.start"), "number", minimum=0, help=translate("printing.start_help")
        ),
        Field(
            "layout",
            translate("field.layout"),
            "select",
            required=True,
            choices=tuple((n, n) for n in LAYOUTS),
        ),
        Field("format", translate("printing.format"), "select", required=True, choices=formats),
        Field(
            "dpi",
            translate("printing.dpi"),
            "select",
            required=True,
            choices=(("203", "203"), ("300", "300")),
        ),
        Field(
            "printer",
            translate("printing.printer"),
            "text",
            required=True,
            max_length=300,
            help=translate("printing.printer_help"),
        ),
        Field("brand", translate("printing.brand"), "text", max_length=100),
        Field(
            "reprint_reason",
            translate("printing.reprint_reason"),
            "text",
            max_length=500,
            help=translate("printing.reprint_help"),
        ),
        Field("client_id", "", "hidden"),
    ]


def _ranges(batch_id: str) -> list[tuple[CodeRange, int, int | None]]:
    """The batch's ranges this user may print: (range, unprinted labels, first unprinted)."""
    db = get_session()
    me = user()
    query = select(CodeRange).where(CodeRange.batch_id == batch_id).order_by(CodeRange.first_n)
    if me.org_kind != "operator":
        query = query.where(CodeRange.station_org_id == me.org_id)
    out = []
    for rng in db.scalars(query):
        runs = printing.free_runs(db, rng, now())
        out.append((rng, sum(b - a + 1 for a, b in runs), runs[0][0] if runs else None))
    return out


def _new_page(batch_id: str, status: int = 200, outcome: Outcome | None = None) -> tuple[str, int]:
    view = batch_or_404(batch_id)
    ranges = _ranges(batch_id)
    choices = [
        (str(r.id), translate("printing.range_choice", id=r.id, free=f"{free:,}", count=f"{r.count:,}"))
        for r, free, _ in ranges
    ]
    defaults = {
        "layout": "50x30",
        "format": "zpl",
        "dpi": "203",
        "client_id": new_client_id(),
        "range": choices[0][0] if choices else "",
    }
    fields = outcome.fields if outcome is not None else bind(_fields(choices), defaults)
    general = outcome.general if outcome is not None else []
    return page("printing_new.html", status, batch=view, ranges=ranges, fields=fields, general=general)


@bp.get("/batches/<batch_id>/new")
@require("packing")
def new(batch_id: str) -> tuple[str, int]:
    return _new_page(batch_id)


@bp.post("/batches/<batch_id>/new")
@require("packing", write=True)
def start(batch_id: str) -> Any:
    batch_or_404(batch_id)
    choices = [(str(r.id), str(r.id)) for r, _free, _first in _ranges(batch_id)]
    me = user()

    def action(data: dict[str, Any]) -> printing.PrintJobView:
        range_id = int(data["range"]) if str(data.get("range", "")).isdigit() else None
        if range_id is None or str(range_id) not in dict(choices):
            raise InvalidInput("range", f"range: {translate('printing.no_range')}")
        count = data.get("count")
        if not isinstance(count, int) or count < 1:
            raise InvalidInput("count", f"count: expected a whole number >= 1, found {count!r}")
        first = data.get("start")
        if first is not None and not isinstance(first, int):
            raise InvalidInput("start", f"start: expected a whole number >= 0, found {first!r}")
        dpi = data.get("dpi", "203")
        printer = printer_target(data.get("printer", ""))
        if data.get("format") == "pdf" and printer.startswith("tcp://"):
            raise InvalidInput("printer", f"printer: {translate('printing.pdf_not_tcp')}")
        options: dict[str, Any] = {
            "layout": data.get("layout", ""),
            "fmt": data.get("format", ""),
            "printer": printer,
            "domain": settings().public_base_url.split("://", 1)[1].split("/", 1)[0],
            "dpi": int(dpi) if str(dpi).isdigit() else None,
            "brand": data.get("brand"),
            "reprint_reason": data.get("reprint_reason"),
            "client_id": client_id(),
        }
        return printing.start_batch_job(
            svc().ctx,
            batch_id=batch_id,
            count=count,
            station=me.org_id,
            range_id=range_id,
            first_index=first,
            **options,
        )

    outcome = attempt(_fields(choices), action, prefix="")
    if not outcome.ok:
        return _new_page(batch_id, 422, outcome)
    job: printing.PrintJobView = outcome.value
    if job.created:
        # The printing process reads the job row: it must be committed before it starts.
        get_session().commit()
        spawn(job.id)
    return done(translate("printing.started", id=job.id), url_for("console.printing.job", job_id=job.id))


def spawn(job_id: int) -> None:
    """Start `farmtrace print --job-id N` detached from this worker, logging to a file."""
    s = settings()
    env = {
        **os.environ,
        "FARMTRACE_HOME": str(s.home),
        "FARMTRACE_DATABASE_URL": s.database_url,
        "FARMTRACE_PUBLIC_BASE_URL": s.public_base_url,
        "FARMTRACE_KEYS_DIR": str(s.keys_dir),
    }
    logs = s.home / "print-jobs"
    logs.mkdir(parents=True, exist_ok=True)
    command = current_app.config.get("PRINT_COMMAND") or [sys.executable, "-m", "farmtrace.web.cli"]
    with open(logs / f"job-{job_id}.log", "ab") as log:
        subprocess.Popen(
            [*command, "print", "--job-id", str(job_id)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _job_or_404(job_id: int) -> printing.PrintJobView:
    try:
        job = printing.get_job(get_session(), job_id, now())
    except TraceError:
        abort(404)
    me = user()
    if me.org_kind != "operator" and job.station != me.org_id:
        abort(404)
    return job


@bp.get("/jobs/<int:job_id>")
@require("packing")
def job(job_id: int) -> Any:
    found = _job_or_404(job_id)
    orgs, _places, products = queries.names(get_session())
    body, status = page("printing_job.html", job=found, orgs=orgs, products=products)
    response = make_response(body, status)
    if found.alive:
        response.headers["Refresh"] = "3"  # progress comes from the job row, re-read each time
    return response


@bp.post("/jobs/<int:job_id>/<action>")
@require("packing", write=True)
def control(job_id: int, action: str) -> Any:
    if action not in ACTIONS:
        abort(404)
    _job_or_404(job_id)
    me = user()
    found, start_process = printing.request_state(
        get_session(),
        job_id,
        ACTIONS[action][0],
        now(),
        station=me.org_id,
        operator=me.org_kind == "operator",
    )
    if start_process:
        get_session().commit()
        spawn(found.id)
    return done(translate(ACTIONS[action][1]), url_for("console.printing.job", job_id=job_id))


@bp.get("/")
@require("packing")
def index() -> tuple[str, int]:
    me = user()
    station = None if me.org_kind == "operator" else me.org_id
    jobs = printing.list_jobs(
        get_session(), now(), station=station, batch_id=request.args.get("batch") or None
    )
    orgs, _places, _products = queries.names(get_session())
    return page("printing.html", jobs=jobs, orgs=orgs, reprints=[j for j in jobs if j.reprint])
