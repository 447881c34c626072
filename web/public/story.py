"""The consumer's story of a batch: a view model for the scan and batch pages.

`build_story(StoryInput, tr)` is pure: it takes what the loader (web/public/story_load.py)
read from the database — the batch view, its ledger entries, place and organisation names,
the scan facts of a scanned code, the server's own check of the record — and returns
frozen dataclasses with every text already translated by `tr`. The templates only escape
and lay out; nothing here builds HTML, so producer-typed text is never trusted as markup.

Bad news first: `warnings` lists everything a consumer must not miss (recall, failed or
missing test, pre-harvest interval, cold chain, expired certificate, suspected copy,
voided code, a record that failed verification), most serious first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

CHINA_TIME: Final = timezone(timedelta(hours=8))
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}\Z")
BATCH_ID: Final = re.compile(r"B[0-9A-Z]{12}\Z")
# Scan signals (trace/codes/signals.py) that point at a copied label.
COUNTERFEIT_SIGNALS: Final = frozenset({"repeat_scans", "burst", "before_packing", "not_packed"})
PRODUCER_KINDS: Final = ("cooperative", "base", "enterprise", "company", "farm")

Translate = Callable[..., str]


@dataclass(frozen=True)
class PlaceName:
    name_zh: str
    name_en: str | None
    kind: str
    parent: str | None


@dataclass(frozen=True)
class ServerCheck:
    """The server's verify_batch of the stored record: ok, failed (with why) or pending."""

    status: str  # "ok", "failed", "pending"
    entries: int = 0
    tree_size: int = 0
    detail: str = ""


@dataclass(frozen=True)
class ScanInfo:
    """What the page needs from trace.codes.facts.ScanFacts (none for /batch/<id>)."""

    status: str  # genuine, voided
    serial: str
    count: int
    first_at: datetime | None
    void_reason: str | None
    signals: tuple[tuple[str, str, str], ...]  # (code, level, translated text)


@dataclass(frozen=True)
class StoryInput:
    batch: Mapping[str, Any]  # BatchView.to_json()
    entries: Sequence[Mapping[str, Any]]  # the chain's entries (the "entry" objects), seq order
    places: Mapping[str, PlaceName]
    orgs: Mapping[str, str]  # id -> Chinese name
    check: ServerCheck
    witnesses: int = 0
    checkpoint_size: int = 0
    scan: ScanInfo | None = None
    locale: str = "zh"
    today: date | None = None


@dataclass(frozen=True)
class Alert:
    code: str
    level: str  # "bad" (do not eat / do not trust) or "warn"
    title: str
    text: str
    action: str = ""


@dataclass(frozen=True)
class Verdict:
    code: str  # "code", "tests", "recall", "chain"
    state: str  # "ok", "bad", "warn", "none"
    text: str


@dataclass(frozen=True)
class TestRow:
    analyte: str
    standard: str
    value: str
    limit: str
    verdict: str
    verdict_text: str


@dataclass(frozen=True)
class Step:
    kind: str  # the group: input, harvest, processing, lab, cert, packing, logistics, sale, recall, other
    when: str
    title: str
    who: str
    lines: tuple[str, ...] = ()
    tests: tuple[TestRow, ...] = ()
    report_sha256: str | None = None
    bad: bool = False


@dataclass(frozen=True)
class Certificate:
    text: str
    issuer: str
    until: str
    valid: bool


@dataclass(frozen=True)
class Story:
    batch_id: str
    lot: str
    product: str
    specification: str
    producers: tuple[str, ...]
    town: str
    village: str
    origin: str
    harvest_date: str
    production_date: str
    verdicts: tuple[Verdict, ...]
    alerts: tuple[Alert, ...]
    steps: tuple[Step, ...]
    certificates: tuple[Certificate, ...]
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    poverty_mark: bool
    witnesses: int
    checkpoint_size: int
    check: ServerCheck
    scan: ScanInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bad(self) -> bool:
        return any(a.level == "bad" for a in self.alerts)


