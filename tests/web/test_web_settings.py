from __future__ import annotations

import pytest

from farmtrace.web.settings import ConfigError, Settings


def test_defaults_put_sqlite_under_home(tmp_path) -> None:
    settings = Settings.from_env({"FARMTRACE_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'farmtrace.sqlite3'}"
    assert settings.keys_dir == tmp_path / "keys"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.log_origin == "127.0.0.1:8000/farmtrace-log"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FARMTRACE_DATABASE_URL": "not a url"}, "FARMTRACE_DATABASE_URL 'not a url' is not a database URL"),
        ({"FARMTRACE_DATABASE_URL": "mysql://x@y/z"}, "names the 'mysql' backend"),
        ({"FARMTRACE_PUBLIC_BASE_URL": "trace.example.org"}, "must start with http:// or https://"),
        ({"FARMTRACE_SEQUENCER_INTERVAL": "soon"}, "FARMTRACE_SEQUENCER_INTERVAL must be a number"),
        ({"FARMTRACE_MAX_CODES_PER_REQUEST": "0"}, "must be greater than 0, found '0'"),
    ],
)
def test_misconfiguration_is_one_clear_sentence(env, message) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_unwritable_home_is_reported(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = Settings.from_env({"FARMTRACE_HOME": str(blocker / "sub")})
    with pytest.raises(ConfigError, match="cannot be written"):
        settings.ensure_dirs()
