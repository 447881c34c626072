"""The code resolver: what a phone opens when it scans a label (docs/codes.md §9).

Routes: `/01/<gtin>[/10/<lot>]/21/<serial>` (GS1 Digital Link; the upper-case form of a QR
arrives as the same path) and `/c/<serial>`, `/C/<serial>` (short form). One URI, several
answers: HTML for people (the scan, counted), `Accept: application/json` for programs,
`?linkType=all` for an RFC 9264 linkset, `?linkType=gs1:pip` (or another listed type) for a
redirect. Only a GET of the HTML page by something that is not a bot counts as a scan.

The view is thin: trace.codes.facts.scan_facts assembles everything; this module picks the
answer's form, charges the enumeration limiter and owns the transactions. A counted scan
writes, in the session web/public/scan_writer.py gives it (on SQLite a short write-intent
transaction of its own, on PostgreSQL the request's).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import quote

from flask import Response, current_app, g, json, redirect, render_template, request
from sqlalchemy.orm import Session

from farmtrace.ledger.db import write_engine
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.keys import MasterKey
from farmtrace.trace.codes.facts import ScanFacts, certificates, facts_json, scan_facts
from farmtrace.trace.codes.keys import SerialKeyStore
from farmtrace.trace.codes.resolve import identify
from farmtrace.trace.codes.scans import SaltCache, Scanner, day_of, salt_for, scanner_for
from farmtrace.trace.codes.throttle import TokenBucket
from farmtrace.trace.errors import InvalidInput, TraceError
from farmtrace.trace.serials import SerialKeyring
from farmtrace.web.db import get_engine, get_session
from farmtrace.web.i18n import translate
from farmtrace.web.metrics import count_scan
from farmtrace.web.problems import problem
from farmtrace.web.public import bp
from farmtrace.web.public.scan_story import scan_page_extras
from farmtrace.web.public.scan_writer import scan_writer
from farmtrace.web.settings import Settings

LINKSET_JSON: Final = "application/linkset+json"
GS1_VOC: Final = "https://gs1.org/voc/"
KEYRING_TTL_S: Final = 60.0
CHINA_TIME: Final = timezone(timedelta(hours=8))
# Link previews and crawlers fetch pages nobody scanned; they must not count.
BOT_MARKERS: Final = ("bot", "spider", "crawl", "preview", "facebookexternalhit", "curl", "wget")
MASTER_KEY_FILE: Final = "master.key"


@dataclass
class ResolverState:
    """Per-process caches (one per app, so one per gunicorn worker)."""

    bucket: TokenBucket = field(default_factory=TokenBucket)
    salts: SaltCache = field(default_factory=SaltCache)
    keyring: SerialKeyring | None = None
    keyring_loaded: float = 0.0
    master: MasterKey | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _state() -> ResolverState:
    state = current_app.extensions.get("farmtrace.resolver")
    if state is None:
        state = current_app.extensions.setdefault("farmtrace.resolver", ResolverState())
    return state


def _settings() -> Settings:
    return current_app.config["FARMTRACE"]


def _keyring(state: ResolverState, session: Session) -> SerialKeyring:
    """The serial keys, re-read every minute so a key added by `farmtrace codes issue` is seen."""
    with state.lock:
        if state.keyring is not None and time.monotonic() - state.keyring_loaded < KEYRING_TTL_S:
            return state.keyring
        if state.master is None:
            state.master = MasterKey.load(_settings().keys_dir / MASTER_KEY_FILE)
        state.keyring = SerialKeyStore(session, state.master).keyring()
        state.keyring_loaded = time.monotonic()
        return state.keyring


def _scanner(state: ResolverState, now: datetime) -> Scanner:
    def load(day: Any) -> bytes:
        with Session(write_engine(get_engine())) as session:
            salt = salt_for(session, day)
            session.commit()
            return salt

    return scanner_for(state.salts.get(day_of(now), load), request.remote_addr)


def _origin() -> str:
    """Scheme and host of the public base URL: the domain printed on labels."""
    scheme, rest = _settings().public_base_url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _requested_uri() -> str:
    """The URI as the phone sent it: the raw path keeps %2F in a lot from being decoded."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    path = raw.split("?", 1)[0] if raw else quote(request.path, safe="/:@!$&'()*+,;=-._~")
    query = request.query_string.decode("latin-1")
    return _origin() + path + (f"?{query}" if query else "")