def local_time(text_or_moment: str | datetime | None) -> str:
    if not text_or_moment:
        return ""
    moment = datetime.fromisoformat(text_or_moment) if isinstance(text_or_moment, str) else text_or_moment
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _name(names: Mapping[str, PlaceName], place_id: object, locale: str) -> str:
    if not isinstance(place_id, str) or not place_id:
        return ""
    place = names.get(place_id)
    if place is None:
        return place_id
    return (place.name_en if locale == "en" and place.name_en else None) or place.name_zh


def _ancestor(names: Mapping[str, PlaceName], place_id: str | None, kind: str, locale: str) -> str:
    seen = 0
    while place_id and seen < 16:
        place = names.get(place_id)
        if place is None:
            return ""
        if place.kind == kind:
            return _name(names, place_id, locale)
        place_id, seen = place.parent, seen + 1
    return ""


def build_story(data: StoryInput, tr: Translate) -> Story:
    batch = data.batch
    locale = data.locale
    product = batch["product"]
    name = (product.get("name_en") if locale == "en" else None) or product["name_zh"]
    producers = sorted(batch["producers"], key=lambda p: (p["kind"] not in PRODUCER_KINDS, p["id"]))
    steps = tuple(_step(entry, data, tr) for entry in data.entries)
    harvests = [e for e in data.entries if e.get("type") == "farming.harvested"]
    certificates = _certificates(batch)
    return Story(
        batch_id=batch["id"],
        lot=batch["lot"],
        product=name,
        specification=product.get("specification") or "",
        producers=tuple(p["name_zh"] for p in producers),
        town=_ancestor(data.places, batch.get("origin_place"), "town", locale),
        village=_ancestor(data.places, batch.get("origin_place"), "village", locale),
        origin=_name(data.places, batch.get("origin_place"), locale),
        harvest_date=local_time(harvests[0]["event_time"])[:10] if harvests else "",
        production_date=batch.get("production_date") or "",
        verdicts=_verdicts(data, tr),
        alerts=tuple(_alerts(data, certificates, tr)),
        steps=steps,
        certificates=certificates,
        upstream=tuple(e["batch"] for e in batch["inputs"] if BATCH_ID.match(e["batch"])),
        downstream=tuple(e["batch"] for e in batch["outputs"] if BATCH_ID.match(e["batch"])),
        poverty_mark=bool(batch.get("poverty_mark")),
        witnesses=data.witnesses,
        checkpoint_size=data.checkpoint_size,
        check=data.check,
        scan=data.scan,
    )


# -- the verdict strip and the warnings -------------------------------------------------------


def _verdicts(data: StoryInput, tr: Translate) -> tuple[Verdict, ...]:
    batch, out = data.batch, []
    if data.scan is not None:
        genuine = data.scan.status == "genuine"
        out.append(
            Verdict(
                "code", "ok" if genuine else "bad", tr("story.v.code_ok" if genuine else "story.v.code_void")
            )
        )
    tests = batch["lab_tests"]
    if not tests:
        out.append(Verdict("tests", "warn", tr("story.v.tests_none")))
    elif any(t["verdict"] != "pass" for t in tests):
        out.append(Verdict("tests", "bad", tr("story.v.tests_fail")))
    else:
        out.append(Verdict("tests", "ok", tr("story.v.tests_ok", n=len(tests))))
    recalled = any(r["active"] for r in batch["recalls"]) or batch["recalled"]
    out.append(
        Verdict(
            "recall",
            "bad" if recalled else "ok",
            tr("story.v.recalled" if recalled else "story.v.not_recalled"),
        )
    )
    check = data.check
    chain = {
        "ok": ("ok", tr("story.v.server_ok", n=check.entries)),
        "failed": ("bad", tr("story.v.server_failed")),
        "pending": ("warn", tr("story.v.server_pending")),
    }[check.status]
    out.append(Verdict("chain", *chain))
    return tuple(out)


