"""Every setting in one place: ``CDREX_*`` environment variables, overridable by CLI flags.

Each setting is declared once, as a field of ``Settings``: its name (the variable is
``CDREX_`` and the name in capitals), its kind (how the variable's text is read and which
values are refused), its default and its meaning. ``Settings.from_env`` and the operator's
table in docs/configuration.md (``python -m cdrex.settings`` prints it) are derived from
those declarations, so they cannot drift apart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cdrex.callbacks.schedule import RETRY_DELAYS_SECONDS, parse_delays

PREFIX = "CDREX_"
TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")


class SettingError(ValueError):
    """A variable's value that its setting refuses; the message names both."""

    def __init__(self, variable: str, raw: str, expected: str) -> None:
        super().__init__(f"{variable}: {raw!r} is not {expected}")
        self.variable = variable


class Refused(ValueError):
    """Raised by a kind's reader: the text is not ``expected`` ("a whole number", ...)."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


@dataclass(frozen=True)
class Kind:
    """How a setting's text becomes its value; ``read`` raises Refused for a bad one."""

    read: Callable[[str], Any]
    # Most variables set to '' mean "not set"; for a list, '' is the empty list.
    blank_is_unset: bool = True


def whole(minimum: int | None = None, maximum: int | None = None) -> Kind:
    def read(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise Refused("a whole number") from None
        _check_range(value, "a whole number", minimum, maximum)
        return value

    return Kind(read)


def number(minimum: float | None = None, above: float | None = None) -> Kind:
    def read(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise Refused("a number") from None
        if not math.isfinite(value):  # float() reads 'nan' and 'inf' too
            raise Refused("a finite number")
        if above is not None and value <= above:
            raise Refused(f"a number above {above}")
        _check_range(value, "a number", minimum, None)
        return value

    return Kind(read)


def _check_range(value: float, what: str, minimum: float | None, maximum: float | None) -> None:
    if (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return
    if minimum is not None and maximum is not None:
        raise Refused(f"{what} from {minimum} to {maximum}")
    if minimum is not None:
        raise Refused(f"{what} of at least {minimum}")
    raise Refused(f"{what} of at most {maximum}")


def boolean() -> Kind:
    def read(raw: str) -> bool:
        word = raw.lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise Refused(f"one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
        return word in TRUE_WORDS

    return Kind(read)


def choice(*options: str) -> Kind:
    def read(raw: str) -> str:
        if raw not in options:
            raise Refused(f"one of {', '.join(options)}")
        return raw

    return Kind(read)


def url(*schemes: str) -> Kind:
    """A base URL: scheme and host, maybe a port and path; a trailing slash is dropped."""

    def read(raw: str) -> str:
        if not _is_base_url(raw, schemes):
            raise Refused(f"a URL ({' or '.join(f'{s}://' for s in schemes)})")
        return raw.rstrip("/")

    return Kind(read)


def _is_base_url(raw: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(raw)
        # .port raises ValueError for a port that is not a number from 0 to 65535.
        port_ok = parts.port != 0
    except ValueError:
        return False
    has_host = bool(parts.hostname) and not (parts.query or parts.fragment)
    return parts.scheme in schemes and has_host and port_ok


def path() -> Kind:
    return Kind(Path)


def text() -> Kind:
    return Kind(str)


def seconds_list() -> Kind:
    def read(raw: str) -> tuple[int, ...]:
        try:
            return parse_delays(raw)
        except ValueError:
            raise Refused("a comma-separated list of whole seconds") from None

    return Kind(read, blank_is_unset=False)


@dataclass(frozen=True)
class Declaration:
    kind: Kind
    meaning: str
    shown_default: str | None  # for the docs, where the value itself says little
    # A default computed from the settings read before this one (by their field names).
    default_from: Callable[[Mapping[str, Any]], Any] | None


def declare(
    kind: Kind,
    meaning: str,
    *,
    shown_default: str | None = None,
    default_from: Callable[[Mapping[str, Any]], Any] | None = None,
) -> dict[str, Declaration]:
    """A field's metadata that makes it a setting."""
    return {"setting": Declaration(kind, meaning, shown_default, default_from)}


def _half_the_senders(read: Mapping[str, Any]) -> int:
    return max(1, read["callback_senders"] // 2)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(
        default=Path("cdrex-data"),
        metadata=declare(
            path(),
            "SQLite file and export files (the `--data-dir` flag overrides it)",
            shown_default="`./cdrex-data`",
        ),
    )
    # Checked when the database is opened, where the error keeps a password unshown.
    database_url: str | None = field(
        default=None,
        metadata=declare(
            text(),
            "or `postgresql://user@host:5432/db`",
            shown_default="SQLite file in the data dir",
        ),
    )
    public_url: str | None = field(
        default=None,
        metadata=declare(
            url("http", "https"),
            "base of the `url` attribute and links, e.g. `https://api.example.com`",
            shown_default="the request's own scheme and host",
        ),
    )
    export_window_months: int = field(
        default=2,
        metadata=declare(whole(minimum=0), "months before the current one that may be exported"),
    )
    retention_days: int = field(
        default=30,
        metadata=declare(
            whole(minimum=0),
            "finished exports and their files are deleted this long after completion",
        ),
    )
    lease_seconds: int = field(
        default=30,
        metadata=declare(
            whole(minimum=1),
            "a worker's claim on an export; a dead worker's job is taken over after it (and a "
            "SQLite import killed part way is discarded after it)",
        ),
    )
    max_attempts: int = field(
        default=3,
        metadata=declare(whole(minimum=1), "claims before an export is given up as `Failed`"),
    )
    poll_seconds: float = field(
        default=1.0,
        metadata=declare(
            number(above=0), "how often idle workers look for work (new exports also wake them)"
        ),
    )
    write_wait_seconds: float = field(
        default=5.0,
        metadata=declare(
            number(minimum=0),
            "SQLite: how long a write waits for the database's write lock; an API request still "
            "waiting then gets `503` with `Retry-After`, a worker tries again later",
        ),
    )
    sweep_seconds: int = field(
        default=3600,
        metadata=declare(
            whole(minimum=1), "how often expired exports are deleted (and partitions kept)"
        ),
    )
    # Checked when the store is opened (pipeline/file_store.py), never repeating a credential.
    storage_url: str | None = field(
        default=None,
        metadata=declare(
            text(),
            "`s3://bucket/prefix`: export files in S3-compatible storage (credentials: "
            "`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or any source boto3 reads)",
            shown_default="unset: files in the data dir",
        ),
    )
    s3_endpoint_url: str | None = field(
        default=None,
        metadata=declare(
            url("http", "https"),
            "e.g. `http://minio.internal:9000` for MinIO or Ceph (path-style addressing)",
            shown_default="AWS",
        ),
    )
    s3_region: str = field(default="us-east-1", metadata=declare(text(), "the bucket's region"))
    s3_downloads: str = field(
        default="stream",
        metadata=declare(
            choice("stream", "redirect"),
            "`stream` through the API, or `redirect` (307) to a presigned URL",
        ),
    )
    s3_presign_seconds: int = field(
        default=300,
        metadata=declare(
            whole(minimum=1, maximum=7 * 24 * 3600),  # SigV4's limit
            "how long a presigned download URL is valid",
        ),
    )
    partitions_ahead_months: int = field(
        default=3,
        metadata=declare(
            whole(minimum=0), "PostgreSQL: CDR partitions created ahead of the current month"
        ),
    )
    cdr_retention_months: int = field(
        default=1,
        metadata=declare(
            whole(minimum=0),
            "PostgreSQL: months of CDRs kept past the exportable window, then dropped",
        ),
    )
    gzip_level: int = field(
        default=1,
        metadata=declare(
            whole(minimum=0, maximum=3),
            "ISA-L level (0-3) of `.csv.gz` export files (bench/gzip_levels.py shows why 1)",
        ),
    )
    export_slices: int = field(
        default=1,
        metadata=declare(
            whole(minimum=1),
            "PostgreSQL: time slices one export copies in parallel, each on its own connection",
        ),
    )
    callback_retry_delays: tuple[int, ...] = field(
        default=RETRY_DELAYS_SECONDS,
        metadata=declare(
            seconds_list(),
            "seconds before each retry of a callback that got no 2xx (DIDWW's schedule; then it "
            "is dropped); empty: no retries",
        ),
    )
    callback_timeout_seconds: float = field(
        default=60.0,
        metadata=declare(
            number(above=0), "a callback request taking longer has failed (DIDWW's 60 s)"
        ),
    )
    # A callback URL is the customer's to choose: these keep it off the operator's network.
    callback_allow_private: bool = field(
        default=False,
        metadata=declare(
            boolean(),
            "`1` lets callbacks reach loopback, private, link-local and other non-public addresses",
        ),
    )
    callback_senders: int = field(
        default=4,
        metadata=declare(
            whole(minimum=0),
            "callback sender threads per worker process (`serve` with workers, or `cdrex worker`): "
            "a hanging endpoint holds only one",
        ),
    )
    callback_per_account: int = field(
        default=2,
        metadata=declare(
            whole(minimum=1),
            "callbacks of one account in flight at once, counted over every process: an account "
            "whose endpoints hang holds no more senders than this",
            shown_default="half of `CDREX_CALLBACK_SENDERS`, at least 1",
            default_from=_half_the_senders,
        ),
    )
    response_cache_bytes: int = field(
        default=4 * 1024 * 1024,
        metadata=declare(
            whole(minimum=0),
            "bytes (keys and bodies) of rendered list pages each API process keeps (SQLite; "
            "`0`: none)",
        ),
    )

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """The settings the environment gives, then ``overrides`` that are not None (CLI
        flags); SettingError for a value its setting refuses."""
        read: dict[str, Any] = {}
        for declared in fields(cls):
            read[declared.name] = _from_env(declared, read)
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(cls(**read), **given)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'cdrex.sqlite3').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "exports"


def variable(name: str) -> str:
    return PREFIX + name.upper()


def declarations() -> list[tuple[str, Any, Declaration]]:
    """(field name, default, declaration) of every setting, in declaration order."""
    return [(f.name, f.default, f.metadata["setting"]) for f in fields(Settings)]


def _from_env(settings_field: Field[Any], read: Mapping[str, Any]) -> Any:
    """One setting's value from its variable; ``read``: the settings declared before it."""
    declared: Declaration = settings_field.metadata["setting"]
    name = variable(settings_field.name)
    raw = os.environ.get(name)
    if raw is None or (raw == "" and declared.kind.blank_is_unset):
        return declared.default_from(read) if declared.default_from else settings_field.default
    try:
        return declared.kind.read(raw)
    except Refused as refused:
        raise SettingError(name, raw, refused.expected) from None


def _shown(default: Any, declared: Declaration) -> str:
    if declared.shown_default is not None:
        return declared.shown_default
    if isinstance(default, bool):
        return "`1`" if default else "`0`"
    if isinstance(default, tuple):
        return f"`{','.join(map(str, default))}`"
    return f"`{default:g}`" if isinstance(default, float) else f"`{default}`"


def markdown() -> str:
    """docs/configuration.md: the table of every setting."""
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable; unset means the default, and so does empty",
        "unless its meaning says otherwise. A value a setting refuses stops any `cdrex` command",
        "with `Error: VARIABLE: 'value' is not ...` and exit code 2. Booleans are `1`, `true`,",
        "`yes` or `0`, `false`, `no` (any case).",
        "",
        "Generated by `python -m cdrex.settings` from the declarations in",
        "`src/cdrex/settings.py`; edit those, then regenerate this file.",
        "",
        "| Variable | Default | Meaning |",
        "| --- | --- | --- |",
    ]
    for name, default, declared in declarations():
        lines.append(f"| `{variable(name)}` | {_shown(default, declared)} | {declared.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
