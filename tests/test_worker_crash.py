"""A worker process killed with SIGKILL mid-export: after a restart the export finishes,
and a half-written file is never served."""

from __future__ import annotations

import hashlib
import signal
import time
from datetime import UTC, datetime

import httpx

from conftest import JSONAPI

ROWS = 150_000


def _create_export(client: httpx.Client, now: datetime) -> str:
    response = client.post(
        "/v3/cdr_exports",
        headers={"Content-Type": JSONAPI},
        json={
            "data": {
                "type": "cdr_exports",
                "attributes": {"filters": {"year": now.year, "month": now.month}},
            }
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def _wait_for(predicate, timeout: float, interval: float = 0.005):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError("timed out")


def test_sigkill_during_export_then_restart_completes_it(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = service.new_account("victim")
    service.cli("cdrs", "generate", "--account", "victim", "--rows", str(ROWS), "--months", "1")
    service.start("--workers", "1")
    partial_dir = service.data_dir / "exports" / "partial"
    now = datetime.now(UTC)
    with service.client(key) as client:
        export_id = _create_export(client, now)
        # Kill the moment the worker has started writing the file.
        _wait_for(lambda: any(partial_dir.iterdir()), timeout=30)
        service.stop(signal.SIGKILL)
        assert any(partial_dir.iterdir()), "the kill came after the export finished"

    service.start("--workers", "1")
    with service.client(key) as client:
        first = client.get(f"/v3/cdr_exports/{export_id}").json()["data"]["attributes"]
        # Until the dead worker's lease runs out, the export is still Processing, unserved.
        assert first["status"] in ("Processing", "Completed")
        assert first["url"] is None or first["status"] == "Completed"

        def completed() -> dict | None:
            attributes = client.get(f"/v3/cdr_exports/{export_id}").json()["data"]["attributes"]
            return attributes if attributes["status"] == "Completed" else None

        attributes = _wait_for(completed, timeout=60, interval=0.2)
        download = client.get(attributes["url"])
    assert download.status_code == 200
    body = download.content
    lines = body.decode().splitlines()
    assert lines[0].startswith("Date/Time (UTC),Source,DID")
    stored = _export_row(service, export_id)
    assert stored["row_count"] == body.count(b"\n") - 1 == _month_rows(service, now)
    assert stored["sha256"] == hashlib.sha256(body).hexdigest()
    assert stored["attempts"] == 2
    assert "lost the lease" not in service.log()


def _export_row(service, export_id: str) -> dict:  # type: ignore[no-untyped-def]
    return _query(
        service, "SELECT row_count, sha256, attempts FROM exports WHERE id = :id", {"id": export_id}
    )[0]


def _month_rows(service, now: datetime) -> int:  # type: ignore[no-untyped-def]
    start = datetime(now.year, now.month, 1)
    rows = _query(
        service,
        "SELECT count(*) AS n FROM cdrs_in JOIN accounts ON accounts.id = account_id "
        "WHERE accounts.name = 'victim' AND time_start >= :start",
        {"start": start},
    )
    return rows[0]["n"]


def _query(service, sql: str, params: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    url = service.database_url or f"sqlite:///{service.data_dir / 'cdrex.sqlite3'}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()
