"""Issue 8: faults that are not the export's own must not spend its attempts.

- a deploy: SIGTERM to `cdrex serve` in the middle of a build, three times over: the server
  exits 0 at once, the export goes back to pending uncounted with no partial file left, and
  the next run completes it with every row;
- a full file store (a real tmpfs, too small for the exports asked for): the exports stay
  pending, uncounted, however often the disk refuses them, the log names the cause in one
  line each time, and they complete once there is room; an export that runs out of
  attempts for other reasons is Failed with a reason a customer can read;
- the failure policy itself, in-process: which errors are outages, which count, and the
  reason each gives.
"""

from __future__ import annotations

import errno
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from cdrex.pipeline.file_store import FileTooLarge, StorageFull
from cdrex.pipeline.local_files import LocalFiles
from cdrex.pipeline.s3_files import S3Files
from cdrex.worker.retry import (
    DATABASE_UNAVAILABLE,
    FILE_TOO_LARGE,
    OUTAGE_BACKOFF_SECONDS,
    STORE_FULL,
    STORE_UNAVAILABLE,
    Limits,
    Retry,
    decide,
)
from conftest import Service, create_export, month_back, run_sql, wait_completed

# About 133 bytes a CSV row. The calls spread over this month and the last, and the tests
# export the last one, which is always whole, whatever the day: it holds half to nearly
# all of the rows.
DEPLOY_ROWS = 300_000  # a build of seconds on SQLite: long enough to be interrupted
FULL_ROWS = 100_000  # a file of 6.5 to 13 MB
MAX_ATTEMPTS = 3  # the default


def export_row(service: Service, export_id: str) -> dict[str, Any]:
    rows = run_sql(service, "SELECT * FROM exports WHERE id = :id", id=export_id)
    return dict(rows[0]._mapping)


def calls_in_last_month(service: Service, account: str) -> int:
    """What a query of cdrs_in finds for the account's previous month."""
    year, month = month_back(1)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    [(count,)] = run_sql(
        service,
        "SELECT count(*) FROM cdrs_in WHERE account_id = "
        "(SELECT id FROM accounts WHERE name = :account) "
        "AND time_start >= :start AND time_start < :end",
        account=account,
        start=f"{start:%Y-%m-%d %H:%M:%S}",
        end=f"{end:%Y-%m-%d %H:%M:%S}",
    )
    return count


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)
    return value


def partial_files(service: Service) -> list[Path]:
    partial = service.data_dir / "exports" / "partial"
    return list(partial.iterdir()) if partial.is_dir() else []


def building(service: Service, export_id: str) -> dict[str, Any] | None:
    """The export's row once a worker is writing its file, else None."""
    row = export_row(service, export_id)
    assert row["status"] in ("pending", "processing"), row
    return row if row["status"] == "processing" and partial_files(service) else None


def sigterm(service: Service) -> tuple[int, float]:
    """SIGTERM to the server, as a deploy sends it; its exit code and how long it took."""
    assert service.process is not None
    signalled = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        code = service.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"no exit 15 s after SIGTERM: {service.log()}") from None
    service.process = None
    return code, time.monotonic() - signalled


# --- A deploy ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # the embedded default, where serve builds
def test_three_sigterms_mid_build_cost_no_attempt_then_it_completes(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = service.new_account("deploys")
    service.cli(
        "cdrs", "generate", "--account", "deploys", "--rows", str(DEPLOY_ROWS), "--months", "2"
    )
    expected = calls_in_last_month(service, "deploys")
    assert expected > DEPLOY_ROWS * 0.45, expected
    service.start("--workers", "1")
    with service.client(key) as client:
        export_id = create_export(client, months_back=1)["id"]
    stopped_in = []
    for deploy in (1, 2, 3):
        row = wait_for(
            lambda: building(service, export_id),
            timeout=30,
            what=f"the build before deploy {deploy}",
        )
        assert row["attempts"] == 1, row  # every earlier attempt was given back
        code, took = sigterm(service)
        log = service.log()
        assert code == 0, log
        assert took < 10, (took, log)
        stopped_in.append(f"{took:.2f} s")
        assert f"export {export_id} goes back to pending" in log, log  # stopped mid-build
        assert "Traceback" not in log, log
        row = export_row(service, export_id)
        assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 0, None), row
        assert partial_files(service) == [], "the unfinished file was left behind"
        assert not list((service.data_dir / "exports").glob(f"{row['file_name']}.*"))
        service.start("--workers", "1")  # the new version
    with service.client(key) as client:
        data = wait_completed(client, export_id, timeout=120)
        body = client.get(data["attributes"]["url"]).content
    row = export_row(service, export_id)
    assert (row["status"], row["attempts"], row["row_count"]) == ("completed", 1, expected), row
    assert body.count(b"\n") - 1 == expected  # the header, then one line a call
    assert partial_files(service) == []
    print(f"SIGTERM mid-build: exited 0 in {', '.join(stopped_in)}; then {expected} rows")


