from datetime import UTC, datetime

from conftest import JSONAPI


def test_create_build_download(service) -> None:
    key = service.new_account()
    now = datetime.now(UTC)
    service.cli("cdrs", "generate", "--account", "x" , check=False)
    with service.client(key) as client:
        created = client.post("/v3/cdr_exports", headers={"Content-Type": JSONAPI}, json={
            "data": {"type": "cdr_exports", "attributes": {"filters": {
                "year": now.year, "month": now.month}}}})
        assert created.status_code == 201, created.text
