"""While the database refuses connections the API answers 503 with an error document, and
it recovers by itself when the database is back."""

from __future__ import annotations

import pytest

from conftest import _admin_connection, assert_error, create_export

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_api_answers_503_while_postgres_refuses_connections(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = service.new_account()
    service.start("--workers", "0")
    name = service.database_url.rsplit("/", 1)[1]
    with service.client(key) as client:
        export = create_export(client)
        with _admin_connection() as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        try:
            for path in ("/v3/cdr_exports", f"/v3/cdr_exports/{export['id']}"):
                error = assert_error(client.get(path), 503)
                assert "unavailable" in error["detail"]
        finally:
            with _admin_connection() as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert client.get(f"/v3/cdr_exports/{export['id']}").status_code == 200
    assert "Traceback" not in service.log()