@bp.route("/01/<path:_rest>", methods=["GET"])
def digital_link(_rest: str) -> Response:
    return resolve()


@bp.route("/c/<path:_serial>", methods=["GET"])
@bp.route("/C/<path:_serial>", methods=["GET"])
def short_link(_serial: str) -> Response:
    return resolve()


def resolve() -> Response:
    state = _state()
    now = datetime.now(UTC)
    uri = _requested_uri()
    link_type = request.args.get("linkType")
    wants_json = request.accept_mimetypes.best == "application/json"
    agent = (request.user_agent.string or "").lower()
    counted = (
        request.method == "GET"
        and link_type is None
        and not wants_json
        and not any(marker in agent for marker in BOT_MARKERS)
    )
    try:
        scanner = _scanner(state, now)
        keyring = _keyring(state, get_session())
    except (LedgerError, TraceError):
        return problem(503, "Service Unavailable", "The code resolver is not configured on this server.")
    if not state.bucket.allowed(scanner.client_hash):
        # Over the limit: genuine codes still resolve; anything failing the (database-free)
        # check character or MAC is refused at once.
        try:
            identify(keyring, uri)
        except InvalidInput:
            return _throttled(state, scanner)
    # The HTML page of an issued code shows the certificates from the batch's story.
    with_certificates = wants_json or link_type is not None
    if counted:
        with scan_writer() as writer:
            facts = scan_facts(
                get_session(),
                uri,
                keyring=keyring,
                now=now,
                scanner=scanner,
                domain=_domain(),
                writer=writer,
                with_certificates=with_certificates,
            )
    else:
        facts = scan_facts(
            get_session(),
            uri,
            keyring=keyring,
            now=now,
            domain=_domain(),
            with_certificates=with_certificates,
        )
    if not facts.issued:
        state.bucket.charge(scanner.client_hash)
    if counted:
        count_scan(_outcome(facts))
    if link_type is not None and facts.issued:
        return _links(facts, link_type)
    if wants_json or link_type is not None:
        return _json(facts)
    return _page(facts)


def _outcome(facts: ScanFacts) -> str:
    if facts.status == "genuine":
        return "recalled" if facts.recalled else "ok"
    return {"voided": "voided", "typo": "typo", "invalid": "invalid"}.get(facts.status, "unknown_code")


def _domain() -> str:
    return _origin().split("://", 1)[1]


def _status(facts: ScanFacts) -> int:
    return 200 if facts.issued else 404


def _linkset_header(facts: ScanFacts) -> dict[str, str]:
    if not facts.issued or facts.uri is None:
        return {}
    return {"Link": f'<{facts.uri}?linkType=all>; rel="linkset"; type="{LINKSET_JSON}"'}


