"""Where `farmtrace print` sends labels: the --to text parsed into a target (a network
printer, a file, a spool directory or a CUPS queue) and the transport that delivers to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from farmtrace.printer.transports import (
    TSPL_STATUS,
    ZPL_HOST_STATUS,
    CupsTransport,
    FileTransport,
    SpoolTransport,
    TcpTransport,
    Transport,
    WithPreamble,
)
from farmtrace.trace.printing import PrintJobView

EXTENSIONS = {".zpl": "zpl", ".tspl": "tspl", ".pdf": "pdf"}


@dataclass(frozen=True)
class Target:
    kind: str  # tcp, file, spool, cups
    value: str  # host:port, path, directory, queue
    port: int = 9100


def parse_target(text: str) -> Target:
    if text.startswith("tcp://"):
        host, _, port = text[len("tcp://") :].rstrip("/").rpartition(":")
        if not host:
            host, port = port, "9100"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(f"expected tcp://HOST:PORT, found {text!r}", param_hint="--to")
        return Target("tcp", host.strip("[]"), int(port))
    for prefix in ("spool:", "cups:"):
        if text.startswith(prefix) and len(text) > len(prefix):
            return Target(prefix[:-1], text[len(prefix) :])
    if Path(text).suffix.lower() in EXTENSIONS:
        return Target("file", str(Path(text).absolute()))
    raise click.BadParameter(
        f"expected tcp://HOST:9100, FILE.zpl, FILE.tspl, FILE.pdf, spool:DIR or cups:QUEUE, found {text!r}",
        param_hint="--to",
    )


def target_uri(target: Target) -> str:
    if target.kind == "tcp":
        return f"tcp://{target.value}:{target.port}"
    return target.value if target.kind == "file" else f"{target.kind}:{target.value}"


def default_format(target: Target) -> str:
    return EXTENSIONS[Path(target.value).suffix.lower()] if target.kind == "file" else "zpl"


def pdf_path(target: Target, job: PrintJobView) -> Path:
    """Where a PDF run goes: a resumed run writes a second file beside the first."""
    if target.kind == "spool":
        return Path(target.value) / f"job{job.id}-{job.next_index:08d}-{job.last_index:08d}.pdf"
    path = Path(target.value)
    return (
        path if job.confirmed == 0 else path.with_name(f"{path.stem}.from-{job.next_index:08d}{path.suffix}")
    )


def make_transport(target: Target, job: PrintJobView, status: bool) -> Transport:
    family = job.format.split("-")[0]
    if target.kind == "tcp":
        query = (ZPL_HOST_STATUS if family == "zpl" else TSPL_STATUS) if status else None
        return TcpTransport(target.value, target.port, status_query=query)
    if target.kind == "spool":
        return SpoolTransport(Path(target.value), f"job{job.id}", family, start_index=job.next_index)
    if target.kind == "cups":
        return CupsTransport(target.value, title=f"farmtrace job {job.id}")
    return FileTransport(Path(target.value), job.output_bytes or 0)


def confirmed_output(transport: Transport) -> dict[str, int]:
    """For a file target, the file's length at the last confirmation (recorded on the job so a
    resumed run cuts the file back to it); nothing for the other targets."""
    inner = transport.inner if isinstance(transport, WithPreamble) else transport
    return {"output_bytes": inner.confirmed_bytes} if isinstance(inner, FileTransport) else {}
