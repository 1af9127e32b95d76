"""Settings are declared once (src/cdrex/settings.py): the environment is read from the
declarations, docs/configuration.md is generated from them, and a value a setting refuses
stops every command with one line naming the variable and the value, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdrex.settings import SettingError, Settings, markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# The defaults as they were before the settings were declared once: none may change.
DEFAULTS = {
    "data_dir": Path("cdrex-data"),
    "database_url": None,
    "public_url": None,
    "export_window_months": 2,
    "retention_days": 30,
    "lease_seconds": 30,
    "max_attempts": 3,
    "poll_seconds": 1.0,
    "write_wait_seconds": 5.0,
    "sweep_seconds": 3600,
    "storage_url": None,
    "s3_endpoint_url": None,
    "s3_region": "us-east-1",
    "s3_downloads": "stream",
    "s3_presign_seconds": 300,
    "partitions_ahead_months": 3,
    "cdr_retention_months": 1,
    "gzip_level": 1,
    "export_slices": 1,
    "callback_retry_delays": (60, 600, 1800, 3600, 10800, 21600, 43200, 86400, 172800),
    "callback_timeout_seconds": 60.0,
    "callback_allow_private": False,
    "callback_senders": 4,
    "callback_per_account": 2,
    "response_cache_bytes": 4 * 1024 * 1024,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CDREX_* variables but those the test sets."""
    for name in os.environ:
        if name.startswith("CDREX_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_docs_are_generated_from_the_declarations() -> None:
    assert DOCS.read_text() == markdown(), "run: python -m cdrex.settings > docs/configuration.md"


def test_the_module_prints_the_docs() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "cdrex.settings"], capture_output=True, text=True, check=True
    )
    assert printed.stdout == markdown()
    assert printed.stderr == ""


def test_defaults_are_unchanged(env: pytest.MonkeyPatch) -> None:
    assert {name: getattr(Settings(), name) for name in DEFAULTS} == DEFAULTS
    assert {name: getattr(Settings.from_env(), name) for name in DEFAULTS} == DEFAULTS
    assert {name for name in Settings.__dataclass_fields__} == set(DEFAULTS)


def test_empty_variables_mean_the_default(env: pytest.MonkeyPatch) -> None:
    for name in DEFAULTS:
        env.setenv(f"CDREX_{name.upper()}", "")
    expected = {**DEFAULTS, "callback_retry_delays": ()}  # a list: empty is no retries
    assert {name: getattr(Settings.from_env(), name) for name in DEFAULTS} == expected


