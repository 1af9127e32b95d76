"""Export files in S3-compatible storage (CDREX_STORAGE_URL=s3://bucket/prefix), against a
real S3-protocol server (moto's, in its own process): files uploaded whole or not at all
(one PUT, or a multipart upload above one part; aborted on failure; abandoned uploads
swept), downloads streamed through with the HTTP of a local file or redirected to a
presigned URL, and the same 404, and a 503, where a local file would give them."""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from cdrex.pipeline.file_store import StorageConfigError, StorageUnavailable, open_file_store
from cdrex.pipeline.s3_files import PART_SIZE, S3Files
from cdrex.settings import Settings
from conftest import (
    FAST_WORKERS,
    Service,
    assert_error,
    create_export,
    free_port,
    new_accounts,
    wait_completed,
)
from s3_server import CREDENTIALS, S3Server, start_s3_server

# ~133 bytes a CSV row: about 22 MB, three 8 MiB parts, so a multipart upload that stays open
# while two parts' worth of rows are built: a window the test cannot miss on a busy machine
# (with two parts it closed within one poll, once, in CI).
MULTIPART_ROWS = 170_000


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def _keys(s3: S3Server, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def _uploads(s3: S3Server, bucket: str) -> list[dict]:
    return s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def _etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()}"'


def _no_local_files(service: Service) -> bool:
    exports = service.data_dir / "exports"
    return not exports.exists() or not any(exports.rglob("*"))


# --- End to end through `cdrex serve` -------------------------------------------------------


