"""The operator API over HTTP: operator keys, and batches of CDRs pushed to
POST /operator/v1/cdrs, routed, deduplicated and counted as an import is, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from conftest import Service, assert_error, create_account, durations, month_back, run_sql

PATH = "/operator/v1/cdrs"


def last_month(day: int) -> str:
    year, month = month_back(1)  # wholly past and still kept, whatever the date today
    return f"{year}-{month:02d}-{day:02d} 10:00:00"


def too_old() -> str:
    year, month = month_back(5)  # before the 3 months kept past the current one
    return f"{year}-{month:02d}-10 10:00:00"


@pytest.fixture(scope="module")
def operator_key(cli_service: Service) -> str:
    return cli_service.cli("operator-keys", "create").stdout.decode().strip()


def push(service: Service, key: str | None, body: bytes, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=service.base_url, timeout=60) as client:
        return client.post(PATH, params=params, content=body, headers=headers)


def owned_number(service: Service, account: str) -> str:
    did = str(random.randrange(10**11, 10**12))
    service.cli("dids", "assign", did, "--account", account)
    return did


def test_a_batch_is_routed_and_a_retried_one_stored_once(
    cli_service: Service, operator_key: str
) -> None:
    first, second = create_account(cli_service, "op"), create_account(cli_service, "op")
    one, two = owned_number(cli_service, first), owned_number(cli_service, second)
    body = "\n".join(
        [
            "time_start,did_number,duration",
            f"{last_month(1)},{one},1",
            f"{last_month(2)},{two},2",
            f"{last_month(3)},{one},3",
            f"{last_month(4)},999999999999,4",  # nobody's
            f"{too_old()},{one},5",
        ]
    ).encode()
    answered = push(cli_service, operator_key, body, type="cdr_in")
    assert answered.status_code == 200, answered.text
    assert answered.headers["content-type"] == "application/json"
    assert answered.json() == {
        "imported": 3,
        "duplicates": 0,
        "unrouted": 1,
        "too_old": 1,
        "ignored": 0,
    }
    again = push(cli_service, operator_key, body)
    assert again.json() == {
        "imported": 0,
        "duplicates": 3,
        "unrouted": 1,
        "too_old": 1,
        "ignored": 0,
    }
    assert durations(cli_service, first) == [1, 3]
    assert durations(cli_service, second) == [2]


def test_json_arrays_and_json_lines(cli_service: Service, operator_key: str) -> None:
    account = create_account(cli_service, "op")
    did = owned_number(cli_service, account)
    records = [
        {"time_start": last_month(5), "did_number": did, "duration": n, "call_id": f"c{n}"}
        for n in (10, 11)
    ]
    array = push(cli_service, operator_key, json.dumps(records).encode())
    assert array.json()["imported"] == 2, array.text
    lines = "\n".join(json.dumps({**record, "call_id": "c12"}) for record in records[:1])
    assert push(cli_service, operator_key, lines.encode()).json()["imported"] == 1
    assert durations(cli_service, account) == [10, 10, 11]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"time_start,did_number,duration\n2026-01-01 00:00:00,4412345,x\n", "line 2: duration"),
        (b'[{"time_start": "soon", "did_number": "441", "duration": 1}]', "record 1: time_start"),
        (b'[{"time_start": 1}', "not valid JSON"),
        (b'{"a": 1}\n', "line 1: unknown field 'a'"),
        (b"[1, 2]", "an array of objects"),
    ],
)  # fmt: skip
def test_a_malformed_batch_is_422_naming_the_record_and_stores_nothing(
    cli_service: Service, operator_key: str, body: bytes, detail: str
) -> None:
    refused = push(cli_service, operator_key, body)
    error = assert_error(refused, 422)
    assert detail in error["detail"], error


def test_a_batch_with_one_bad_record_stores_none_of_it(
    cli_service: Service, operator_key: str
) -> None:
    account = create_account(cli_service, "op")
    did = owned_number(cli_service, account)
    body = f"time_start,did_number,duration\n{last_month(6)},{did},1\n{last_month(7)},{did},-1\n"
    error = assert_error(push(cli_service, operator_key, body.encode()), 422)
    assert error["detail"].startswith("line 3: duration: must be at least 0"), error
    assert durations(cli_service, account) == []


def test_keys_parameters_and_size(cli_service: Service, operator_key: str) -> None:
    body = b"time_start,did_number,duration\n"
    assert_error(push(cli_service, None, body), 401)
    unauthorized = push(cli_service, "not-a-key", body)
    assert_error(unauthorized, 401)
    assert unauthorized.headers["www-authenticate"].startswith("Bearer")
    customer_key = cli_service.new_account()
    assert_error(push(cli_service, customer_key, body), 401)  # a customer key is not one
    with cli_service.client(operator_key) as client:  # nor an operator key a customer's
        assert_error(client.get("/v3/cdr_exports"), 401)
    assert_error(push(cli_service, operator_key, body, type="sms"), 400)
    assert_error(push(cli_service, operator_key, body, format="asterisk"), 400)
    too_large = push(cli_service, operator_key, b"x" * (32 * 1024 * 1024 + 1))
    assert_error(too_large, 413)


def test_operator_keys_are_listed_and_revoked(cli_service: Service) -> None:
    key = cli_service.cli("operator-keys", "create").stdout.decode().strip()
    assert key.startswith("cdrexop_")
    listed = cli_service.cli("operator-keys", "list").stdout.decode()
    assert f"{key[:12]}…\t" in listed
    customer_keys = cli_service.cli("keys", "list").stdout.decode()
    assert key[:12] not in customer_keys  # operator keys are not the customers'
    revoked = cli_service.cli("operator-keys", "revoke", key[:12])
    assert revoked.stdout.decode() == f"revoked operator key {key[:12]}…\n"
    assert_error(push(cli_service, key, b"time_start,did_number,duration\n"), 401)


def test_a_batch_that_cannot_get_its_turn_is_503_and_stores_nothing(
    cli_service: Service, operator_key: str
) -> None:
    """SQLite imports into one table take turns; PostgreSQL's need none."""
    account = create_account(cli_service, "op")
    did = owned_number(cli_service, account)
    body = f"time_start,did_number,duration\n{last_month(8)},{did},8\n".encode()
    # Another import into cdrs_in has the turn, and keeps its lease (renewed far ahead).
    run_sql(
        cli_service,
        "INSERT INTO cdr_imports (cdr_table, status, renewed_at, first_row_id) "
        "VALUES ('cdrs_in', 'copying', '2999-01-01 00:00:00.000000', 1)",
    )
    try:
        answered = push(cli_service, operator_key, body)
        if cli_service.database().is_sqlite:
            assert_error(answered, 503)
            assert answered.headers["retry-after"].isdigit()
            assert durations(cli_service, account) == []
        else:
            assert answered.json()["imported"] == 1, answered.text
    finally:
        run_sql(cli_service, "DELETE FROM cdr_imports WHERE renewed_at > '2900-01-01'")
    assert push(cli_service, operator_key, body).status_code == 200
    assert durations(cli_service, account) == [8]
