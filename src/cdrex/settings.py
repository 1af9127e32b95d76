"""Every setting in one place: ``CDREX_*`` environment variables, overridable by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from cdrex.callbacks.schedule import RETRY_DELAYS_SECONDS, parse_delays


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
    lease_seconds: int = 30  # a worker or import not renewing its lease loses it after this
    max_attempts: int = 3  # a job claimed this many times without finishing becomes Failed
    poll_seconds: float = 1.0  # idle workers look for new jobs at least this often
    # SQLite: how long a write waits for the write lock, then gives up (the API answers 503
    # with Retry-After, a worker tries again later).
    write_wait_seconds: float = 5.0
    sweep_seconds: int = 3600  # how often expired exports are deleted
    # Export files: None keeps them under data_dir; "s3://bucket/prefix" puts them in
    # S3-compatible storage (credentials: the usual AWS_* variables boto3 reads).
    storage_url: str | None = None
    s3_endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000 for MinIO; None: AWS
    s3_region: str = "us-east-1"
    s3_downloads: str = "stream"  # "stream" through the API, or "redirect" to a presigned URL
    s3_presign_seconds: int = 300  # how long a presigned download URL stays valid
    # PostgreSQL CDR partitions (one per month of call start).
    partitions_ahead_months: int = 3  # created ahead of the current month
    cdr_retention_months: int = 1  # kept past the exportable window, then dropped whole
    gzip_level: int = 1  # ISA-L level (0-3) for .csv.gz files; see bench/gzip_levels.py
    export_slices: int = 1  # PostgreSQL: time slices one export copies in parallel
    # Callbacks: DIDWW's retry schedule, its 60 s timeout; loopback, private and link-local
    # destinations refused unless allowed (a callback URL is the customer's to choose).
    callback_retry_delays: tuple[int, ...] = RETRY_DELAYS_SECONDS
    callback_timeout_seconds: float = 60.0
    callback_allow_private: bool = False
    callback_senders: int = 4  # per worker process: a hanging endpoint holds only one
    # In flight at once per account, across all processes: the rest stay free for others.
    callback_per_account: int = 2
    # The API process's cache of rendered list pages (SQLite only), in bytes of keys and bodies.
    response_cache_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        senders = _env_int("CDREX_CALLBACK_SENDERS", 4)
        settings = cls(
            data_dir=Path(os.environ.get("CDREX_DATA_DIR") or "cdrex-data"),
            database_url=os.environ.get("CDREX_DATABASE_URL") or None,
            public_url=(os.environ.get("CDREX_PUBLIC_URL") or "").rstrip("/") or None,
            export_window_months=_env_int("CDREX_EXPORT_WINDOW_MONTHS", 2),
            retention_days=_env_int("CDREX_RETENTION_DAYS", 30),
            lease_seconds=_env_int("CDREX_LEASE_SECONDS", 30),
            max_attempts=_env_int("CDREX_MAX_ATTEMPTS", 3),
            poll_seconds=float(os.environ.get("CDREX_POLL_SECONDS") or 1.0),
            write_wait_seconds=float(os.environ.get("CDREX_WRITE_WAIT_SECONDS") or 5.0),
            sweep_seconds=_env_int("CDREX_SWEEP_SECONDS", 3600),
            storage_url=os.environ.get("CDREX_STORAGE_URL") or None,
            s3_endpoint_url=os.environ.get("CDREX_S3_ENDPOINT_URL") or None,
            s3_region=os.environ.get("CDREX_S3_REGION") or "us-east-1",
            s3_downloads=os.environ.get("CDREX_S3_DOWNLOADS") or "stream",
            s3_presign_seconds=_env_int("CDREX_S3_PRESIGN_SECONDS", 300),
            partitions_ahead_months=_env_int("CDREX_PARTITIONS_AHEAD_MONTHS", 3),
            cdr_retention_months=_env_int("CDREX_CDR_RETENTION_MONTHS", 1),
            gzip_level=_env_int("CDREX_GZIP_LEVEL", 1),
            export_slices=_env_int("CDREX_EXPORT_SLICES", 1),
            callback_retry_delays=parse_delays(
                os.environ.get(
                    "CDREX_CALLBACK_RETRY_DELAYS", ",".join(map(str, RETRY_DELAYS_SECONDS))
                )
            ),
            callback_timeout_seconds=float(
                os.environ.get("CDREX_CALLBACK_TIMEOUT_SECONDS") or 60.0
            ),
            callback_allow_private=os.environ.get("CDREX_CALLBACK_ALLOW_PRIVATE", "").lower()
            in ("1", "true", "yes"),
            callback_senders=senders,
            callback_per_account=_env_int("CDREX_CALLBACK_PER_ACCOUNT", max(1, senders // 2)),
            response_cache_bytes=_env_int("CDREX_RESPONSE_CACHE_BYTES", 4 * 1024 * 1024),
        )
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(settings, **given)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'cdrex.sqlite3').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "exports"
