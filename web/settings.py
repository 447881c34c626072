"""Settings, read once from the environment, with the defaults documented in docs/configuration.md."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from farmtrace.ledger.errors import FormatError
from farmtrace.ledger.note import SIG_TYPE_COSIGNATURE_V1, parse_verifier_key

DEFAULT_HOME = "var"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one sentence a person can act on."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    public_base_url: str
    keys_dir: Path
    log_origin: str
    sequencer_interval_s: float
    max_codes_per_request: int
    # Witnesses (docs/operations.md): cosigners whose cosignatures are stored and served,
    # and witness URLs the log pushes new checkpoints to (C2SP tlog-witness add-checkpoint).
    witness_keys: tuple[str, ...] = ()
    witness_urls: tuple[str, ...] = ()
    # /readyz fails when the oldest entry waiting for the sequencer is older (0: no check).
    ready_max_sequencer_lag_s: float = 60.0

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def session_key_file(self) -> Path:
        """The console's session-cookie signing key, created (mode 0600) on first use."""
        return self.keys_dir / "session.key"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure unless the service is reached over plain http (local development)."""
        return self.public_base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("FARMTRACE_HOME", DEFAULT_HOME)).expanduser().absolute()
        database_url = env.get("FARMTRACE_DATABASE_URL") or f"sqlite:///{home / 'farmtrace.sqlite3'}"
        base_url = env.get("FARMTRACE_PUBLIC_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
        keys_dir = Path(env.get("FARMTRACE_KEYS_DIR", str(home / "keys"))).expanduser().absolute()
        origin = env.get("FARMTRACE_LOG_ORIGIN") or _origin_from(base_url)
        settings = cls(
            home=home,
            database_url=database_url,
            public_base_url=base_url,
            keys_dir=keys_dir,
            log_origin=origin,
            sequencer_interval_s=_positive_float(env, "FARMTRACE_SEQUENCER_INTERVAL", "0.5"),
            max_codes_per_request=_positive_int(env, "FARMTRACE_MAX_CODES_PER_REQUEST", "1000000"),
            witness_keys=_list(env, "FARMTRACE_WITNESS_KEYS"),
            witness_urls=tuple(u.rstrip("/") for u in _list(env, "FARMTRACE_WITNESS_URLS")),
            ready_max_sequencer_lag_s=_non_negative_float(env, "FARMTRACE_READY_MAX_SEQUENCER_LAG", "60"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            raise ConfigError(
                f"FARMTRACE_DATABASE_URL {self.database_url!r} is not a database URL; "
                "expected e.g. sqlite:////path/farmtrace.sqlite3 or postgresql://user@host/db."
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"FARMTRACE_DATABASE_URL names the {url.get_backend_name()!r} backend; "
                "farmtrace runs on sqlite or postgresql."
            )
        if not self.public_base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"FARMTRACE_PUBLIC_BASE_URL {self.public_base_url!r} must start with http:// or https://."
            )
        _check_witness_keys(self.witness_keys)
        for url in self.witness_urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"FARMTRACE_WITNESS_URLS: {url!r} must start with http:// or https://.")

    def ensure_dirs(self) -> None:
        """Create the data and key folders, or say in one sentence why they cannot be."""
        for path, mode in ((self.home, 0o755), (self.keys_dir, 0o700)):
            try:
                path.mkdir(parents=True, exist_ok=True, mode=mode)
                probe = path / ".write-test"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise ConfigError(
                    f"the folder {str(path)!r} cannot be written ({exc.strerror}); "
                    "set FARMTRACE_HOME to a writable folder."
                ) from None


def _origin_from(base_url: str) -> str:
    # C2SP tlog-checkpoint origins are schema-less, e.g. "trace.example.org/log".
    host = base_url.split("://", 1)[-1]
    return f"{host}/farmtrace-log"


def _positive_float(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, found {raw!r}.") from None
    if not value > 0:
        raise ConfigError(f"{name} must be greater than 0, found {raw!r}.")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _non_negative_float(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, found {raw!r}.") from None
    if not value >= 0:
        raise ConfigError(f"{name} must be 0 or more, found {raw!r}.")
    return value


def _check_witness_keys(vkeys: tuple[str, ...]) -> None:
    for vkey in vkeys:
        try:
            key = parse_verifier_key(vkey)
        except FormatError as exc:
            raise ConfigError(f"FARMTRACE_WITNESS_KEYS: {exc}.") from None
        if key.key_type != SIG_TYPE_COSIGNATURE_V1:
            raise ConfigError(
                f"FARMTRACE_WITNESS_KEYS: {vkey!r} is a type 0x{key.key_type:02x} key; "
                "witness keys are cosignature keys (type 0x04), as `farmtrace witness keygen` prints."
            )


def _positive_int(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, found {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, found {raw!r}.")
    return value
