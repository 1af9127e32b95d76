"""Where export files go: a local directory (the default) or S3-compatible object storage.

``FileStore`` is the whole contract the worker and the API rely on; LocalFiles, S3Files and
MemoryFiles (for tests) implement it, and nothing outside them knows which one it has.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from urllib.parse import urlsplit

from cdrex.settings import Settings

__all__ = [
    "READ_CHUNK",
    "FileReader",
    "FileStore",
    "FileTooLarge",
    "StorageConfigError",
    "StorageFull",
    "StorageUnavailable",
    "StoredFile",
    "open_file_store",
]

READ_CHUNK = 64 * 1024  # what a download reads per hop to a worker thread, as FileResponse


@dataclass(frozen=True)
class StoredFile:
    """A stored file as ``stat`` finds it."""

    size: int  # bytes
    last_modified: datetime  # aware, UTC


class FileReader(ABC):
    """An open file's bytes, the whole file's or one range's, as ``FileStore.read`` gives
    them. It holds a file or a connection until closed."""

    length: int  # bytes ``chunks`` yields
    last_modified: datetime  # the file's, for Last-Modified

    @abstractmethod
    def chunks(self) -> Iterator[bytes]:
        """The bytes, in pieces of at most READ_CHUNK; closes the reader when done. Each
        piece may block on the disk or the network: iterate off the event loop."""

    @abstractmethod
    def close(self) -> None:
        """Release the file or connection; safe to call again, and on a reader never read."""


class FileStore(ABC):
    """Where export files live, by name (``<file_name><suffix>``, no directories).

    Every method blocks (disk, network): the API calls them off the event loop. Besides the
    errors each names, any may raise StorageUnavailable (the store cannot answer now; the
    API answers 503, a worker's attempt fails and is retried), and writes StorageFull or
    FileTooLarge.
    """

    @abstractmethod
    def writer(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A file to write ``name``'s bytes to. They become the file ``name`` (replacing
        any before it) only when the block exits without error, and then whole; a block
        that raises leaves nothing behind, and the earlier file, if any, untouched. Until
        then readers see the earlier file or none: never part of the new one. Two writers
        of the same name may run at once (a worker whose lease expired is still writing):
        the last to finish wins."""

    @abstractmethod
    def stat(self, name: str) -> StoredFile:
        """The file's size and modification time; FileNotFoundError when it is missing."""

    @abstractmethod
    def read(self, name: str, span: tuple[int, int] | None = None) -> FileReader:
        """The file's bytes, or those in ``span`` = [start, end) only (0 <= start < end <=
        size: the caller checked it against the size); FileNotFoundError when it is
        missing. The caller closes the reader."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove the file; a missing one is no error (the sweep may race a retry)."""

    @abstractmethod
    def delete_stale_partials(self, older_than: float) -> int:
        """The sweep: remove unfinished writes (left by killed workers) that got no bytes
        since ``older_than`` (a Unix time), and return how many. A live writer's are kept,
        however old: it keeps writing."""

    def presigned_url(
        self, name: str, seconds: int, content_type: str, content_disposition: str
    ) -> str | None:
        """A URL that serves the file for ``seconds`` to whoever holds it, with these
        response headers, so that a download need not pass through the API; None when
        this store cannot make one (the API then streams the file itself)."""
        return None


class StorageConfigError(ValueError):
    """The storage settings name no store cdrex can use; the message names the setting."""


class StorageUnavailable(Exception):
    """The store could not be reached or refused to answer; trying again later may work."""


class StorageFull(StorageUnavailable):
    """The store has no room for more (a full disk, a quota): writes work again once an
    operator frees or adds space. A local disk says so with ENOSPC or EDQUOT instead."""


class FileTooLarge(Exception):
    """The store refuses a file this large, however much room it has."""


def open_file_store(settings: Settings) -> FileStore:
    """The store CDREX_STORAGE_URL names; export files under data_dir when it is unset."""
    if settings.storage_url is None:
        from cdrex.pipeline.local_files import LocalFiles  # it implements this module's ABC

        return LocalFiles(settings.files_dir)
    if urlsplit(settings.storage_url).scheme == "s3":
        from cdrex.pipeline.s3_files import open_s3_files  # boto3 takes 0.2 s to import

        return open_s3_files(settings)
    raise StorageConfigError(
        "CDREX_STORAGE_URL must be s3://bucket or s3://bucket/prefix "
        "(or unset, for export files in the data directory)"
    )
