"""The labels of a print job: what a range's labels share (read once), one LabelData per label
generated in constant memory, and each label rendered in a job format."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.printer import LabelData, render_pdf
from farmtrace.printer.layouts import Layout
from farmtrace.printer.render_tspl import render_tspl, render_tspl_bitmap
from farmtrace.printer.render_zpl import render_zpl, render_zpl_bitmap
from farmtrace.trace.codes.facts import packed_time
from farmtrace.trace.codes.models import CodeRange, CodeVoid
from farmtrace.trace.codes.ranges import range_key, uri_prefix
from farmtrace.trace.errors import InvalidInput, NotFound
from farmtrace.trace.gs1.gtin import validate_gtin
from farmtrace.trace.models.projection import Batch
from farmtrace.trace.models.registry import Org, Product
from farmtrace.trace.reports.period import COUNTY_TZ
from farmtrace.trace.serials import SerialKey, SerialKeyring, serial_range

# format -> the dpi it accepts (None: vector output, no dpi)
FORMATS: Final[dict[str, tuple[int, ...] | None]] = {
    "zpl": (203, 300),
    "zpl-bitmap": (203, 300),
    "tspl": (203, 300),
    "tspl-bitmap": (203, 300),
    "pdf": None,
}


def check_format(fmt: str, dpi: int | None) -> int | None:
    """The dpi a job in `fmt` prints at (None for vector output), or InvalidInput."""
    if fmt not in FORMATS:
        raise InvalidInput("format", f"format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    accepted = FORMATS[fmt]
    if accepted is None:
        return None  # vector: the dpi does not apply
    if dpi not in accepted:
        raise InvalidInput("dpi", f"dpi: expected 203 or 300 for {fmt}, found {dpi!r}")
    return dpi


@dataclass(frozen=True)
class LabelPlan:
    """Everything a range's labels share, read once; `labels()` then needs no database."""

    range_id: int
    first_n: int
    count: int
    key: SerialKey
    prefix: str  # every URI of the range is prefix + serial (trace.codes.ranges.uri_prefix)
    product_name: str
    lot: str
    packed_on: date
    producer: str
    brand: str | None
    voided: frozenset[int]  # code numbers voided one by one

    def labels(self, indexes: range) -> Iterator[LabelData | None]:
        """One LabelData per index, None for a voided code (it must not be printed), in
        constant memory: serials are generated as they are consumed."""
        if indexes.step != 1 or indexes.start < 0 or indexes.stop > self.count:
            raise InvalidInput(
                "indexes", f"indexes: expected a run within 0..{self.count - 1}, found {indexes!r}"
            )
        first_n = self.first_n + indexes.start
        for n, serial in enumerate(serial_range(self.key, first_n, len(indexes)), start=first_n):
            if n in self.voided:
                yield None
                continue
            yield LabelData(
                uri=self.prefix + serial,
                serial=serial,
                product_name=self.product_name,
                lot=self.lot,
                packed_on=self.packed_on,
                producer=self.producer,
                brand=self.brand,
            )


def packing_date(session: Session, batch_id: str, today: date) -> date:
    """The date a label prints: the batch's first packing (county time), else `today`."""
    packed = packed_time(session, batch_id)
    return today if packed is None else packed.astimezone(COUNTY_TZ).date()


def county_today(now: datetime) -> date:
    return now.astimezone(COUNTY_TZ).date()


def label_plan(
    session: Session,
    keyring: SerialKeyring,
    domain: str,
    range_id: int,
    *,
    packed_on: date,
    brand: str | None = None,
) -> LabelPlan:
    rng = session.get(CodeRange, range_id) if isinstance(range_id, int) else None
    if rng is None:
        raise NotFound("range", f"range: no code range {range_id!r}")
    batch = session.get(Batch, rng.batch_id)
    assert batch is not None
    product = session.get(Product, batch.product_id)
    producer = session.get(Org, batch.owner_org_id)
    assert product is not None and producer is not None
    key = range_key(keyring, rng)
    gtin = validate_gtin(product.gtin) if product.gtin else None
    prefix = uri_prefix(domain, key, rng.first_n, gtin, batch.lot)
    voids = session.scalars(select(CodeVoid).where(CodeVoid.range_id == rng.id))
    voided = frozenset(n for v in voids if v.count < rng.count for n in range(v.first_n, v.first_n + v.count))
    return LabelPlan(
        range_id=rng.id,
        first_n=rng.first_n,
        count=rng.count,
        key=key,
        prefix=prefix,
        product_name=product.name_zh,
        lot=batch.lot,
        packed_on=packed_on,
        producer=producer.name_zh,
        brand=brand,
        voided=voided,
    )


def label_data(
    session: Session,
    keyring: SerialKeyring,
    domain: str,
    range_id: int,
    indexes: range,
    *,
    packed_on: date,
    brand: str | None = None,
) -> Iterator[LabelData | None]:
    """The labels of `indexes` of a range (None for a voided code), in constant memory."""
    return label_plan(session, keyring, domain, range_id, packed_on=packed_on, brand=brand).labels(indexes)


def render_label(fmt: str, label: LabelData, layout: Layout, dpi: int | None) -> bytes:
    """One label in a job format (a PDF of one page for "pdf")."""
    if fmt == "pdf":
        return render_pdf([label], layout)
    assert dpi is not None
    renderer = {
        "zpl": render_zpl,
        "zpl-bitmap": render_zpl_bitmap,
        "tspl": render_tspl,
        "tspl-bitmap": render_tspl_bitmap,
    }[fmt]
    return renderer(label, layout, dpi)


def label_chunks(
    fmt: str, labels: Iterable[LabelData | None], layout: Layout, dpi: int | None
) -> Iterator[bytes]:
    """One chunk per label for PrintJob (ZPL and TSPL formats); an empty chunk for a voided
    code, so chunk i is still label i and confirmed counts stay label indexes."""
    for label in labels:
        yield b"" if label is None else render_label(fmt, label, layout, dpi)