# --- A full file store ---------------------------------------------------------------------


@pytest.fixture
def mount_tmpfs() -> Iterator[Callable[[Path, int], None]]:
    """Mounts a tmpfs of a given size on a directory (root only); unmounted at the end."""
    mounted: list[Path] = []

    def mount(path: Path, size: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
        mounted.append(path)

    yield mount
    for path in mounted:
        subprocess.run(["umount", "--lazy", str(path)], check=True)  # a server may hold files


def resize_tmpfs(path: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def file_size_estimate(rows: int) -> int:
    return rows * 133


def full_store_warnings(log: str) -> dict[str, int]:
    """How often each export was handed back because the file store was full."""
    found = re.findall(
        rf"WARNING: +cdrex\.worker worker \S+: {STORE_FULL} \(\[Errno 28\] No space left on "
        r"device[^\n]*\); export (\S+) goes back to pending",
        log,
    )
    return {export_id: found.count(export_id) for export_id in set(found)}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_full_file_store_keeps_exports_pending_uncounted_until_there_is_room(  # type: ignore[no-untyped-def]
    make_service, mount_tmpfs
) -> None:
    service = make_service()
    key = service.new_account("full")
    service.cli("cdrs", "generate", "--account", "full", "--rows", str(FULL_ROWS), "--months", "2")
    expected = calls_in_last_month(service, "full")
    # Room for two of the four files: two complete, the others cannot, however often tried.
    store = service.data_dir / "exports"
    mount_tmpfs(store, int(file_size_estimate(expected) * 2.5))
    service.start("--workers", "2")
    with service.client(key) as client:
        export_ids = [create_export(client, months_back=1)["id"] for _ in range(4)]

        def refused_more_than_max_attempts() -> bool:
            rows = [export_row(service, export_id) for export_id in export_ids]
            for row in rows:
                assert row["status"] != "failed", (row, service.log())
                # Counted only while a worker holds it: a refusal gives the attempt back.
                assert row["attempts"] == (row["status"] != "pending"), row
            warnings = full_store_warnings(service.log())
            return any(count > MAX_ATTEMPTS for count in warnings.values())

        full_since = time.monotonic()
        wait_for(
            refused_more_than_max_attempts,
            timeout=90,
            what=f"an export refused more than {MAX_ATTEMPTS} times",
        )
        full_for = time.monotonic() - full_since
        log = service.log()
        assert "Traceback" not in log, log  # one line a refusal, no flood
        rows = [export_row(service, export_id) for export_id in export_ids]
        waiting = [row for row in rows if row["status"] != "completed"]
        assert len(waiting) >= 2, waiting
        assert {row["failure_reason"] for row in waiting if row["status"] == "pending"} == {
            STORE_FULL
        }, waiting
        shown = client.get(f"/v3/cdr_exports/{waiting[0]['id']}").json()["data"]
        assert shown["attributes"]["status"] in ("Pending", "Processing"), shown

        resize_tmpfs(store, int(file_size_estimate(expected) * 5))  # the operator adds room
        resized = time.monotonic()
        for export_id in export_ids:
            wait_completed(client, export_id, timeout=60)
        done_in = time.monotonic() - resized
    for export_id in export_ids:
        row = export_row(service, export_id)
        assert (row["attempts"], row["row_count"], row["failure_reason"]) == (1, expected, None), (
            row
        )
    assert partial_files(service) == []
    print(
        f"full store: {sum(full_store_warnings(log).values())} refusals in {full_for:.1f} s, "
        f"none counted; all completed {done_in:.1f} s after the resize"
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_export_out_of_attempts_after_a_full_store_is_failed_with_a_readable_reason(  # type: ignore[no-untyped-def]
    make_service, mount_tmpfs
) -> None:
    service = make_service()
    key = service.new_account("unlucky")
    service.cli("cdrs", "generate", "--account", "unlucky", "--rows", "20000", "--months", "2")
    mount_tmpfs(service.data_dir / "exports", 256 * 1024)  # smaller than the file
    service.start("--workers", "1")
    with service.client(key) as client:
        export_id = create_export(client, months_back=1)["id"]
        wait_for(
            lambda: export_row(service, export_id)["failure_reason"] == STORE_FULL,
            timeout=30,
            what="the store to refuse the file",
        )
        # Its attempts spent otherwise (workers killed mid-build, each claim counted), as
        # the last error the store's refusal: the claim after that gives up.
        run_sql(
            service, "UPDATE exports SET attempts = :n WHERE id = :id", n=MAX_ATTEMPTS, id=export_id
        )

        def failed() -> dict | None:
            data = client.get(f"/v3/cdr_exports/{export_id}").json()["data"]
            return data if data["attributes"]["status"] == "Failed" else None

        data = wait_for(failed, timeout=30, what="the export to fail")
    assert data["meta"] == {
        "failure_reason": f"gave up after {MAX_ATTEMPTS} attempts; last error: {STORE_FULL}"
    }


def test_a_write_refused_for_want_of_room_leaves_no_partial_file(
    mount_tmpfs: Callable[[Path, int], None], tmp_path: Path
) -> None:
    mount_tmpfs(tmp_path / "store", 64 * 1024)
    files = LocalFiles(tmp_path / "store")
    with pytest.raises(OSError) as refused, files.writer("big.csv") as out:
        for _ in range(4):
            out.write(b"x" * 32 * 1024)
    assert refused.value.errno == errno.ENOSPC
    assert list(files.partial.iterdir()) == []
    assert not files.path("big.csv").exists()
    with files.writer("small.csv") as out:  # the room is back for the next file
        out.write(b"y" * 32 * 1024)


# --- The failure policy --------------------------------------------------------------------


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def decide_failure(error: Exception, database_answers: Callable[[], bool]) -> Retry:
    """The retry policy's decision for a build that raised ``error``, at NOW."""
    decision = decide(error, 1, NOW, Limits(MAX_ATTEMPTS), database_answers)
    assert isinstance(decision, Retry)  # a build's failure is never given up on at once
    return decision


def assert_outage(decision: Retry, reason: str) -> None:
    """Uncounted, with this reason, and a pause of 5 s plus up to half again."""
    assert (decision.count_attempt, decision.reason) == (False, reason)
    pause = (decision.at - NOW).total_seconds()
    assert OUTAGE_BACKOFF_SECONDS <= pause <= OUTAGE_BACKOFF_SECONDS * 1.5


def _answers() -> bool:
    return True


def _does_not_answer() -> bool:
    return False


class _RefusingS3:
    """An S3 client that refuses every upload with one error code and HTTP status."""

    def __init__(self, code: str, status: int) -> None:
        self.response = {
            "Error": {"Code": code, "Message": "refused"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    def put_object(self, **_: object) -> None:
        raise ClientError(self.response, "PutObject")  # type: ignore[arg-type]


def _s3_error(code: str, status: int = 400) -> Exception:
    """What writing a file to an S3 store raises when the store refuses it so."""
    files = S3Files("bucket", "exports", _RefusingS3(code, status))
    with pytest.raises(Exception) as raised, files.writer("file.csv") as out:
        out.write(b"a,b\n")
    return raised.value


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        StorageFull("refused"),
    ],
    ids=["ENOSPC", "EDQUOT", "StorageFull"],
)
def test_a_full_store_is_an_outage_the_customer_can_read(error: Exception) -> None:
    assert_outage(decide_failure(error, _does_not_answer), "the file store is full")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("QuotaExceeded", 403),  # Ceph's user and bucket quotas
        ("XMinioStorageFull", 507),
        ("XMinioAdminBucketQuotaExceeded", 400),
        ("InsufficientStorage", 507),
        ("SomeOtherName", 507),  # Insufficient Storage, whatever the store calls it
    ],
)
def test_s3_refusals_for_want_of_room_are_a_full_store(code: str, status: int) -> None:
    error = _s3_error(code, status)
    assert isinstance(error, StorageFull)
    assert_outage(decide_failure(error, _answers), STORE_FULL)


def test_s3_other_refusals_are_an_unavailable_store_and_too_large_counts() -> None:
    assert_outage(decide_failure(_s3_error("AccessDenied", 403), _answers), STORE_UNAVAILABLE)
    assert isinstance(_s3_error("EntityTooLarge"), FileTooLarge)
    # Too large stays too large: retried uncounted it would stay pending forever.
    for error in (_s3_error("EntityTooLarge"), OSError(errno.EFBIG, "File too large")):
        decision = decide_failure(error, _answers)
        assert (decision.count_attempt, decision.reason) == (True, FILE_TOO_LARGE)


def test_database_errors_are_an_outage_only_while_it_does_not_answer() -> None:
    error = sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))
    assert_outage(decide_failure(error, _does_not_answer), DATABASE_UNAVAILABLE)
    up = decide_failure(error, _answers)  # the query itself failed
    assert (up.count_attempt, up.reason) == (True, "OperationalError")


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        NotADirectoryError(errno.ENOTDIR, "Not a directory"),
    ],
    ids=["ValueError", "NotADirectoryError"],
)
def test_unforeseen_errors_count_and_give_their_type(error: Exception) -> None:
    decision = decide_failure(error, _answers)
    assert (decision.count_attempt, decision.reason, decision.at) == (
        True,
        type(error).__name__,
        NOW,
    )
