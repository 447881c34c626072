"""The security tests' county (this module holds no tests): every text a cooperative, lab,
carrier, station, packing station, the operator or a consumer can type is an XSS payload
(web_security_kit.Payloads), stored through the API, the console and the public report
form. Built once per test session; each test module works on a fresh copy of its database.

What it holds: the operator and six organisations (coop-a, coop-b, lab-a, carrier-a,
station-a, packer-a) with a token each and the console USERS; five places; three products,
one with a certificate; batch A carried through a whole season (every recordable event
type, a correction, codes with a void and a reprint, a lab report PDF, a forwarded and a
consumer's complaint); a split, a merge and a transform; a recall in force and one lifted;
two self-custody keys of the lab, one revoked; two print jobs; and a signed checkpoint.
"""

from __future__ import annotations

import base64
import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from sqlalchemy.engine import make_url
from test_web_console_kit import Console
from web_security_kit import (
    GTIN,
    OPERATOR,
    PASSWORD,
    PDF,
    USERS,
    County,
    Payloads,
    Recorder,
    make_app,
    signed_in,
)

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.ledger.note import SignerKey
from farmtrace.ledger.sequencer import integrate
from farmtrace.trace import accounts
from farmtrace.trace.services import trace_services
from farmtrace.trace.tokens import SCOPES
from farmtrace.web.api.context import MASTER_KEY_FILE
from farmtrace.web.settings import Settings

_COUNTY: dict[str, County] = {}
PRINT_ROUTE = "/console/printing/batches/{batch_id}/new"

PLACES = (
    {"id": "wuhua", "kind": "county"},
    {"id": "wuhua.changbu", "kind": "town", "parent": "wuhua"},
    {"id": "wuhua.changbu.yuanqiao", "kind": "village", "parent": "wuhua.changbu"},
    {"id": "xss-field", "kind": "field", "parent": "wuhua.changbu"},
    {"id": "county-warehouse", "kind": "warehouse", "parent": "wuhua"},
)
ORGS = (
    {"id": "coop-a", "kind": "cooperative", "place": "wuhua.changbu"},
    {"id": "coop-b", "kind": "cooperative"},
    {"id": "lab-a", "kind": "lab"},
    {"id": "carrier-a", "kind": "carrier"},
    {"id": "station-a", "kind": "village_station", "place": "wuhua.changbu.yuanqiao"},
    {"id": "packer-a", "kind": "packing_station"},
)


def county(database_factory: Any) -> County:
    """The seeded county (built the first time a test session asks for it)."""
    if "county" not in _COUNTY:
        home = database_factory.root / "security-county-home"
        url = database_factory.new_url()
        with pytest.MonkeyPatch.context() as patch:
            # scrypt at 2**10: the cost travels in each stored hash, so later logins are cheap too.
            patch.setattr(accounts, "SCRYPT_N", 2**10)
            patch.setattr(accounts, "_DUMMY_HASH", None)
            app = make_app(url, home)
            try:
                _COUNTY["county"] = Seeder(app).run(url, home)
            finally:
                app.extensions["farmtrace.engine"].dispose()
    return _COUNTY["county"]


