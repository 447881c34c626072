"""`farmtrace witness`: be a witness of a farmtrace log, or of any C2SP tlog.

    keygen  a witness's cosigning key (Ed25519, c2sp.org/tlog-cosignature, type 0x04)
    serve   a C2SP tlog-witness: POST /add-checkpoint, under gunicorn
    poll    an independent process that follows one log's /checkpoint, proves consistency
            from the log's own tiles, cosigns, and hands the cosignature back to the log
    push    (run by the log's operator) push new checkpoints to FARMTRACE_WITNESS_URLS

serve and poll keep the same state (the last checkpoint cosigned per log) in one JSON file
in --state-dir, written atomically and fsynced before any cosignature leaves the process,
under an exclusive lock, so both may share a folder. On a fork or rollback the witness
prints an ALARM with both checkpoints, records it, exits 3 (poll) and refuses that log
from then on.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from farmtrace.ledger.checkpoint import parse_checkpoint
from farmtrace.ledger.errors import FormatError, LedgerError
from farmtrace.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    SignerKey,
    VerifierKey,
    format_note,
    format_signer_key,
    format_verifier_key,
    generate_signer_key,
    open_note,
    parse_signer_key,
    parse_verifier_key,
)
from farmtrace.ledger.witness import (
    SIZE_CONTENT_TYPE,
    SizeConflict,
    TileHashReader,
    WitnessAlarm,
    WitnessRefusal,
    WitnessState,
    add_checkpoint,
    format_size_body,
    format_state,
    parse_state,
    poll_checkpoint,
)
from farmtrace.web.cli.context import connect, load_settings, write_session
from farmtrace.web.witnessing import http_post, push_checkpoint, run_push_loop, witness_keys

ALARM_EXIT_CODE = 3
STATE_FILE = "state.json"
MAX_REQUEST_BYTES = 64 * 1024
HTTP_TIMEOUT_S = 15.0
USER_AGENT = "farmtrace-witness"

StartResponse = Callable[[str, list[tuple[str, str]]], object]


@click.group()
def witness() -> None:
    """Witness a transparency log: cosign its checkpoints only if it never rewrites history."""


@witness.command()
@click.option("--name", required=True, help="The witness's name, e.g. witness.example.org/w1.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("witness.key"),
    show_default=True,
    help="Where to write the private key (mode 0600; never overwritten).",
)
def keygen(name: str, out: Path) -> None:
    """Create a cosigning key; print its public verifier key (publish that one)."""
    try:
        key = generate_signer_key(name, SIG_TYPE_COSIGNATURE_V1)
    except FormatError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out} exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as file:
        file.write(format_signer_key(key) + "\n")
        file.flush()
        os.fsync(file.fileno())
    click.echo(format_verifier_key(key.verifier_key()))


@witness.command()
@click.option("--bind", default="127.0.0.1:7380", show_default=True, help="HOST:PORT to listen on.")
@click.option("--state-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--log", "logs", required=True, multiple=True, help="A log's verifier key (repeat per log).")
def serve(bind: str, state_dir: Path, key_file: Path, logs: tuple[str, ...]) -> None:
    """Serve C2SP tlog-witness POST /add-checkpoint for the given logs."""
    signer = load_witness_key(key_file)
    log_keys = [parse_log_key(vkey) for vkey in logs]
    store = StateStore(state_dir)
    store.load()  # a corrupt state file stops the start, not the first request
    app = witness_app(store, log_keys, signer)
    click.echo(f"witness {signer.name} for {', '.join(k.name for k in log_keys)} on http://{bind}")
    _run_gunicorn(app, bind)


@witness.command()
@click.argument("url")
@click.option("--log-key", required=True, help="The log's verifier key (its name is the log's origin).")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--state-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True)
@click.option("--once", is_flag=True, help="Poll once and exit (non-zero on any failure).")
@click.option("--submit-cosignature-to", "submit_to", help="URL to POST the cosigned checkpoint to.")
def poll(
    url: str,
    log_key: str,
    key_file: Path,
    state_dir: Path,
    interval: float,
    once: bool,
    submit_to: str | None,
) -> None:
    """Follow the log at URL (serving /checkpoint and /tile/...), cosign each new checkpoint."""
    verifier = parse_log_key(log_key)
    signer = load_witness_key(key_file)
    store = StateStore(state_dir)
    base = url.rstrip("/")
    submitted: str | None = None
    while True:
        try:
            cosigned = poll_once(base, verifier, signer, store)
            if submit_to and cosigned != submitted:
                submit_cosignature(submit_to, cosigned)
                submitted = cosigned
        except WitnessAlarm as exc:
            click.echo(exc.alarm.report(), err=True)
            sys.exit(ALARM_EXIT_CODE)
        except (OSError, LedgerError) as exc:
            click.echo(f"witness poll {base}: {exc}", err=True)
            if once:
                sys.exit(1)
        if once:
            return
        time.sleep(interval)


@witness.command()
@click.option("--once", is_flag=True, help="Push the latest checkpoint to each witness once and exit.")
def push(once: bool) -> None:
    """Push new checkpoints of this log to FARMTRACE_WITNESS_URLS (run beside the sequencer)."""
    settings = load_settings()
    if not settings.witness_urls:
        raise click.ClickException("FARMTRACE_WITNESS_URLS is empty: there is no witness to push to.")
    engine = connect(settings)
    if once:
        failed = False
        for url in settings.witness_urls:
            try:
                with write_session(engine) as session:
                    size = push_checkpoint(session, url, witness_keys(settings), http_post)
                click.echo(f"{url}: cosigned tree size {size}")
            except (OSError, LedgerError) as exc:
                click.echo(f"{url}: {exc}", err=True)
                failed = True
        sys.exit(1 if failed else 0)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_push_loop(engine, settings, stop)


def poll_once(base: str, verifier: VerifierKey, signer: SignerKey, store: StateStore) -> str:
    """One round: fetch, prove from tiles, cosign. Returns the cosigned checkpoint note."""
    served = http_get(f"{base}/checkpoint").decode("utf-8", errors="replace")
    # Keep only the log's own signatures: the state then holds one canonical note per tree.
    opened = open_note(served, [verifier])
    note = format_note(opened.text, opened.signatures)
    size = parse_checkpoint(opened.text).size
    reader = TileHashReader(size, lambda tile: http_get(f"{base}/{tile.path()}"))
    with store.locked() as state:
        try:
            new, lines = poll_checkpoint(state, note, reader, verifier, signer, int(time.time()))
        except WitnessAlarm as exc:
            store.save(exc.state)
            raise
        if new != state:
            store.save(new)
    click.echo(f"cosigned {verifier.name} tree size {size}")
    return note + lines


def submit_cosignature(url: str, cosigned_note: str) -> None:
    status, body = _http("POST", url, cosigned_note.encode("utf-8"))
    if status != 200:
        raise OSError(f"POST {url}: HTTP {status}: {body.decode('utf-8', errors='replace').strip()[:300]}")


def witness_app(
    store: StateStore, log_keys: list[VerifierKey], signer: SignerKey, clock: Callable[[], float] = time.time
) -> Callable[[dict, StartResponse], Iterable[bytes]]:
    """The tlog-witness HTTP interface as a plain WSGI app."""

    def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/add-checkpoint":
            return _respond(start_response, 404, "text/plain", "not found\n")
        if environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, 405, "text/plain", "use POST\n", [("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BYTES:
            return _respond(start_response, 413, "text/plain", f"at most {MAX_REQUEST_BYTES} bytes\n")
        body = environ["wsgi.input"].read(length)
        status, content_type, text = handle_add_checkpoint(store, body, log_keys, signer, int(clock()))
        return _respond(start_response, status, content_type, text)

    return app


def handle_add_checkpoint(
    store: StateStore, body: bytes, log_keys: list[VerifierKey], signer: SignerKey, now: int
) -> tuple[int, str, str]:
    """Check and persist atomically (tlog-witness: check and update under one lock)."""
    with store.locked() as state:
        try:
            new, lines = add_checkpoint(state, body, log_keys, signer, now)
        except WitnessAlarm as exc:
            store.save(exc.state)
            print(exc.alarm.report(), file=sys.stderr, flush=True)
            return exc.status, "text/plain; charset=utf-8", exc.alarm.report()
        except SizeConflict as exc:
            return exc.status, SIZE_CONTENT_TYPE, format_size_body(exc.size)
        except WitnessRefusal as exc:
            return exc.status, "text/plain; charset=utf-8", f"{exc}\n"
        store.save(new)
    return 200, "text/plain; charset=utf-8", lines


class StateStore:
    """The witness state in <folder>/state.json: read and replaced under an exclusive flock."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise click.ClickException(f"cannot create the state folder {folder}: {exc.strerror}") from None
        self.folder = folder
        self.path = folder / STATE_FILE

    @contextmanager
    def locked(self) -> Iterator[WitnessState]:
        with open(self.folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield self.load()

    def load(self) -> WitnessState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return WitnessState()
        try:
            return parse_state(text)
        except FormatError as exc:
            raise click.ClickException(f"{self.path}: {exc}") from None

    def save(self, state: WitnessState) -> None:
        """Write a new file, fsync it, rename it over the old one, fsync the folder."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(format_state(state))
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def load_witness_key(path: Path) -> SignerKey:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.ClickException(f"cannot read the witness key {path}: {exc.strerror}") from None
    try:
        key = parse_signer_key(text)
    except FormatError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    if key.key_type != SIG_TYPE_COSIGNATURE_V1:
        raise click.ClickException(f"{path}: not a cosigning key (type 0x04); make one with `witness keygen`")
    return key


def parse_log_key(vkey: str) -> VerifierKey:
    try:
        key = parse_verifier_key(vkey)
    except FormatError as exc:
        raise click.ClickException(str(exc)) from None
    if key.key_type != SIG_TYPE_ED25519:
        raise click.ClickException(f"log key {vkey!r}: expected an Ed25519 note key (type 0x01)")
    return key


def http_get(url: str) -> bytes:
    status, body = _http("GET", url, None)
    if status != 200:
        raise OSError(f"GET {url}: HTTP {status}")
    return body


def _http(method: str, url: str, data: bytes | None) -> tuple[int, bytes]:
    if not url.startswith(("http://", "https://")):
        raise OSError(f"{url!r}: expected an http:// or https:// URL")
    headers = {"User-Agent": USER_AGENT}
    if data is not None:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310 (scheme checked)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS |= {409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Content"}


def _respond(
    start_response: StartResponse,
    status: int,
    content_type: str,
    text: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = text.encode("utf-8")
    start_response(
        f"{status} {_REASONS.get(status, 'Error')}",
        [("Content-Type", content_type), ("Content-Length", str(len(data))), *(headers or [])],
    )
    return [data]


def _run_gunicorn(app: Callable[[dict, StartResponse], Iterable[bytes]], bind: str) -> None:
    from gunicorn.app.base import BaseApplication

    class _Witness(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            # One process: every request takes the state lock anyway; threads absorb slow clients.
            for name, value in {"bind": bind, "workers": 1, "threads": 4, "worker_class": "gthread"}.items():
                self.cfg.set(name, value)

        def load(self):  # type: ignore[no-untyped-def]
            return app

    _Witness().run()