def _alerts(data: StoryInput, certificates: tuple[Certificate, ...], tr: Translate) -> list[Alert]:
    batch, alerts = data.batch, []
    for recall in batch["recalls"]:
        if recall["active"]:
            alerts.append(
                Alert(
                    "recalled", "bad", tr("story.w.recalled"), recall["reason"], tr("story.w.recalled.action")
                )
            )
    if batch["recalled"] and not any(r["active"] for r in batch["recalls"]):
        alerts.append(Alert("recalled", "bad", tr("story.w.recalled"), "", tr("story.w.recalled.action")))
    scan = data.scan
    if scan is not None and scan.status == "voided":
        alerts.append(
            Alert("voided", "bad", tr("story.w.voided"), scan.void_reason or "", tr("story.w.voided.action"))
        )
    if data.check.status == "failed":
        alerts.append(
            Alert("tampered", "bad", tr("story.w.tampered"), data.check.detail, tr("story.w.tampered.action"))
        )
    for test in batch["lab_tests"]:
        for result in test["results"]:
            if result.get("verdict") == "fail":
                alerts.append(
                    Alert(
                        "lab_failed",
                        "bad",
                        tr("story.w.lab_failed"),
                        _result_text(result, tr),
                        tr("story.w.lab_failed.action"),
                    )
                )
    for flag in batch["flags"]:
        if flag["kind"] == "pre_harvest_interval":
            alerts.append(Alert("phi", "bad", tr("story.w.phi"), flag["message"], tr("story.w.phi.action")))
        elif flag["kind"] == "temperature_excursion":
            alerts.append(
                Alert(
                    "cold_chain",
                    "warn",
                    tr("story.w.cold_chain"),
                    flag["message"],
                    tr("story.w.cold_chain.action"),
                )
            )
    if scan is not None:
        for code, _level, text in scan.signals:
            if code in COUNTERFEIT_SIGNALS:
                alerts.append(
                    Alert(
                        "counterfeit",
                        "bad" if code == "burst" else "warn",
                        tr("story.w.counterfeit"),
                        text,
                        tr("story.w.counterfeit.action"),
                    )
                )
    if not batch["lab_tests"]:
        alerts.append(Alert("no_test", "warn", tr("story.w.no_test"), "", tr("story.w.no_test.action")))
    for cert in certificates:
        if not cert.valid:
            alerts.append(
                Alert("cert_expired", "warn", tr("story.w.cert_expired"), f"{cert.text} · {cert.until}", "")
            )
    alerts.sort(key=lambda a: a.level != "bad")  # stable: bad news first, in the order above
    return alerts


def _result_text(result: Mapping[str, Any], tr: Translate) -> str:
    return tr(
        "story.result",
        analyte=result.get("analyte", ""),
        value=result.get("value", ""),
        unit=result.get("unit", ""),
        limit=result.get("limit", "—"),
        standard=result.get("limit_standard", ""),
    )


def _certificates(batch: Mapping[str, Any]) -> tuple[Certificate, ...]:
    found = [*batch["product"].get("certificates", []), *batch["certificates"]]
    return tuple(
        Certificate(
            text=f"{c.get('scheme_name_zh') or c.get('scheme', '')} {c.get('number', '')}".strip(),
            issuer=c.get("issuer", ""),
            until=str(c.get("valid_until", "")),
            valid=bool(c.get("valid", True)),
        )
        for c in found
    )


# -- the timeline -----------------------------------------------------------------------------

_GROUPS: Final = {
    "batch.registered": "registered",
    "farming.input": "input",
    "farming.harvested": "harvest",
    "processing.recorded": "processing",
    "lab.tested": "lab",
    "certification.attached": "cert",
    "conformity.decided": "lab",
    "packing.packed": "packing",
    "sale.recorded": "sale",
    "recall.issued": "recall",
    "recall.lifted": "recall",
    "codes.issued": "packing",
}


