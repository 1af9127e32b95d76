"""Export files in memory, for tests: the FileStore contract with nothing behind it, as
httpx's MockTransport is a transport with no network."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import BinaryIO

from cdrex.pipeline.file_store import READ_CHUNK, FileReader, FileStore, StoredFile


class _Partial(io.BytesIO):
    """An unfinished write, stamped at each write as a partial file's mtime is."""

    def __init__(self) -> None:
        super().__init__()
        self.written_at = time.time()

    def write(self, data: object) -> int:
        self.written_at = time.time()
        return super().write(data)  # type: ignore[arg-type]


class MemoryFiles(FileStore):
    """Files as bytes in a dict, in one process."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, datetime]] = {}
        self.partials: list[_Partial] = []

    @contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        partial = _Partial()
        self.partials.append(partial)
        try:
            yield partial
            self.files[name] = (partial.getvalue(), datetime.now(UTC))
        finally:
            if partial in self.partials:  # else the sweep took it
                self.partials.remove(partial)

    def stat(self, name: str) -> StoredFile:
        data, modified = self._get(name)
        return StoredFile(len(data), modified)

    def read(self, name: str, span: tuple[int, int] | None = None) -> FileReader:
        data, modified = self._get(name)
        start, end = span or (0, len(data))
        return _MemoryReader(data[start:end], modified)

    def delete(self, name: str) -> None:
        self.files.pop(name, None)

    def delete_stale_partials(self, older_than: float) -> int:
        stale = [partial for partial in self.partials if partial.written_at < older_than]
        self.partials = [partial for partial in self.partials if partial not in stale]
        return len(stale)

    def _get(self, name: str) -> tuple[bytes, datetime]:
        try:
            return self.files[name]
        except KeyError:
            raise FileNotFoundError(name) from None


class _MemoryReader(FileReader):
    def __init__(self, data: bytes, last_modified: datetime) -> None:
        self._data = data
        self.length = len(data)
        self.last_modified = last_modified

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, self.length, READ_CHUNK):
            yield self._data[start : start + READ_CHUNK]

    def close(self) -> None:
        pass  # nothing held