def county_app(database_factory: Any, home: Path, seeded: County, **config: Any) -> Flask:
    """An app on a fresh copy of the seeded county's database, with its master key."""
    (home / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
    master = home / "keys" / MASTER_KEY_FILE
    shutil.copyfile(seeded.home / "keys" / MASTER_KEY_FILE, master)
    master.chmod(0o600)
    return make_app(_copy_database(database_factory, seeded.url), home, **config)


def _copy_database(factory: Any, url: str) -> str:
    name = f"ft_{uuid.uuid4().hex[:12]}"
    if factory.backend == "sqlite":
        path = factory.root / f"{name}.sqlite3"
        shutil.copyfile(url.removeprefix("sqlite:///"), path)
        return f"sqlite:///{path}"
    factory._admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"')
    factory.created.append(name)
    return factory._url_for(name)


class Seeder:
    """Types the county in, step by step, as its people and their software would."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.p = Payloads()
        self.typed: set[tuple[str, str, str]] = set()
        self.where: dict[str, str] = {}
        self.api = Recorder(app, self.typed, self.where)
        self.ids: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.today = datetime.now(UTC).date()
        self.registered_at = (datetime.now(UTC) - timedelta(days=5)).isoformat()

    def run(self, url: str, home: Path) -> County:
        self.tokens[OPERATOR] = self._bootstrap()
        self.registry()
        self.season()
        self.lineage_and_recalls()
        self.keys()
        self.complaints()
        self.print_jobs()
        self._publish_checkpoint()
        return County(url, home, self.tokens, self.ids, dict(self.p.texts), self.typed, self.where)

    def post(self, path: str, org: str, body: Any, status: int = 201, **kwargs: Any) -> Any:
        return self.api.call("POST", path, self.tokens[org], body, status, **kwargs)

    def batch(self, org: str, lot: str, product: str = "xss-product", **payload: Any) -> str:
        body = {
            "event_time": self.registered_at,
            "payload": {"product": product, "lot": lot, "unit": "kg", **payload},
        }
        return self.post("/api/v1/batches", org, body)["batch"]

    def record(self, org: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.post(
            f"/api/v1/batches/{self.ids['batch']}/events/{event_type}", org, {"payload": payload}
        )

    # -- the steps -------------------------------------------------------------------------

    def _bootstrap(self) -> str:
        settings: Settings = self.app.config["FARMTRACE"]
        master = MasterKey.load_or_create(settings.keys_dir / MASTER_KEY_FILE)
        _readers, writers = self.app.extensions["farmtrace.sessions"]
        with writers() as session:
            services = trace_services(session, KeyStore(session, master))
            name = self.p(100)
            self.where[name] = "bootstrap: the operator's name_zh"
            services.orgs.bootstrap_operator({"id": OPERATOR, "name_zh": name})
            issued = services.tokens.issue(OPERATOR, OPERATOR, "bootstrap", list(SCOPES))
            session.commit()
            return issued.secret

    def registry(self) -> None:
        p = self.p
        for place in PLACES:
            self.post("/api/v1/places", OPERATOR, {**place, "name_zh": p(100), "name_en": p(100)})
        for org in ORGS:
            # coop-b's names are short enough for a label (its batch is printed below).
            size = 24 if org["id"] == "coop-b" else 100
            self.post("/api/v1/orgs", OPERATOR, {**org, "name_zh": p(size), "name_en": p(size)})
            body = {"name": p(100), "scopes": list(SCOPES)}
            self.tokens[org["id"]] = self.post(f"/api/v1/orgs/{org['id']}/tokens", OPERATOR, body)["secret"]
        for username, (org, roles) in USERS.items():
            body = {"username": username, "display_name": p(100), "password": PASSWORD, "roles": roles}
            self.ids[f"user:{username}"] = self.post(f"/api/v1/orgs/{org}/users", OPERATOR, body)["id"]
        product = {"category": "vegetable", "unit": "kg"}
        names = {"name_zh": p(100), "name_en": p(100), "specification": p(100)}
        self.post("/api/v1/products", "coop-a", {**product, "id": "xss-product", "gtin": GTIN, **names})
        self.post(
            "/api/v1/products", "coop-b", {**product, "id": "b-rice", "name_zh": p(100), "name_en": p(100)}
        )
        # Short enough for a label: the printer does not shrink text below 2 mm.
        short = {"name_zh": p(24), "name_en": p(24)}
        self.post("/api/v1/products", "coop-b", {**product, "id": "label-product", **short})
        certificate = {
            "scheme": "green_food",
            "certificate_number": p(64),
            "issuer": p(200),
            "valid_from": (self.today - timedelta(days=30)).isoformat(),
            "valid_until": (self.today + timedelta(days=300)).isoformat(),
        }
        self.post("/api/v1/products/xss-product/certificates", OPERATOR, certificate)
        report = self.post(
            "/api/v1/documents",
            "lab-a",
            None,
            query_string={"filename": p(200)},
            data=PDF,
            content_type="application/pdf",
        )
        self.ids["document"] = report["sha256"]

    def season(self) -> None:
        """Batch A from registration to sale: every recordable event type, each text a payload."""
        p = self.p
        self.ids["batch"] = a = self.batch(
            "coop-a", p.lot(0), origin_place="xss-field", expected_quantity="1000", notes=p(500)
        )
        fertiliser = {
            "kind": "fertiliser",
            "product_name": p(100),
            "registration_number": p(64),
            "active_ingredient": p(100),
            "dose": "300",
            "dose_unit": "kg/mu",
            "notes": p(500),
        }
        farming = self.record("coop-a", "farming.input", fertiliser)
        correction = {"amends": farming["hash"], "reason": p(500), "payload": {**fertiliser, "dose": "250"}}
        self.post(f"/api/v1/batches/{a}/corrections", "coop-a", correction)
        self.record(
            "coop-a",
            "farming.harvested",
            {"quantity": "900", "unit": "kg", "place": "xss-field", "notes": p(500)},
        )
        self.record("coop-a", "processing.recorded", {"step": p(64), "description": p(500)})
        result = {
            "analyte": p(100),
            "method": "GB/T 20769-2008",
            "value": "0.01",
            "limit": "0.5",
            "limit_standard": p(64),
            "unit": "mg/kg",
            "verdict": "pass",
        }
        tested = {
            "sample_id": p(64),
            "report_sha256": self.ids["document"],
            "results": [result],
            "verdict": "pass",
        }
        self.record("lab-a", "lab.tested", {**tested, "notes": p(500)})
        certification = {
            "scheme": "organic",
            "certificate_number": p(64),
            "issuer": p(200),
            "valid_from": (self.today - timedelta(days=10)).isoformat(),
            "valid_until": (self.today + timedelta(days=200)).isoformat(),
        }
        self.record(OPERATOR, "certification.attached", certification)
        self.record(OPERATOR, "conformity.decided", {"decision": "conformant", "reason": p(500)})
        packed = {"packages": 90, "package": "box", "net_quantity": "10", "net_unit": "kg", "notes": p(500)}
        self.record("coop-a", "packing.packed", packed)
        now = datetime.now(UTC)
        readings = [{"time": (now - timedelta(hours=h)).isoformat(), "celsius": "4.5"} for h in (3, 2)]
        cold = {"min_celsius": "2", "max_celsius": "8", "readings": readings, "device": p(64)}
        self.record("coop-a", "logistics.temperature", cold)
        pickup = {"carrier": "carrier-a", "place": "xss-field", "vehicle": p(32), "notes": p(500)}
        self.record("coop-a", "logistics.picked_up", pickup)
        self.record("carrier-a", "logistics.warehouse_in", {"place": "county-warehouse", "notes": p(500)})
        self.record("carrier-a", "logistics.warehouse_out", {"place": "county-warehouse", "notes": p(500)})
        handoff = {"to": "packer-a", "place": "county-warehouse", "notes": p(500)}
        self.record("carrier-a", "logistics.handed_off", handoff)
        self.codes(a)
        delivery = {"station": "station-a", "place": "wuhua.changbu.yuanqiao", "notes": p(500)}
        self.record("packer-a", "logistics.delivered", delivery)
        sale = {
            "channel": "shop",
            "order_reference": "ORDER-1",
            "quantity": "5",
            "unit": "kg",
            "notes": p(500),
        }
        self.record("station-a", "sale.recorded", sale)

    def codes(self, batch: str) -> None:
        issued = self.post(f"/api/v1/batches/{batch}/codes", "packer-a", {"count": 20})
        self.ids["range"] = issued["range"]
        self.ids["serial"] = issued["first_serial"]
        headers = {"Authorization": f"Bearer {self.tokens['packer-a']}"}
        ranges = self.api.client.get(f"/api/v1/batches/{batch}/codes", headers=headers).json
        self.ids["voided_serial"] = ranges["items"][0]["last_serial"]
        self.post(
            "/api/v1/codes/voids", "packer-a", {"code": self.ids["voided_serial"], "reason": self.p(500)}
        )
        self.post("/api/v1/codes/reprints", "packer-a", {"range": self.ids["range"], "reason": self.p(500)})

    def lineage_and_recalls(self) -> None:
        p = self.p
        whole = [self.batch("coop-a", f"W{n}", quantity="100", origin_place="xss-field") for n in range(3)]
        outputs = [{"quantity": "40", "lot": p.lot(1)}, {"quantity": "60", "lot": p.lot(2)}]
        split = self.post("/api/v1/lineage/split", "coop-a", {"batch": whole[0], "outputs": outputs})
        self.ids["split_output"] = split["outputs"][0]
        merge = {"inputs": [{"batch": b} for b in split["outputs"]], "output": {"lot": p.lot(3)}}
        self.post("/api/v1/lineage/merge", "coop-a", merge)
        transform = {
            "inputs": [{"batch": whole[1], "quantity": "100"}],
            "outputs": [{"product": "xss-product", "quantity": "80", "lot": p.lot(4)}],
        }
        self.post("/api/v1/lineage/transform", "coop-a", transform)
        # One recall in force, one lifted.
        self.ids["recalled_batch"] = recalled = self.batch("coop-a", "R1", expected_quantity="10")
        recall = self.post(f"/api/v1/batches/{recalled}/recalls", OPERATOR, {"reason": p(500), "level": 2})
        self.ids["recall"] = recall["recall_id"]
        lifted = self.post(f"/api/v1/batches/{whole[2]}/recalls", OPERATOR, {"reason": p(500), "level": 3})
        self.post(f"/api/v1/recalls/{lifted['recall_id']}/lift", OPERATOR, {"reason": p(500)})
        self.ids["lifted_recall"] = lifted["recall_id"]

    def keys(self) -> None:
        """Two self-custody keys of the lab; the second revoked with a reason."""
        for name in ("key", "revoked_key"):
            public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            body = {"public_key": base64.b64encode(public).decode()}
            self.ids[name] = self.post("/api/v1/orgs/lab-a/keys", "lab-a", body)["key_id"]
        self.post(
            f"/api/v1/keys/{self.ids['revoked_key']}/revoke", OPERATOR, {"reason": self.p(500)}, status=200
        )

    def complaints(self) -> None:
        """A complaint forwarded through the API and handled with notes; one through the public form."""
        a = self.ids["batch"]
        body = {"problem_type": "quality", "text": self.p(1000), "phone": "13800138000"}
        self.ids["complaint"] = complaint = self.post(f"/api/v1/batches/{a}/complaints", "station-a", body)[
            "id"
        ]
        handled = {"status": "in_progress", "notes": self.p(1000)}
        self.post(f"/api/v1/complaints/{complaint}/handle", OPERATOR, handled, status=200)
        consumer = Console(self.app.test_client())
        form = consumer.get(f"/batch/{a}/report?serial={self.ids['serial']}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, form.text
        data = {
            "csrf_token": token.group(1),
            "problem_type": "other",
            "text": self.p(1000),
            "serial": self.ids["serial"],
        }
        sent = consumer.client.post(f"/batch/{a}/report", data=data)
        assert sent.status_code == 200, sent.text
        self.typed.add(("POST", "/batch/{batch_id}/report", "text"))

    def print_jobs(self) -> None:
        """Two console print jobs: a brand on the first, a reprint reason on the second."""
        labelled = self.batch("coop-b", "P1", product="label-product", expected_quantity="10")
        self.ids["print_range"] = self.post(f"/api/v1/batches/{labelled}/codes", "packer-a", {"count": 10})[
            "range"
        ]
        packing = signed_in(self.app, "packer-user")
        path = f"/console/printing/batches/{labelled}/new"
        for fields in ({"brand": self.p(24)}, {"reprint_reason": self.p(200)}):
            self.where.update({text: f"POST {PRINT_ROUTE} {name}" for name, text in fields.items()})
            client_id = re.search(r'name="client_id" value="([^"]+)"', packing.get(path).text)
            form = {
                "range": str(self.ids["print_range"]),
                "count": "2",
                "start": "0",
                "layout": "70x50",
                "format": "zpl",
                "printer": "spool:xss",
                "dpi": "203",
                "client_id": client_id.group(1) if client_id else "",
            }
            started = packing.post(path, {**form, **fields})
            assert started.status_code == 303, started.text
            self.ids["print_job"] = int(started.headers["Location"].rsplit("/", 1)[1])
            self.typed.update(("POST", PRINT_ROUTE, name) for name in fields)

    def _publish_checkpoint(self) -> None:
        """Integrate every entry and sign a checkpoint, as the sequencer would."""
        settings: Settings = self.app.config["FARMTRACE"]
        master = MasterKey.load_or_create(settings.keys_dir / MASTER_KEY_FILE)
        _readers, writers = self.app.extensions["farmtrace.sessions"]
        with writers() as session:
            integrate(session, SignerKey(settings.log_origin, KeyStore(session, master).log_key().seed))
            session.commit()
