"""Switches feeding cdrex, end to end on SQLite and PostgreSQL: FreeSWITCH's mod_json_cdr
pushing to POST /operator/v1/freeswitch/json_cdr as it sends (raw, url-encoded, base64;
HTTP Basic from its ``cred``; retried), switch files through `cdrex cdrs import --format`,
and switch batches through POST /operator/v1/cdrs. Times are placed relative to the clock
(yesterday, in the switch's zone), so the tests hold on any date."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from conftest import Service, assert_cli_error, assert_error, create_account, run_sql

SWITCH_SAMPLES = Path(__file__).resolve().parent / "samples" / "switches"
JSON_CDR = "/operator/v1/freeswitch/json_cdr"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def operator_key(cli_service: Service) -> str:
    return cli_service.cli("operator-keys", "create").stdout.decode().strip()


def yesterday() -> datetime:
    """A whole second a day ago, aware UTC: in a month cdrex keeps, whatever the date."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def owned_number(service: Service, account: str) -> str:
    did = str(random.randrange(10**11, 10**12))
    service.cli("dids", "assign", did, "--account", account)
    return did


def a_leg(did: str, start: datetime, **variables: str) -> dict:
    """The sample A-leg (tests/samples/switches), for a call to ``did`` at ``start``."""
    document = orjson.loads((SWITCH_SAMPLES / "freeswitch-a-leg.json").read_bytes())
    micros = int(start.timestamp()) * 1_000_000
    call = str(uuid.uuid4())
    document["variables"] |= {
        "uuid": call,
        "start_uepoch": str(micros),
        "answer_uepoch": str(micros + 5_000_000),
        "end_uepoch": str(micros + 65_000_000),
        **variables,
    }
    document["callflow"][-1]["caller_profile"]["destination_number"] = f"+{did}"
    return document


def send_json_cdr(
    service: Service, key: str, body: bytes, content_type: str, user: str = "freeswitch"
) -> httpx.Response:
    """As mod_json_cdr sends: POST url?uuid=..., its cred as HTTP Basic."""
    with httpx.Client(base_url=service.base_url, timeout=60) as client:
        return client.post(
            JSON_CDR,
            params={"uuid": str(uuid.uuid4())},
            content=body,
            headers={"Content-Type": content_type, "User-Agent": "freeswitch-json/1.0"},
            auth=(user, key),
        )


def stored(service: Service, account: str, table: str = "cdrs_in") -> list:
    """(call_id, source or destination number, duration, time_start) of each stored call."""
    number = "source_name" if table == "cdrs_in" else "destination_number"
    return run_sql(
        service,
        f"SELECT c.call_id, c.{number}, c.duration, c.time_start FROM {table} c "
        "JOIN accounts a ON a.id = c.account_id WHERE a.name = :name ORDER BY c.time_start",
        name=account,
    )


def test_mod_json_cdr_deliveries_in_each_encoding_are_stored_once(
    cli_service: Service, operator_key: str
) -> None:
    account = create_account(cli_service, "fs")
    did = owned_number(cli_service, account)
    start = yesterday()
    raw = orjson.dumps(a_leg(did, start))
    encoded = orjson.dumps(a_leg(did, start + timedelta(minutes=1)))
    packed = orjson.dumps(a_leg(did, start + timedelta(minutes=2)))
    deliveries = [
        (raw, "application/json"),  # encode=false
        (b"cdr=" + quote(encoded, safe="").encode(), "application/x-www-form-urlencoded"),
        (b"cdr=" + base64.b64encode(packed), "application/x-www-form-base64-encoded"),
    ]
    for body, content_type in deliveries:
        answered = send_json_cdr(cli_service, operator_key, body, content_type)
        assert answered.status_code == 200, answered.text
        assert answered.json() == {
            "imported": 1, "duplicates": 0, "unrouted": 0, "too_old": 0, "ignored": 0,
        }  # fmt: skip
    # mod_json_cdr retries when it gets no answer in time: the retry is acknowledged.
    again = send_json_cdr(cli_service, operator_key, *deliveries[1])
    assert again.status_code == 200
    assert again.json()["imported"] == 0 and again.json()["duplicates"] == 1
    rows = stored(cli_service, account)
    assert [row[1:3] for row in rows] == [("Zoë Müller", 60)] * 3
    assert len({row[0] for row in rows}) == 3


def test_a_b_leg_is_acknowledged_and_not_stored_and_a_trunk_makes_it_outbound(
    cli_service: Service, operator_key: str
) -> None:
    account = create_account(cli_service, "fs")
    trunk = str(uuid.uuid4())
    cli_service.cli("trunks", "assign", trunk, "--account", account)
    b_leg = orjson.loads((SWITCH_SAMPLES / "freeswitch-b-leg.json").read_bytes())
    answered = send_json_cdr(cli_service, operator_key, orjson.dumps(b_leg), "application/json")
    assert answered.status_code == 200
    assert answered.json()["ignored"] == 1 and answered.json()["imported"] == 0
    outbound = a_leg("15550100", yesterday(), voice_out_trunk_id=trunk)
    answered = send_json_cdr(cli_service, operator_key, orjson.dumps(outbound), "application/json")
    assert answered.json()["imported"] == 1
    assert [row[1:3] for row in stored(cli_service, account, "cdrs_out")] == [("+15550100", 60)]