def test_export_survives_a_kill_mid_upload_then_downloads_whole(make_service, s3: S3Server) -> None:  # type: ignore[no-untyped-def]
    """A worker killed while its multipart upload is open leaves no object behind; after a
    restart the export is built again, and the file comes back whole, streamed from S3."""
    bucket = s3.new_bucket()
    # A short lease: the restarted worker takes the killed one's export over at once.
    service = make_service(**s3.service_env(bucket, "cdr/exports"), CDREX_LEASE_SECONDS="1")
    key = service.new_account("big")
    service.cli(
        "cdrs", "generate", "--account", "big", "--rows", str(MULTIPART_ROWS), "--months", "1"
    )
    service.start("--workers", "1")
    with service.client(key) as client:
        export_id = create_export(client)["id"]
        deadline = time.monotonic() + 30
        while not _uploads(s3, bucket):  # the first part is on its way: kill the worker
            assert time.monotonic() < deadline, "no multipart upload began"
            time.sleep(0.005)
        service.stop(signal.SIGKILL)
        assert _keys(s3, bucket) == [], "the kill came after the upload completed"

    service.start("--workers", "1")
    with service.client(key) as client:
        shown = client.get(f"/v3/cdr_exports/{export_id}").json()["data"]["attributes"]
        assert shown["url"] is None or shown["status"] == "Completed"
        url = wait_completed(client, export_id, 60)["attributes"]["url"]
        file_name = url.rsplit("/", 1)[1]
        response = client.get(url)
        assert response.status_code == 200
        body = response.content
        assert body.count(b"\n") == MULTIPART_ROWS + 1  # the header and every call
        assert response.headers["etag"] == _etag_of(body)
        assert response.headers["content-length"] == str(len(body))
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == f'attachment; filename="{file_name}"'
        ranged = client.get(url, headers={"Range": "bytes=8388600-8388619"})  # across parts
        assert ranged.status_code == 206
        assert ranged.content == body[8388600:8388620]
        assert ranged.headers["content-range"] == f"bytes 8388600-8388619/{len(body)}"
        etag = response.headers["etag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    assert _keys(s3, bucket) == [f"cdr/exports/{file_name}"]
    stored = s3.client().get_object(Bucket=bucket, Key=f"cdr/exports/{file_name}")
    assert stored["Body"].read() == body
    parts = -(-len(body) // PART_SIZE)
    assert parts >= 3 and stored["ETag"].endswith(f'-{parts}"')  # S3's mark of a multipart object
    # The killed worker's upload, if the sweeper has not aborted it yet, goes with the next
    # sweep. (moto dates every upload 2010, so the sweep at start-up may already have.)
    _store(s3, bucket, "cdr/exports").delete_stale_partials(time.time() + 1)
    assert _uploads(s3, bucket) == []
    assert _no_local_files(service)
    assert "Traceback" not in service.log()


# --- Downloads: streamed, redirected, storage down ------------------------------------------


@dataclass
class Stored:
    """A running service keeping its files in S3, an account with a completed export, and
    another account."""

    service: Service
    bucket: str
    client: httpx.Client
    other: httpx.Client
    path: str  # the export's file
    body: bytes  # the file's bytes, read from the bucket

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @contextmanager
    def beside(self, **env: str) -> Iterator[Stored]:
        """Another server process on the same database and bucket, with ``env`` changed."""
        service = Service(self.service.data_dir, None, {**self.service.extra_env, **env})
        service.start("--workers", "0")
        try:
            with (
                service.client(self.client.headers["api-key"]) as client,
                service.client(self.other.headers["api-key"]) as other,
            ):
                yield Stored(service, self.bucket, client, other, self.path, self.body)
        finally:
            service.stop()


@pytest.fixture(scope="module")
def streamed(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    bucket = s3.new_bucket()
    service = Service(
        tmp_path_factory.mktemp("streamed"), None, {**FAST_WORKERS, **s3.service_env(bucket)}
    )
    (owner, key), (_, other_key) = new_accounts(service, 2)
    service.cli("cdrs", "generate", "--account", owner, "--rows", "300", "--months", "1")
    service.start("--workers", "1")
    try:
        with service.client(key) as client, service.client(other_key) as other:
            url = wait_completed(client, create_export(client)["id"])["attributes"]["url"]
            path = httpx.URL(url).path
            key_in_bucket = f"exports/{path.rsplit('/', 1)[1]}"
            body = s3.client().get_object(Bucket=bucket, Key=key_in_bucket)["Body"].read()
            yield Stored(service, bucket, client, other, path, body)
    finally:
        service.stop()
    assert "Traceback" not in service.log()


@pytest.fixture(scope="module")
def redirected(streamed: Stored) -> Iterator[Stored]:
    """Serving the same files by redirecting to presigned URLs."""
    with streamed.beside(CDREX_S3_DOWNLOADS="redirect") as redirected:
        yield redirected


def test_storage_down_answers_503_not_500(streamed: Stored) -> None:
    """A server whose storage does not answer (nothing listens at its endpoint)."""
    with streamed.beside(CDREX_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}") as down:
        for method in ("GET", "HEAD"):
            response = down.client.request(method, down.path)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
        error = assert_error(down.client.get(down.path), 503)
        assert "storage is unavailable" in error["detail"]
        # What comes before the storage still answers as always.
        assert down.other.get(down.path).status_code == 404
        assert down.client.get("/v3/cdr_exports").status_code == 200
    assert "Traceback" not in down.service.log()


def test_streamed_file_is_the_object_with_local_file_headers(streamed: Stored) -> None:
    response = streamed.client.get(streamed.path)
    assert response.status_code == 200
    assert response.content == streamed.body
    assert response.headers["etag"] == _etag_of(streamed.body)
    assert response.headers["content-length"] == str(len(streamed.body))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{streamed.file_name}"'
    )
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "private"
    assert "last-modified" in response.headers
    head = streamed.client.head(streamed.path)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "content-length", "content-type", "content-disposition"):
        assert head.headers[name] == response.headers[name]
    assert _no_local_files(streamed.service)


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [("bytes=0-9", 0, 9), ("bytes=10-", 10, None), ("bytes=-5", -5, None), ("bytes=0-0", 0, 0)],
)
def test_streamed_range_gives_206_with_the_slice(
    streamed: Stored, range_: str, start: int, end: int | None
) -> None:
    full = streamed.body
    response = streamed.client.get(streamed.path, headers={"Range": range_})
    assert response.status_code == 206
    expected = full[start:] if end is None else full[start : end + 1]
    assert response.content == expected
    first = start if start >= 0 else len(full) + start
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(full)}"
    )
    assert response.headers["content-length"] == str(len(expected))


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=abc"},  # unusable: ignored, as for a local file
        {"Range": "items=0-1"},
        {"Range": "bytes=9-2"},
        {"Range": "bytes=0-1,5-6"},  # several ranges: the whole file
        {"Range": "bytes=0-9", "If-Range": '"stale"'},
    ],
)
def test_streamed_range_it_does_not_serve_gives_the_whole_file(
    streamed: Stored, headers: dict[str, str]
) -> None:
    response = streamed.client.get(streamed.path, headers=headers)
    assert response.status_code == 200
    assert response.content == streamed.body


