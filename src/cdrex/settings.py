"""Every setting in one place: ``CDREX_*`` environment variables, overridable by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("cdrex-data")
    database_url: str | None = None  # None: a SQLite file in data_dir
    public_url: str | None = None  # scheme://host[:port] used in `url`; None: the request's own
    export_window_months: int = 2  # how many months before the current one may be exported
    retention_days: int = 30  # completed exports and their files are deleted after this
    lease_seconds: int = 30  # a worker that stops renewing its lease loses the job after this
    max_attempts: int = 3  # a job claimed this many times without finishing becomes Failed
    poll_seconds: float = 1.0  # idle workers look for new jobs at least this often
    sweep_seconds: int = 3600  # how often expired exports are deleted

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        settings = cls(
            data_dir=Path(os.environ.get("CDREX_DATA_DIR") or "cdrex-data"),
            database_url=os.environ.get("CDREX_DATABASE_URL") or None,
            public_url=(os.environ.get("CDREX_PUBLIC_URL") or "").rstrip("/") or None,
            export_window_months=_env_int("CDREX_EXPORT_WINDOW_MONTHS", 2),
            retention_days=_env_int("CDREX_RETENTION_DAYS", 30),
            lease_seconds=_env_int("CDREX_LEASE_SECONDS", 30),
            max_attempts=_env_int("CDREX_MAX_ATTEMPTS", 3),
            poll_seconds=float(os.environ.get("CDREX_POLL_SECONDS") or 1.0),
            sweep_seconds=_env_int("CDREX_SWEEP_SECONDS", 3600),
        )
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(settings, **given)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'cdrex.sqlite3').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "exports"