def test_mod_json_cdr_is_refused_without_an_operator_key_and_a_bad_cdr_is_a_422(
    cli_service: Service, operator_key: str
) -> None:
    body = orjson.dumps(a_leg("4930901820", yesterday()))
    customer_key = cli_service.new_account()
    for key in ("wrong", customer_key):
        refused = send_json_cdr(cli_service, key, body, "application/json")
        assert_error(refused, 401)
        assert "Basic" in refused.headers["www-authenticate"]
    document = a_leg("4930901820", yesterday(), billsec="-1")
    refused = send_json_cdr(cli_service, operator_key, orjson.dumps(document), "application/json")
    assert_error(refused, 422)
    assert "duration (from variables.billsec): must be at least 0" in refused.text
    for body, content_type in [
        (b"cdr=%%%", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b"cdr=" + base64.b64encode(b"not json"), "application/x-www-form-base64-encoded"),
    ]:
        assert_error(send_json_cdr(cli_service, operator_key, body, content_type), 422)


def asterisk_line(did: str, start: datetime, unique: str, name: str = "Zoë Müller") -> str:
    local = start.astimezone(BERLIN)
    stamp = f"{local:%Y-%m-%d %H:%M:%S}"
    end = f"{local + timedelta(seconds=65):%Y-%m-%d %H:%M:%S}"
    return (
        f'"","+4915112345678","{did}","from-pstn","""{name}"" <+4915112345678>",'
        f'"PJSIP/carrier-1","PJSIP/reception-2","Dial","PJSIP/reception,30","{stamp}",'
        f'"{stamp}","{end}",65,60,"ANSWERED","DOCUMENTATION","{unique}",""\n'
    )


def test_an_asterisk_master_csv_in_local_time_imported_twice_stores_each_call_once(
    cli_service: Service,
) -> None:
    account = create_account(cli_service, "ast")
    did = owned_number(cli_service, account)
    start = yesterday()
    path = cli_service.data_dir / f"Master-{uuid.uuid4().hex[:6]}.csv"
    path.write_text(
        asterisk_line(did, start, f"{start.timestamp():.0f}.1")
        + asterisk_line(did, start + timedelta(hours=1), f"{start.timestamp():.0f}.7")
    )
    args = ("cdrs", "import", str(path), "--format", "asterisk-csv")
    done = cli_service.cli(*args, "--timezone", "Europe/Berlin")
    assert done.stdout.decode() == "imported 2 CDRs into 1 accounts\n"
    again = cli_service.cli(*args, "--timezone", "Europe/Berlin")
    assert again.stdout.decode() == "imported 0 CDRs into 1 accounts, skipped 2 already present\n"
    rows = stored(cli_service, account)
    # Stored in UTC: the Berlin wall time read back to the moment it was.
    assert [str(row[3])[:19] for row in rows] == [
        f"{moment:%Y-%m-%d %H:%M:%S}" for moment in (start, start + timedelta(hours=1))
    ]
    wrong = cli_service.cli(*args, "--timezone", "Berlin", check=False)
    assert_cli_error(wrong, "unknown time zone 'Berlin'")
    cdrex = cli_service.cli("cdrs", "import", str(path), check=False)
    assert_cli_error(cdrex, "line 1", "nothing was imported")  # not cdrex's own format


def test_a_freeswitch_csv_batch_with_a_sites_template_pushed_to_the_operator_api(
    cli_service: Service, operator_key: str, tmp_path: Path
) -> None:
    account = create_account(cli_service, "fscsv")
    did = owned_number(cli_service, account)
    start = yesterday()
    line = f'"{start:%Y-%m-%d %H:%M:%S}","{did}","42","{uuid.uuid4()}"\n'
    # Over HTTP, the shipped example template; a site's own template is the CLI's option.
    example = (
        f'"Ann","+4915112345678","+{did}","public","{start:%Y-%m-%d %H:%M:%S}","","'
        f'{start:%Y-%m-%d %H:%M:%S}","3","0","NO_ANSWER","{uuid.uuid4()}","","","PCMA","PCMA"\n'
    )
    with httpx.Client(base_url=cli_service.base_url, timeout=60) as client:
        answered = client.post(
            "/operator/v1/cdrs",
            params={"type": "cdr_in", "format": "freeswitch-csv"},
            content=example.encode(),
            headers={"Authorization": f"Bearer {operator_key}"},
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["imported"] == 1
        refused = client.post(
            "/operator/v1/cdrs",
            params={"format": "asterisk-csv", "timezone": "Mars/Olympus"},
            content=b"",
            headers={"Authorization": f"Bearer {operator_key}"},
        )
        assert_error(refused, 400)
    template = tmp_path / "template.txt"
    template.write_text('"${start_stamp}","${destination_number}","${billsec}","${uuid}"\n')
    path = tmp_path / "Master.csv"
    path.write_text(line)
    done = cli_service.cli(
        "cdrs", "import", str(path), "--format", "freeswitch-csv", "--template", str(template)
    )
    assert done.stdout.decode() == "imported 1 CDRs into 1 accounts\n"
    assert sorted(row[2] for row in stored(cli_service, account)) == [0, 42]
    no_did = tmp_path / "short.txt"
    no_did.write_text('"${start_stamp}","${uuid}"\n')
    refused_template = cli_service.cli(
        "cdrs", "import", str(path), "--format", "freeswitch-csv", "--template", str(no_did),
        check=False,
    )  # fmt: skip
    assert_cli_error(refused_template, "nothing gives cdr_in did_number")
