"""An export whose build fails on every attempt ends Failed, and the customer sees why."""

from __future__ import annotations

import shutil
import time

from conftest import create_export


def test_export_failing_every_attempt_is_failed_with_its_reason(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CDREX_MAX_ATTEMPTS="2")
    key = service.new_account()
    service.start("--workers", "1")
    # Files can no longer be written: the temporary-file folder is now a plain file.
    partial = service.data_dir / "exports" / "partial"
    shutil.rmtree(partial)
    partial.write_bytes(b"")
    with service.client(key) as client:
        export_id = create_export(client)["id"]
        deadline = time.monotonic() + 30
        while (data := client.get(f"/v3/cdr_exports/{export_id}").json()["data"])["attributes"][
            "status"
        ] != "Failed":
            assert time.monotonic() < deadline, data
            time.sleep(0.1)
    assert data["attributes"]["url"] is None
    assert data["meta"] == {
        "failure_reason": "gave up after 2 attempts; last error: NotADirectoryError"
    }
    assert "NotADirectoryError" in service.log()  # the operator gets the whole story
