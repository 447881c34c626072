"""URIs for print shops: every code of a range (or of a batch), in constant memory.

The plan reads the ranges, their voids and their keys once; iterating it then generates
serials (trace.serials.serial_range) and URIs with no further database access. All serials
of a range share one URI prefix (same domain, GTIN, lot and letter case: serials are
upper-case only), so a URI is that prefix plus the serial, exactly what qr_uri() returns.
Voided codes are left out: a print shop must never print them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.trace.codes.models import CodeVoid
from farmtrace.trace.codes.ranges import batch_ranges, range_key, uri_prefix
from farmtrace.trace.errors import InvalidInput, NotFound, RuleViolation
from farmtrace.trace.gs1.gtin import validate_gtin
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Product
from farmtrace.trace.projections import require_batch_id
from farmtrace.trace.serials import SerialKey, SerialKeyring, serial_range

FORMATS: Final = ("csv", "txt")
CSV_HEADER: Final = "serial,uri\n"
_LINES_PER_WRITE: Final = 2_000


@dataclass(frozen=True)
class _Part:
    range_id: int
    first_n: int
    count: int
    key: SerialKey
    prefix: str
    voided: frozenset[int]  # code numbers voided one by one


@dataclass(frozen=True)
class ExportPlan:
    batch_id: str
    parts: tuple[_Part, ...]
    total: int  # codes that will be written
    skipped_voided: int  # codes left out because they are voided
    skipped_ranges: tuple[int, ...]  # whole ranges left out because they are voided

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(serial, uri) for every code to print, range by range, in code-number order."""
        for part in self.parts:
            prefix = part.prefix
            if not part.voided:
                for serial in serial_range(part.key, part.first_n, part.count):
                    yield serial, prefix + serial
                continue
            for n, serial in enumerate(serial_range(part.key, part.first_n, part.count), start=part.first_n):
                if n not in part.voided:
                    yield serial, prefix + serial


def plan_export(
    session: Session, keyring: SerialKeyring, domain: str, batch_id: str, range_id: int | None = None
) -> ExportPlan:
    """What `export` will write for the batch (all its live ranges) or one of its ranges."""
    require_batch_id(batch_id)
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("batch", f"batch: no batch {batch_id!r}")
    product = session.get(Product, batch.product_id)
    assert product is not None
    gtin = validate_gtin(product.gtin) if product.gtin else None
    ranges = batch_ranges(session, batch_id, range_id)
    parts: list[_Part] = []
    skipped_ranges: list[int] = []
    skipped = 0
    for rng in ranges:
        voids = list(session.scalars(select(CodeVoid).where(CodeVoid.range_id == rng.id)))
        if any(v.count == rng.count for v in voids):
            if range_id is not None:
                raise RuleViolation(
                    "range", f"range: range {rng.id} is voided; its codes must not be printed", "range_voided"
                )
            skipped_ranges.append(rng.id)
            continue
        key = range_key(keyring, rng)
        voided = frozenset(n for v in voids for n in range(v.first_n, v.first_n + v.count))
        prefix = uri_prefix(domain, key, rng.first_n, gtin, batch.lot)
        parts.append(_Part(rng.id, rng.first_n, rng.count, key, prefix, voided))
        skipped += len(voided)
    total = sum(p.count - len(p.voided) for p in parts)
    return ExportPlan(batch_id, tuple(parts), total, skipped, tuple(skipped_ranges))


def write_export(plan: ExportPlan, out: TextIO, fmt: str = "csv", progress: object = None) -> int:
    """Write the plan as CSV (serial,uri) or text (one URI a line); returns the codes written.

    `progress`, if given, has update(n) (click.progressbar does) and is told every few
    thousand codes.
    """
    if fmt not in FORMATS:
        raise InvalidInput("format", f"format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    if fmt == "csv":
        out.write(CSV_HEADER)
    lines: list[str] = []
    written = 0
    for serial, uri in plan:
        # Neither a serial nor our URIs contain a comma, quote or newline: no CSV quoting needed.
        lines.append(f"{serial},{uri}\n" if fmt == "csv" else uri + "\n")
        if len(lines) == _LINES_PER_WRITE:
            out.write("".join(lines))
            written += len(lines)
            lines.clear()
            if progress is not None:
                progress.update(_LINES_PER_WRITE)  # type: ignore[attr-defined]
    out.write("".join(lines))
    written += len(lines)
    if progress is not None and lines:
        progress.update(len(lines))  # type: ignore[attr-defined]
    return written
