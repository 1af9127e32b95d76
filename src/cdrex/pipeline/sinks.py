"""Where export files go: a local directory (the default) or S3-compatible object storage."""

from __future__ import annotations

import contextlib
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from cdrex.pipeline.local_files import LocalFiles
from cdrex.settings import Settings

__all__ = [
    "FileStore",
    "FileTooLarge",
    "LocalFiles",
    "StorageConfigError",
    "StorageFull",
    "StorageUnavailable",
    "open_file_store",
]


class FileStore(Protocol):
    """Where export files live. A file only ever appears whole under its final name."""

    def writer(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """Bytes written become the file ``name`` when the block exits without error."""
        ...

    def delete(self, name: str) -> None: ...

    def delete_stale_partials(self, older_than: float) -> int:
        """Remove unfinished writes (left by killed workers) older than a Unix time."""
        ...


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
        return LocalFiles(settings.files_dir)
    if urlsplit(settings.storage_url).scheme == "s3":
        from cdrex.pipeline.s3_files import open_s3_files  # boto3 takes 0.2 s to import

        return open_s3_files(settings)
    raise StorageConfigError(
        "CDREX_STORAGE_URL must be s3://bucket or s3://bucket/prefix "
        "(or unset, for export files in the data directory)"
    )
