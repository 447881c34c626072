"""How the demonstration stories are written: each record through the trace services with a
fixed idempotency key ("demo:<story>:<step>") and a fixed event time (China Standard Time), so
that loading again changes nothing, and what was written counted in a DemoSummary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from farmtrace.trace.documents import store_document
from farmtrace.trace.services import TraceServices

CST = timezone(timedelta(hours=8))


@dataclass
class DemoSummary:
    batches: dict[str, str] = field(default_factory=dict)  # story name -> batch id
    created_entries: int = 0


def demo_report(title: str) -> bytes:
    """A small, valid one-page PDF standing in for a lab's report (deterministic bytes)."""
    text = title.encode("ascii")
    stream = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def at(text: str) -> datetime:
    """A story's "YYYY-MM-DD HH:MM" as a time in China Standard Time."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def residue(
    analyte: str, method: str, value: str, limit: str, standard: str = "GB 2763-2021"
) -> dict[str, Any]:
    """A passing residue result in mg/kg against a maximum limit (by default of GB 2763-2021)."""
    return {
        "analyte": analyte,
        "method": method,
        "value": value,
        "limit": limit,
        "limit_standard": standard,
        "unit": "mg/kg",
        "verdict": "pass",
    }


class StoryWriter:
    """Records a story's steps under the story's name; batches are looked up by story name."""

    def __init__(self, t: TraceServices, summary: DemoSummary) -> None:
        self.t = t
        self.summary = summary

    def register(self, name: str, actor: str, payload: dict[str, Any], when: str) -> str:
        recorded = self.t.batches.register(actor, payload, event_time=at(when), client_id=f"demo:{name}")
        self.summary.created_entries += int(recorded.created)
        self.summary.batches[name] = recorded.batch
        return recorded.batch

    def event(
        self, name: str, step: str, event_type: str, payload: dict[str, Any], actor: str, when: str
    ) -> None:
        recorded = self.t.events.record(
            self.summary.batches[name],
            event_type,
            payload,
            actor=actor,
            event_time=at(when),
            client_id=f"demo:{name}:{step}",
        )
        self.summary.created_entries += int(recorded.created)

    def lab(self, name: str, sample: str, results: list[dict[str, Any]], when: str) -> None:
        report = store_document(
            self.t.ctx,
            demo_report(f"Meizhou testing centre report {sample}"),
            "application/pdf",
            filename=f"{sample}.pdf",
            uploaded_by="lab-meizhou",
        )
        verdict = "fail" if any(r["verdict"] == "fail" for r in results) else "pass"
        self.event(
            name,
            f"lab-{sample}",
            "lab.tested",
            {"sample_id": sample, "report_sha256": report, "verdict": verdict, "results": results},
            "lab-meizhou",
            when,
        )

    def temperatures(
        self, name: str, step: str, actor: str, low: str, high: str, start: str, values: list[str]
    ) -> None:
        first = at(start)
        readings = [
            {"time": (first + timedelta(hours=i)).isoformat(), "celsius": v} for i, v in enumerate(values)
        ]
        last = (first + timedelta(hours=len(values) - 1)).strftime("%Y-%m-%d %H:%M")
        payload = {"min_celsius": low, "max_celsius": high, "device": f"TL-{step}", "readings": readings}
        self.event(name, step, "logistics.temperature", payload, actor, last)

    def split(self, name: str, actor: str, lots: list[dict[str, Any]], when: str, outputs: list[str]) -> None:
        """Split the story's batch into `lots`, the new batches known by the story names `outputs`."""
        result = self.t.lineage.split(
            actor, self.summary.batches[name], lots, event_time=at(when), client_id=f"demo:{name}:split"
        )
        self.record_lineage(result, outputs)

    def record_lineage(self, result: Any, names: list[str]) -> None:
        for name, batch in zip(names, result.outputs, strict=True):
            self.summary.batches[name] = batch
        self.summary.created_entries += sum(int(e.created) for e in result.entries)
