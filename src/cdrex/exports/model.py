"""The Export and its lifecycle."""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime


class ExportStatus(enum.StrEnum):
    """Lifecycle states, stored lowercase; each API version spells them its own way."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ExportType(enum.StrEnum):
    CDR_IN = "cdr_in"
    CDR_OUT = "cdr_out"


class CallbackMethod(enum.StrEnum):
    """Stored lowercase; versions up to 2022-05-10 spell them in capitals."""

    POST = "post"
    GET = "get"


@dataclass(frozen=True)
class CdrSelection:
    """Which records an export contains: those started in [start, end) whose columns hold
    the values ``narrowing`` gives, (column, value) pairs in the order of the kind's
    narrowings (cdrex.exports.kinds), which name the only columns it may hold."""

    start: datetime
    end: datetime
    narrowing: tuple[tuple[str, str], ...] = ()


# Export ids and file names are canonical UUID strings (the default factories of Export).
EXPORT_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_export_key(text: str) -> bool:
    """Whether ``text`` can be an export id or file name. Anything else names no export and
    need not reach the database (PostgreSQL even errors on a NUL character in it)."""
    return EXPORT_KEY.fullmatch(text) is not None


@dataclass
class Export:
    account_id: int
    api_version: str  # the version it was created with: it fixes the file's columns
    export_type: ExportType
    filters: dict[str, str]  # the creation filters, echoed back as the client sent them
    selection: CdrSelection
    created_at: datetime
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The file name differs from the id (as in DIDWW's recorded fixtures): knowing an
    # export id does not tell anyone its download URL.
    file_name: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: ExportStatus = ExportStatus.PENDING
    attempts: int = 0
    completed_at: datetime | None = None
    row_count: int | None = None
    byte_size: int | None = None
    sha256: str | None = None
    failure_reason: str | None = None
    callback_url: str | None = None
    callback_method: CallbackMethod | None = None
    external_reference_id: str | None = None
    base_url: str | None = None  # scheme://host[:port] the client created it through

    @property
    def is_completed(self) -> bool:
        return self.status is ExportStatus.COMPLETED
