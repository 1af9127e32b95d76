"""Issue 8: faults that are not the export's own must not spend its attempts.

- a deploy: SIGTERM to `cdrex serve` in the middle of a build, three times over: the server
  exits 0 at once, the export goes back to pending uncounted with no partial file left, and
  the next run completes it with every row;
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Service, create_export, month_back, run_sql, wait_completed

# About 133 bytes a CSV row. The calls spread over this month and the last, and the tests
# export the last one, which is always whole, whatever the day: it holds half to nearly
# all of the rows.
DEPLOY_ROWS = 300_000  # a build of seconds on SQLite: long enough to be interrupted


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
        account=account, start=f"{start:%Y-%m-%d %H:%M:%S}", end=f"{end:%Y-%m-%d %H:%M:%S}",
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
    service.cli("cdrs", "generate", "--account", "deploys", "--rows", str(DEPLOY_ROWS),
                "--months", "2")
    expected = calls_in_last_month(service, "deploys")
    assert expected > DEPLOY_ROWS * 0.45, expected
    service.start("--workers", "1")
    with service.client(key) as client:
        export_id = create_export(client, months_back=1)["id"]
    for deploy in (1, 2, 3):
        row = wait_for(lambda: building(service, export_id), timeout=30,
                       what=f"the build before deploy {deploy}")
        assert row["attempts"] == 1, row  # every earlier attempt was given back
        code, took = sigterm(service)
        log = service.log()
        assert code == 0, log
        assert took < 10, (took, log)
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
