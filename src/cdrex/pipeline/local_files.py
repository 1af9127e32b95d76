"""Export files in a local directory: write a temporary name, fsync, rename."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cdrex.pipeline.file_store import READ_CHUNK, FileReader, FileStore, StoredFile


class LocalFiles(FileStore):
    """Export files in one directory. A file only ever appears whole under its final name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial = root / "partial"
        self.partial.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name

    @contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        # A unique temporary name: a worker whose lease expired may still be writing
        # while another builds the same export.
        temporary = self.partial / f"{name}.{uuid.uuid4().hex}"
        try:
            with open(temporary, "wb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path(name))
            _fsync_directory(self.root)
        finally:
            temporary.unlink(missing_ok=True)

    def stat(self, name: str) -> StoredFile:
        return _stored(self.path(name).stat())

    def read(self, name: str, span: tuple[int, int] | None = None) -> FileReader:
        file = open(self.path(name), "rb")  # noqa: SIM115 (the reader closes it)
        try:
            stored = _stored(os.fstat(file.fileno()))
            start, end = span or (0, stored.size)
            file.seek(start)
        except BaseException:
            file.close()
            raise
        return _LocalReader(file, end - start, stored.last_modified)

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def delete_stale_partials(self, older_than: float) -> int:
        """Remove temporary files nobody wrote to since ``older_than`` (left by killed
        workers). File times are the file system's clock, which need not be this host's (a
        network file system, a shifted test clock), so the cut-off moves by the difference:
        a live writer's file is never taken for an abandoned one."""
        cutoff = older_than + self._file_clock_ahead()
        removed = 0
        for path in self.partial.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def _file_clock_ahead(self) -> float:
        """Seconds the file system's clock is ahead of this host's."""
        clock = self.root / ".clock"
        # Written, not touched: a write stamps the file as a partial's writes do, whereas
        # utime() takes the caller's idea of now (which libfaketime, for one, shifts).
        clock.write_bytes(b"\n")
        return clock.stat().st_mtime - time.time()


class _LocalReader(FileReader):
    """An open file: the bytes from where it was positioned, ``length`` of them. Opened
    before the response starts, a file renamed over or deleted meanwhile is still read
    whole (POSIX keeps the open one)."""

    def __init__(self, file: BinaryIO, length: int, last_modified: datetime) -> None:
        self._file = file
        self.length = length
        self.last_modified = last_modified

    def chunks(self) -> Iterator[bytes]:
        try:
            left = self.length
            while left > 0 and (chunk := self._file.read(min(READ_CHUNK, left))):
                left -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()


def _stored(stat: os.stat_result) -> StoredFile:
    return StoredFile(stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