def _json(facts: ScanFacts) -> Response:
    body = facts_json(facts)
    response = Response(
        json.dumps(body, ensure_ascii=False), status=_status(facts), mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept"
    response.headers.update(_linkset_header(facts))
    return response


def _page(facts: ScanFacts) -> Response:
    view = _view(facts)
    extra: dict[str, Any] = {"story": None, "report": None}
    if facts.issued and facts.batch_id:
        extra = scan_page_extras(facts, view["signals"])
        if extra["story"] is None and facts.product_id:  # then the page lists them itself
            found = certificates(get_session(), facts.product_id, facts.batch_id)
            view = _view(replace(facts, certificates=found))
    html = render_template("public/scan.html", facts=facts, view=view, **extra)
    response = Response(html, status=_status(facts), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # every view shows the latest count
    response.headers["Vary"] = "Accept"
    response.headers.update(_linkset_header(facts))
    return response


def _throttled(state: ResolverState, scanner: Scanner) -> Response:
    wait = state.bucket.retry_after(scanner.client_hash)
    response = problem(429, "Too Many Requests", translate("scan.throttled", seconds=wait))
    response.headers["Retry-After"] = str(wait)
    return response


# -- linkset (RFC 9264) and GS1 link types -------------------------------------------------


def linkset(facts: ScanFacts) -> dict[str, Any]:
    """The links of an issued code, as an RFC 9264 §4.2 JSON linkset (GS1 link types)."""
    origin = _origin()
    page = {
        "href": _browser_form(facts.uri),
        "type": "text/html",
        "hreflang": ["zh", "en"],
        "title": _product_title(facts),
    }
    context: dict[str, Any] = {
        "anchor": facts.uri,
        GS1_VOC + "defaultLink": [page],
        GS1_VOC + "pip": [page],
    }
    if _epcis_export_available():
        context[GS1_VOC + "traceability"] = [
            {
                "href": f"{origin}/api/v1/batches/{facts.batch_id}/epcis",
                "type": "application/ld+json",
                "title": f"EPCIS 2.0 events of batch {facts.batch_id}",
            }
        ]
    if facts.certificates:
        context[GS1_VOC + "certificationInfo"] = [
            {
                "href": f"{_browser_form(facts.uri)}#cert-{index}",
                "type": "text/html",
                "title": f"{cert.scheme} {cert.number} ({cert.issuer}, valid until {cert.valid_until.isoformat()})",
            }
            for index, cert in enumerate(facts.certificates, start=1)
        ]
    return {"linkset": [context]}


def _browser_form(uri: str | None) -> str:
    """The label URI with its scheme and host in lower case, as browsers write them."""
    scheme, _, rest = (uri or "").partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def _epcis_export_available() -> bool:
    # The EPCIS export belongs to the API; list it only where this build has it.
    try:
        from farmtrace.trace.epcis_export import export_batch  # noqa: F401
    except ImportError:
        return False
    return True


def _product_title(facts: ScanFacts) -> str:
    return f"{facts.product_name_zh} · {facts.lot}"


def _links(facts: ScanFacts, link_type: str) -> Response:
    links = linkset(facts)
    if link_type == "all":
        response = Response(json.dumps(links, ensure_ascii=False), mimetype=LINKSET_JSON)
        response.headers["Cache-Control"] = "no-store"
        return response
    name = link_type.removeprefix("gs1:").removeprefix(GS1_VOC)
    found = links["linkset"][0].get(GS1_VOC + name)
    if not found:
        found = links["linkset"][0][GS1_VOC + "defaultLink"]  # GS1: fall back to the default link
    response = redirect(found[0]["href"], code=307)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- what the page shows ---------------------------------------------------------------------


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _view(facts: ScanFacts) -> dict[str, Any]:
    """Texts the template shows, already translated; the template only escapes and lays out."""
    verdict = {
        "genuine": "scan.genuine",
        "voided": "scan.voided",
        "not_genuine": "scan.not_genuine",
        "typo": "scan.typo",
        "invalid": "scan.invalid",
    }[facts.status]
    return {
        "verdict": translate(verdict),
        "explain": translate(verdict + ".explain"),
        "signals": [
            {
                "level": signal.level,
                "text": translate(
                    f"signal.{signal.code}",
                    count=signal.count or 0,
                    since=_local(signal.since),
                    reason=signal.reason or "",
                ),
            }
            for signal in facts.signals
        ],
        "count": facts.scans.count if facts.scans else 0,
        "first_at": _local(facts.scans.first_at) if facts.scans else "",
        "product_name": (facts.product_name_en if g.get("locale") == "en" else None) or facts.product_name_zh,
        "certificates": [
            {
                "id": f"cert-{index}",
                "text": f"{cert.scheme} {cert.number}",
                "issuer": cert.issuer,
                "until": cert.valid_until.isoformat(),
            }
            for index, cert in enumerate(facts.certificates, start=1)
        ],
    }
