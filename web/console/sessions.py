"""The session cookie's signing key, kept in a file beside the other keys and made on first use.

Flask signs the session cookie with `app.secret_key`. Ours is 32 random bytes in
keys_dir/session.key (mode 0600): generated once, shared by every worker that reads the
same folder, never logged and never in the repository. It is loaded lazily, the first time
a request sends a session cookie or a page writes to the session, so an app that never
serves the console (tests, the API alone) never creates it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

SESSION_KEY_BYTES = 32
# A console session ends after this long without a request (the cookie is re-signed on each)...
SESSION_IDLE_LIFETIME = timedelta(hours=12)
# ...and at the latest this long after the password was typed (checked in access.load_user).
SESSION_ABSOLUTE_LIFETIME = timedelta(days=7)


class SessionKeyError(Exception):
    """The session key file is unreadable, readable by others, or the wrong size."""


def load_or_create_session_key(path: Path) -> bytes:
    """The key in `path`, creating it first if it does not exist.

    Several workers may start at once: the key is written to a private temporary file and
    linked into place, so a reader sees either no file or the whole key, and exactly one
    writer's key wins.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SESSION_KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another worker was first: use its key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return load_session_key(path)


def load_session_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise SessionKeyError(f"session key file {str(path)!r} cannot be read: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SessionKeyError(
            f"session key file {str(path)!r} is readable by others (mode {stat.S_IMODE(mode):o}); "
            "run chmod 600 on it"
        )
    if len(data) != SESSION_KEY_BYTES:
        raise SessionKeyError(
            f"session key file {str(path)!r}: expected {SESSION_KEY_BYTES} bytes, found {len(data)}"
        )
    return data


class KeyFileSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the key read from (or made in) a key file."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            app.secret_key = load_or_create_session_key(self.key_file)
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # No cookie: an empty session, without touching the key file.
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