def _step(entry: Mapping[str, Any], data: StoryInput, tr: Translate) -> Step:
    kind = entry.get("type", "")
    payload = entry.get("payload") or {}
    group = _GROUPS.get(kind) or ("logistics" if kind.startswith("logistics.") else "other")
    where = lambda key: _name(data.places, payload.get(key), data.locale)  # noqa: E731
    who = data.orgs.get(entry.get("author", ""), entry.get("author", ""))
    lines: list[str] = []
    tests: tuple[TestRow, ...] = ()
    report = None
    bad = False
    if kind == "farming.input":
        lines.append(
            tr(
                "story.l.input",
                kind=tr(f"story.input.{payload.get('kind')}", default=payload.get("kind", "")),
                name=payload.get("product_name", ""),
            )
        )
        if payload.get("dose"):
            lines.append(tr("story.l.dose", dose=payload["dose"], unit=payload.get("dose_unit", "")))
    elif kind == "farming.harvested" and payload.get("quantity"):
        lines.append(tr("story.l.quantity", quantity=payload["quantity"], unit=payload.get("unit", "")))
    elif kind == "lab.tested":
        tests = tuple(
            TestRow(
                r.get("analyte", ""),
                r.get("limit_standard") or r.get("method", ""),
                f"{r.get('value', '')} {r.get('unit', '')}".strip(),
                f"≤ {r['limit']} {r.get('unit', '')}".strip() if r.get("limit") else "—",
                r.get("verdict", ""),
                tr("story.pass" if r.get("verdict") == "pass" else "story.fail"),
            )
            for r in payload.get("results", [])
        )
        sha = payload.get("report_sha256")
        report = sha if isinstance(sha, str) and SHA256_HEX.match(sha) else None
        bad = payload.get("verdict") != "pass"
        lines.append(tr("story.l.sample", sample=payload.get("sample_id", "")))
    elif kind == "certification.attached":
        lines.append(
            f"{payload.get('scheme', '')} {payload.get('number', payload.get('certificate_number', ''))}".strip()
        )
    elif kind == "packing.packed":
        lines.append(
            tr(
                "story.l.packed",
                n=payload.get("packages", ""),
                net=payload.get("net_quantity", ""),
                unit=payload.get("net_unit", ""),
            )
        )
    elif kind == "logistics.temperature":
        readings = [r.get("celsius", "") for r in payload.get("readings", [])]
        lines.append(
            tr(
                "story.l.temperature",
                low=payload.get("min_celsius", ""),
                high=payload.get("max_celsius", ""),
                readings=" / ".join(readings),
            )
        )
        bad = any(
            f["seq"] == entry.get("seq") and f["kind"] == "temperature_excursion" for f in data.batch["flags"]
        )
    elif kind.startswith("logistics."):
        if payload.get("destination"):
            lines.append(tr("story.l.to_place", place=where("destination")))
        target = payload.get("to") or payload.get("carrier") or payload.get("station")
        if target:
            lines.append(tr("story.l.to_org", org=data.orgs.get(target, target)))
    elif kind in ("recall.issued", "recall.lifted"):
        lines.append(str(payload.get("reason", "")))
        bad = kind == "recall.issued"
    elif kind == "codes.issued":
        lines.append(tr("story.l.codes", n=payload.get("count", "")))
    place = where("place") or (where("origin_place") if kind == "batch.registered" else "")
    if place:
        lines.insert(0, tr("story.l.place", place=place))
    if any(
        f["seq"] == entry.get("seq") and f["kind"] != "temperature_excursion" for f in data.batch["flags"]
    ):
        bad = True
    return Step(
        kind=group,
        when=local_time(entry.get("event_time")),
        title=tr(f"story.t.{kind}", default=kind),
        who=who,
        lines=tuple(line for line in lines if line),
        tests=tests,
        report_sha256=report,
        bad=bad,
    )