def test_streamed_range_past_the_end_is_416_and_fresh_if_range_is_206(streamed: Stored) -> None:
    size = len(streamed.body)
    past = streamed.client.get(streamed.path, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"
    fresh = streamed.client.get(
        streamed.path, headers={"Range": "bytes=0-9", "If-Range": _etag_of(streamed.body)}
    )
    assert fresh.status_code == 206
    assert fresh.content == streamed.body[:10]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_is_304_in_both_modes(
    streamed: Stored, redirected: Stored, method: str
) -> None:
    for stored in (streamed, redirected):
        etag = _etag_of(stored.body)
        response = stored.client.request(method, stored.path, headers={"If-None-Match": etag})
        assert response.status_code == 304
        assert response.headers["etag"] == etag
        assert "location" not in response.headers


def test_redirect_to_a_presigned_url_that_serves_the_file(redirected: Stored) -> None:
    response = redirected.client.get(redirected.path)
    assert response.status_code == 307
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    fetched = httpx.get(location)  # no Api-Key: the signature is the authorization
    assert fetched.status_code == 200
    assert fetched.content == redirected.body
    assert fetched.headers["content-type"] == "text/csv; charset=utf-8"
    assert fetched.headers["content-disposition"] == (
        f'attachment; filename="{redirected.file_name}"'
    )
    # HEAD is answered, not redirected: a URL signed for GET does not serve HEAD.
    head = redirected.client.head(redirected.path)
    assert head.status_code == 200
    assert head.headers["etag"] == _etag_of(redirected.body)
    assert head.headers["content-length"] == str(len(redirected.body))


@pytest.mark.parametrize("mode", ["streamed", "redirected"])
def test_other_account_missing_object_and_unknown_file_are_404(
    request: pytest.FixtureRequest, s3: S3Server, mode: str
) -> None:
    stored: Stored = request.getfixturevalue(mode)
    for method in ("GET", "HEAD"):
        response = stored.other.request(method, stored.path)
        assert response.status_code == 404
        assert "location" not in response.headers
    assert_error(stored.other.get(stored.path), 404, code="404")
    unknown = stored.path.replace(stored.file_name[:8], "00000000")
    assert_error(stored.client.get(unknown), 404, code="404")
    # A completed export whose object is gone: the 404 a missing local file gets.
    export = wait_completed(stored.client, create_export(stored.client)["id"])
    url = export["attributes"]["url"]
    s3.client().delete_object(Bucket=stored.bucket, Key=f"exports/{url.rsplit('/', 1)[1]}")
    assert_error(stored.client.get(url), 404, code="404")
    assert stored.client.head(url).status_code == 404


# --- The store itself, against the server ---------------------------------------------------


def _store(s3: S3Server | str, bucket: str, prefix: str = "unit") -> S3Files:
    """A store as `cdrex serve` opens it (credentials from the environment), on the server
    or an endpoint URL."""
    endpoint = s3 if isinstance(s3, str) else s3.endpoint
    settings = Settings(storage_url=f"s3://{bucket}/{prefix}", s3_endpoint_url=endpoint)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        store = open_file_store(settings)  # the client reads the credentials now
        assert isinstance(store, S3Files)
    return store


def _write(store: S3Files, name: str, size: int) -> bytes:
    data = hashlib.shake_256(name.encode()).digest(size)
    with store.writer(name) as out:
        for start in range(0, size, 65536):  # COPY-sized chunks, as an export is written
            out.write(data[start : start + 65536])
    return data


def test_small_file_is_one_put_a_large_one_a_multipart_upload(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    small, large = _write(store, "small.csv", 1000), _write(store, "large.csv", PART_SIZE + 1)
    client = s3.client()
    assert client.get_object(Bucket=bucket, Key="unit/small.csv")["Body"].read() == small
    got = client.get_object(Bucket=bucket, Key="unit/large.csv")
    assert got["Body"].read() == large
    assert got["ETag"].endswith('-2"')
    assert "-" not in client.head_object(Bucket=bucket, Key="unit/small.csv")["ETag"]
    assert _uploads(s3, bucket) == []
    store.delete("small.csv")
    store.delete("small.csv")  # deleting what is gone is no error
    assert _keys(s3, bucket) == ["unit/large.csv"]
    with pytest.raises(FileNotFoundError):
        store.stat("small.csv")


@pytest.mark.parametrize("size", [1000, PART_SIZE + 1])
def test_failed_write_leaves_no_object_and_no_upload(s3: S3Server, size: int) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    with pytest.raises(RuntimeError, match="export failed"), store.writer("new.csv") as out:
        out.write(b"x" * size)
        raise RuntimeError("export failed")
    before = _write(store, "again.csv", 100)
    with pytest.raises(RuntimeError, match="export failed"), store.writer("again.csv") as out:
        out.write(b"y" * size)
        raise RuntimeError("export failed")
    assert _keys(s3, bucket) == ["unit/again.csv"]  # the earlier file, untouched
    assert s3.client().get_object(Bucket=bucket, Key="unit/again.csv")["Body"].read() == before
    assert _uploads(s3, bucket) == []


def test_delete_stale_partials_aborts_only_idle_uploads_under_the_prefix(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    store, client = _store(s3, bucket), s3.client()
    start = time.time()
    uploads = {
        key: client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        for key in ("unit/idle.csv", "unit/busy.csv", "elsewhere/idle.csv")
    }
    time.sleep(1.5)  # S3 times have whole seconds
    client.upload_part(
        Bucket=bucket,
        Key="unit/busy.csv",
        UploadId=uploads["unit/busy.csv"],
        PartNumber=1,
        Body=b"part",
    )
    assert store.delete_stale_partials(start + 0.5) == 1
    assert sorted(upload["Key"] for upload in _uploads(s3, bucket)) == [
        "elsewhere/idle.csv",
        "unit/busy.csv",
    ]


def test_unreachable_storage_is_storage_unavailable() -> None:
    """What the API turns into 503, and a worker into a failed attempt."""
    store = _store(f"http://127.0.0.1:{free_port()}", "bucket")
    with pytest.raises(StorageUnavailable):
        _write(store, "small.csv", 1000)
    with pytest.raises(StorageUnavailable):
        _write(store, "large.csv", PART_SIZE + 1)
    with pytest.raises(StorageUnavailable):
        store.stat("small.csv")
    with pytest.raises(StorageUnavailable):
        store.read("small.csv", (0, 10))


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"storage_url": "gs://bucket/exports"}, "CDREX_STORAGE_URL"),
        ({"storage_url": "/var/lib/cdrex"}, "CDREX_STORAGE_URL"),
        ({"storage_url": "s3:///exports"}, "CDREX_STORAGE_URL"),
        ({"storage_url": "s3://AKIA:secret@bucket/exports"}, "CDREX_STORAGE_URL"),
        ({"s3_downloads": "sideways"}, "CDREX_S3_DOWNLOADS"),
        ({"s3_presign_seconds": 0}, "CDREX_S3_PRESIGN_SECONDS"),
        ({"s3_endpoint_url": "not a url"}, "CDREX_S3_ENDPOINT_URL"),
    ],
)
def test_unusable_storage_settings_name_the_setting(changes: dict, setting: str) -> None:
    settings = Settings(**{"storage_url": "s3://bucket/exports", **changes})
    with pytest.raises(StorageConfigError) as raised:
        open_file_store(settings)
    assert setting in str(raised.value)
    assert "secret" not in str(raised.value)


def test_storage_outage_leaves_exports_pending_not_failed(make_service, s3: S3Server) -> None:  # type: ignore[no-untyped-def]
    """A build that cannot reach the store is not the export's fault: it goes back to
    pending without counting an attempt (one attempt allowed here), and completes once the
    store answers again."""
    bucket = s3.new_bucket()
    good = s3.service_env(bucket)
    down = {**good, "CDREX_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    service = make_service(**down, CDREX_MAX_ATTEMPTS="1")
    key = service.new_account()
    service.start("--workers", "1")
    with service.client(key) as client:
        export_id = create_export(client)["id"]
        deadline = time.monotonic() + 30
        while "the file store is unavailable" not in service.log():
            assert time.monotonic() < deadline, service.log()
            time.sleep(0.1)
        time.sleep(1)  # without the attempt given back, the next claim would fail it
        status = client.get(f"/v3/cdr_exports/{export_id}").json()["data"]["attributes"]
        assert status["status"] in ("Pending", "Processing")
    service.stop()
    service.extra_env.update(good)
    service.start("--workers", "1")
    with service.client(key) as client:
        assert wait_completed(client, export_id, 30)["attributes"]["url"]