@pytest.mark.parametrize(
    ("variable", "text", "value"),
    [
        ("CDREX_LEASE_SECONDS", "7", 7),
        ("CDREX_LEASE_SECONDS", " 7 ", 7),  # int() strips, as it always did
        ("CDREX_EXPORT_WINDOW_MONTHS", "0", 0),
        ("CDREX_GZIP_LEVEL", "3", 3),
        ("CDREX_S3_PRESIGN_SECONDS", "604800", 604800),
        ("CDREX_CALLBACK_SENDERS", "0", 0),
        ("CDREX_POLL_SECONDS", "0.2", 0.2),
        ("CDREX_WRITE_WAIT_SECONDS", "0", 0.0),
        ("CDREX_CALLBACK_TIMEOUT_SECONDS", "1e1", 10.0),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "1", True),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "TRUE", True),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "yes", True),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "0", False),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "False", False),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "no", False),
        ("CDREX_S3_DOWNLOADS", "redirect", "redirect"),
        ("CDREX_PUBLIC_URL", "https://api.example.com/", "https://api.example.com"),
        ("CDREX_PUBLIC_URL", "http://[::1]:8000/cdrex", "http://[::1]:8000/cdrex"),
        ("CDREX_S3_ENDPOINT_URL", "http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("CDREX_CALLBACK_RETRY_DELAYS", "1, 2,3", (1, 2, 3)),
        ("CDREX_DATA_DIR", "/var/lib/cdrex", Path("/var/lib/cdrex")),
        ("CDREX_S3_REGION", "eu-west-1", "eu-west-1"),
        ("CDREX_DATABASE_URL", "postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_good_values_are_read(env: pytest.MonkeyPatch, variable: str, text: str, value) -> None:  # type: ignore[no-untyped-def]
    env.setenv(variable, text)
    name = variable.removeprefix("CDREX_").lower()
    assert getattr(Settings.from_env(), name) == value


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        ("CDREX_LEASE_SECONDS", "abc", "a whole number"),
        ("CDREX_LEASE_SECONDS", "1.5", "a whole number"),
        ("CDREX_LEASE_SECONDS", "0", "a whole number of at least 1"),
        ("CDREX_RETENTION_DAYS", "-1", "a whole number of at least 0"),
        ("CDREX_GZIP_LEVEL", "4", "a whole number from 0 to 3"),
        ("CDREX_S3_PRESIGN_SECONDS", "0", "a whole number from 1 to 604800"),
        ("CDREX_POLL_SECONDS", "fast", "a number"),
        ("CDREX_POLL_SECONDS", "0", "a number above 0"),
        ("CDREX_POLL_SECONDS", "nan", "a finite number"),
        ("CDREX_WRITE_WAIT_SECONDS", "-1", "a number of at least 0"),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "on", "one of 1, true, yes, 0, false, no"),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", " 1", "one of 1, true, yes, 0, false, no"),
        ("CDREX_S3_DOWNLOADS", "sideways", "one of stream, redirect"),
        ("CDREX_PUBLIC_URL", "api.example.com", "a URL (http:// or https://)"),
        ("CDREX_PUBLIC_URL", "ftp://api.example.com", "a URL (http:// or https://)"),
        ("CDREX_PUBLIC_URL", "https://api.example.com/?x=1", "a URL (http:// or https://)"),
        ("CDREX_S3_ENDPOINT_URL", "http://minio:port", "a URL (http:// or https://)"),
        ("CDREX_CALLBACK_RETRY_DELAYS", "60,1m", "a comma-separated list of whole seconds"),
    ],
)
def test_bad_values_are_refused_by_name(
    env: pytest.MonkeyPatch, variable: str, text: str, expected: str
) -> None:
    env.setenv(variable, text)
    with pytest.raises(SettingError) as raised:
        Settings.from_env()
    assert str(raised.value) == f"{variable}: {text!r} is not {expected}"


def test_per_account_callbacks_default_to_half_the_senders(env: pytest.MonkeyPatch) -> None:
    env.setenv("CDREX_CALLBACK_SENDERS", "9")
    assert Settings.from_env().callback_per_account == 4
    env.setenv("CDREX_CALLBACK_SENDERS", "1")
    assert Settings.from_env().callback_per_account == 1
    env.setenv("CDREX_CALLBACK_PER_ACCOUNT", "3")
    assert Settings.from_env().callback_per_account == 3


def test_flags_override_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("CDREX_DATA_DIR", "from-env")
    assert Settings.from_env(data_dir=None).data_dir == Path("from-env")
    assert Settings.from_env(data_dir=Path("from-flag")).data_dir == Path("from-flag")


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["migrate"], ["accounts", "list"]])
def test_a_refused_setting_stops_the_cli_with_one_line(tmp_path: Path, command: list[str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDREX_")}
    for variable, text, line in [
        ("CDREX_LEASE_SECONDS", "abc", "CDREX_LEASE_SECONDS: 'abc' is not a whole number"),
        ("CDREX_CALLBACK_ALLOW_PRIVATE", "maybe", "CDREX_CALLBACK_ALLOW_PRIVATE: 'maybe' is not"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "cdrex", "--data-dir", str(tmp_path), *command],
            env={**clean, variable: text},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"Error: {line}"), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "cdrex.sqlite3").exists()  # stopped before opening anything
