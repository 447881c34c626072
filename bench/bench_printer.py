"""Label printing: labels/s and peak memory per output format, and QR encoder speed.

Each format renders `n` labels (default 10,000) in a fresh spawned process, so the reported
peak RSS (ru_maxrss, which includes the interpreter and imported libraries, about 60-80 MB) is
that format's alone; output goes to /dev/null except for its byte count.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import resource
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from bench.harness import Result, rate

TITLE = "Label printing (farmtrace.printer)"
URI = "HTTPS://TRACE.EXAMPLE.ORG/01/09506000134352/10/LOT1/21/{serial}"

FORMATS = (
    "pdf a4-3x8",
    "pdf 50x30 roll",
    "svg 50x30",
    "png 50x30 300dpi",
    "zpl native 50x30 203dpi",
    "zpl bitmap z64 50x30 203dpi",
    "tspl native 50x30 203dpi",
    "tspl bitmap 50x30 203dpi",
)


def _labels(n: int) -> Iterator[object]:
    from farmtrace.printer import LabelData

    for i in range(n):
        serial = f"0K4S7ZQ3M9XW{i:06d}"
        yield LabelData(
            uri=URI.format(serial=serial),
            serial=serial,
            product_name="五华高山红薯",
            lot="LOT1",
            packed_on=dt.date(2025, 10, 12),
            producer="五华县高山农业专业合作社",
            brand="五华红·客都好味",
        )


def _measure(fmt: str, n: int) -> tuple[float, int, int]:
    """In a child process: (seconds, output bytes, peak RSS in KB)."""
    from farmtrace import printer as p

    start = time.perf_counter()
    size = 0
    labels = _labels(n)
    if fmt.startswith("pdf"):
        layout = p.get_layout("a4-3x8" if "a4" in fmt else "50x30")
        with open(os.devnull, "wb") as sink:
            size = p.write_pdf(labels, layout, sink)
    else:
        layout = p.get_layout("50x30")
        render = {
            "svg 50x30": lambda label: p.render_svg(label, layout),
            "png 50x30 300dpi": lambda label: p.render_png(label, layout, 300),
            "zpl native 50x30 203dpi": lambda label: p.render_zpl(label, layout, 203),
            "zpl bitmap z64 50x30 203dpi": lambda label: p.render_zpl_bitmap(label, layout, 203),
            "tspl native 50x30 203dpi": lambda label: p.render_tspl(label, layout, 203),
            "tspl bitmap 50x30 203dpi": lambda label: p.render_tspl_bitmap(label, layout, 203),
        }[fmt]
        for label in labels:
            size += len(render(label))
    elapsed = time.perf_counter() - start
    return elapsed, size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _qr_rates() -> list[Result]:
    import qrcode
    import segno

    uris = [URI.format(serial=f"0K4S7ZQ3M9XW{i:06d}") for i in range(200)]
    cycle = iter(range(10**9))

    def next_uri() -> str:
        return uris[next(cycle) % len(uris)]

    def with_qrcode() -> None:
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        qr.add_data(next_uri())
        qr.make(fit=True)
        qr.get_matrix()

    return [
        Result(
            "QR encode, segno (best of 8 masks, as used)",
            rate(lambda: segno.make_qr(next_uri(), error="m", mode="alphanumeric", boost_error=False)),
            "/s",
        ),
        Result(
            "QR encode, segno (fixed mask, for reference)",
            rate(
                lambda: segno.make_qr(next_uri(), error="m", mode="alphanumeric", boost_error=False, mask=0)
            ),
            "/s",
        ),
        Result("QR encode, qrcode (best mask)", rate(with_qrcode), "/s"),
    ]


def run(n: int = 10_000) -> list[Result]:
    results = _qr_rates()
    context = multiprocessing.get_context("spawn")
    for fmt in FORMATS:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            elapsed, size, peak_kb = pool.submit(_measure, fmt, n).result()
        results.append(
            Result(
                f"{fmt}: {n:,} labels",
                n / elapsed,
                "labels/s",
                note=f"{size / n:,.0f} B/label, peak RSS {peak_kb / 1024:.0f} MB",
            )
        )
    return results
