"""Export files in S3-compatible object storage, uploaded in parts while they are built.

An object only appears when its upload completes (a single PUT for a file smaller than one
part, else CompleteMultipartUpload), so a half-written file is never visible; an upload a
killed worker left behind stays invisible until the sweeper aborts it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from cdrex.pipeline.file_store import (
    READ_CHUNK,
    FileReader,
    FileStore,
    FileTooLarge,
    StorageConfigError,
    StorageFull,
    StorageUnavailable,
    StoredFile,
)
from cdrex.settings import Settings

log = logging.getLogger("cdrex.storage")

# S3's smallest part is 5 MiB (the last one excepted). 8 MiB, boto3's own default, keeps one
# buffer per export being built small and allows files of up to 10,000 parts, ~80 GB.
PART_SIZE = 8 * 1024 * 1024
DOWNLOAD_MODES = ("stream", "redirect")
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit
# Refusals for want of room: a quota (S3-compatible stores such as Ceph's), MinIO's full
# drives, or HTTP 507 Insufficient Storage, whatever its code. Writes work once space is freed.
_FULL_CODES = frozenset(
    {"QuotaExceeded", "XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "InsufficientStorage"}
)
_INSUFFICIENT_STORAGE = 507


def open_s3_files(settings: Settings) -> S3Files:
    """The store ``s3://bucket[/prefix]`` names, its client built from the CDREX_S3_* settings
    and the usual AWS_* credential sources. Nothing is sent to the storage yet: a process
    starts while the storage is down, and answers 503 until it is back."""
    import boto3
    from botocore.config import Config

    url = urlsplit(settings.storage_url or "")
    bucket = url.netloc
    if not bucket or "@" in bucket or ":" in bucket or url.query or url.fragment:
        # The URL is not repeated: a mistyped one may hold a credential.
        raise StorageConfigError(
            "CDREX_STORAGE_URL must be s3://bucket or s3://bucket/prefix, without "
            "credentials (those come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    if settings.s3_downloads not in DOWNLOAD_MODES:
        raise StorageConfigError(
            f"CDREX_S3_DOWNLOADS must be 'stream' or 'redirect', not {settings.s3_downloads!r}"
        )
    if not 1 <= settings.s3_presign_seconds <= MAX_PRESIGN_SECONDS:
        raise StorageConfigError(
            f"CDREX_S3_PRESIGN_SECONDS must be between 1 and {MAX_PRESIGN_SECONDS}"
        )
    config = Config(
        # Connection errors, throttling and 5xx are retried a little, then reported (a
        # download answers 503, a build attempt fails and is retried by the job queue).
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=64,  # downloads run on the API's thread pool, 40 threads
        signature_version="s3v4",  # also for presigned URLs; SigV2 is retired at AWS
        # A custom endpoint (MinIO, Ceph, moto) rarely has per-bucket DNS names.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        # botocore 1.36+ adds CRC checksums many S3-compatible servers reject; the file's
        # own SHA-256 is recorded and served as its ETag.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            config=config,
        )
    except ValueError as error:  # botocore's "Invalid endpoint: ..."
        raise StorageConfigError(f"CDREX_S3_ENDPOINT_URL: {error}") from None
    return S3Files(bucket, url.path, client)


class _S3Reader(FileReader):
    """A GET's body, read from the connection as it is iterated."""

    def __init__(self, got: dict) -> None:
        self.length = got["ContentLength"]  # the range's, when a range was asked for
        self.last_modified = got["LastModified"]
        self._body = got["Body"]  # botocore's StreamingBody

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._body.iter_chunks(READ_CHUNK)
        finally:
            self.close()

    def close(self) -> None:
        self._body.close()  # returns the connection to the pool; safe to repeat


