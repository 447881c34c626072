"""The last published checkpoint, kept in a file outside the database.

The sequencer writes every checkpoint it signs (after the commit) to
`$FARMTRACE_HOME/checkpoints/latest`; `farmtrace restore` then verifies a restored database
against it, so a backup that lacks entries a published checkpoint already vouched for is
caught before the service signs a smaller tree over it (a fork every witness would see).

The file only ever grows: a checkpoint replaces it only if its tree is larger. A smaller
tree (a sequencer started on a restored, older database) or the same size with another
root (a fork) leaves it as it is, because it is the evidence. It is replaced atomically
(written, fsynced, renamed, folder fsynced), so a crash leaves the old or the new note,
never half of one. Keep a copy off the database host: a disk that loses both is no check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from farmtrace.ledger.checkpoint import Checkpoint, parse_checkpoint
from farmtrace.ledger.errors import LedgerError
from farmtrace.ledger.note import parse_note

FOLDER = "checkpoints"
LATEST = "latest"


def latest_path(home: Path) -> Path:
    return home / FOLDER / LATEST


def checkpoint_of(note: str) -> Checkpoint:
    """The checkpoint a signed note carries (signatures are not checked here: verify does)."""
    return parse_checkpoint(parse_note(note).text)


def read_published(path: Path) -> str | None:
    """The note in the file, or None if there is no file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def record_published(path: Path, note: str) -> str:
    """Keep `note` in the file if its tree is larger than the one there. Returns 'written';
    'kept' when the file holds this very tree; 'older' when the file's tree is larger (the
    note is from a log that lost entries, or a slower sequencer); 'conflict' when the file
    has the same size and another root (a fork). The file is kept in all three cases."""
    new = checkpoint_of(note)
    old_note = read_published(path)
    if old_note is not None:
        try:
            old = checkpoint_of(old_note)
        except LedgerError:
            old = None  # an unreadable file is replaced: it proves nothing
        if old is not None and old.size == new.size and old.root_hash != new.root_hash:
            return "conflict"
        if old is not None and old.size > new.size:
            return "older"
        if old is not None and old.size == new.size:
            return "kept"
    write_atomically(path, note.encode("utf-8"))
    return "written"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: temp file in the same folder, fsync, rename, fsync folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