class S3Files(FileStore):
    """Export files as objects ``prefix/name`` in one bucket."""

    def __init__(self, bucket: str, prefix: str, client: Any, part_size: int = PART_SIZE) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.part_size = part_size

    def key(self, name: str) -> str:
        return self.prefix + name

    @contextmanager
    def writer(self, name: str) -> Iterator[BinaryIO]:
        upload = _Upload(self, self.key(name))
        try:
            yield cast(BinaryIO, upload)
            upload.finish()
        except BaseException:
            upload.abort()
            raise

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))  # no error if absent

    def delete_stale_partials(self, older_than: float) -> int:
        """Abort multipart uploads under the prefix that got no part since ``older_than``
        (left by killed workers; S3 keeps, and bills, them until aborted)."""
        aborted = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                key, upload_id = upload["Key"], upload["UploadId"]
                if upload["Initiated"].timestamp() >= older_than or self._part_since(
                    key, upload_id, older_than
                ):
                    continue
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                    aborted += 1
                except ClientError as error:
                    if _code(error) != "NoSuchUpload":  # else completed or aborted meanwhile
                        raise
        return aborted

    def _part_since(self, key: str, upload_id: str, moment: float) -> bool:
        """Whether the upload got a part at ``moment`` or later: a live writer keeps adding
        parts, as it keeps a local partial file's mtime fresh."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=key, UploadId=upload_id
        )
        return any(
            part["LastModified"].timestamp() >= moment
            for page in pages
            for part in page.get("Parts", [])
        )

    def stat(self, name: str) -> StoredFile:
        with _translated_errors(name):
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        return StoredFile(head["ContentLength"], head["LastModified"])

    def read(self, name: str, span: tuple[int, int] | None = None) -> FileReader:
        ranged = {"Range": f"bytes={span[0]}-{span[1] - 1}"} if span else {}
        with _translated_errors(name):
            got = self.client.get_object(Bucket=self.bucket, Key=self.key(name), **ranged)
        return _S3Reader(got)

    def presigned_url(
        self, name: str, seconds: int, content_type: str, content_disposition: str
    ) -> str:
        """A GET URL valid for ``seconds``, signed here without asking the storage (so the
        object may be gone by the time it is used: the storage then answers 404)."""
        with _translated_errors(name):  # signing may need to fetch credentials first
            return self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key(name),
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": content_disposition,
                },
                ExpiresIn=seconds,
            )


class _Upload(io.RawIOBase):
    """A file being written: bytes are buffered up to one part, then uploaded as that part.

    The multipart upload is created with the first full part, so a file smaller than one
    part costs a single PUT. At most one part (plus one write) is held in memory.
    """

    def __init__(self, files: S3Files, key: str) -> None:
        super().__init__()
        self._files = files
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        if len(self._buffer) >= self._files.part_size:
            self._upload_part()
        return memoryview(data).nbytes

    def _upload_part(self) -> None:
        client, bucket = self._files.client, self._files.bucket
        number = len(self._parts) + 1
        with _translated_errors(self._key):
            if self._upload_id is None:
                created = client.create_multipart_upload(Bucket=bucket, Key=self._key)
                self._upload_id = created["UploadId"]
            part = client.upload_part(
                Bucket=bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )
        self._parts.append({"PartNumber": number, "ETag": part["ETag"]})
        self._buffer.clear()

    def finish(self) -> None:
        """Make the object appear, whole."""
        client, bucket = self._files.client, self._files.bucket
        if self._upload_id is not None and self._buffer:
            self._upload_part()  # the last part may be smaller than the others
        with _translated_errors(self._key):
            if self._upload_id is None:
                client.put_object(Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
            else:
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )

    def abort(self) -> None:
        """Drop the parts sent so far; the object (or the one before it) is untouched."""
        self._buffer.clear()
        if self._upload_id is None:
            return
        try:
            self._files.client.abort_multipart_upload(
                Bucket=self._files.bucket, Key=self._key, UploadId=self._upload_id
            )
        except (BotoCoreError, ClientError) as error:  # the sweeper aborts it later
            log.warning("could not abort the upload of %s: %s", self._key, error)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _http_status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


@contextmanager
def _translated_errors(name: str) -> Iterator[None]:
    """botocore's errors as callers need them: missing, full, too large, or the storage
    unavailable. Any other refusal (no such bucket, access denied) is a fault of the
    deployment, not of the request or the export: a client can only be told to try again,
    and so can a worker."""
    try:
        yield
    except ClientError as error:
        code = _code(error)
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(name) from None
        if code in _FULL_CODES or _http_status(error) == _INSUFFICIENT_STORAGE:
            raise StorageFull(str(error)) from error
        if code == "EntityTooLarge":
            raise FileTooLarge(str(error)) from error
        raise StorageUnavailable(str(error)) from error
    except BotoCoreError as error:  # cannot connect, timed out, no credentials
        raise StorageUnavailable(str(error)) from error
