"""Every API version side by side (spec §1-§8), over raw HTTP against the real server: which
version answers (X-DIDWW-API-Version, the account default the CLI sets), each version's
collection, attributes, status and callback-method spellings, filters and their errors,
export_type, external_reference_id and PATCH, DELETE, and the files each version makes
(suffix, compression, header line byte for byte against the spec samples, row counts
against the generated calls), including the rule that an export keeps its version's file
whichever version reads it."""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import JSONAPI, SAMPLES, Service, assert_error, month_back, new_accounts

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CREATED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# A callback URL no callback can reach: loopback is refused by the destination check, and
# port 9 (discard) refuses the connection at once where private destinations are allowed.
CALLBACK = "http://127.0.0.1:9/didww/exports"
FILTERS = "/data/attributes/filters"
# A .csv.gz download's Content-Type, as every recording of DIDWW's server shows it (the
# SDKs' cassettes), not application/gzip.
OCTET_STREAM = "application/octet-stream"


def sample_header(name: str) -> bytes:
    """The first line of a spec sample, with its LF."""
    line = (SAMPLES / name).read_bytes().split(b"\n", 1)[0] + b"\n"
    assert b"\r" not in line
    return line


@dataclass(frozen=True)
class FileFormat:
    suffix: str
    media_type: str
    header: bytes  # the spec sample's header line
    time_column: str
    did_column: str | None = None
    trunk_column: str | None = None

    @property
    def gzipped(self) -> bool:
        return self.suffix == ".csv.gz"


CSV_2017 = FileFormat(
    ".csv",
    "text/csv",
    sample_header("cdr_exports_2017-09-18_sample.csv"),
    "Date/Time (UTC)",
    did_column="DID",
)
CDR_IN_2021_12 = FileFormat(
    ".csv.gz",
    OCTET_STREAM,
    sample_header("exports_cdr_in_2021-12-15_sandbox_sample.csv"),
    "Date/Time Start (UTC)",
    did_column="DID",
)
CDR_IN_2026_04 = FileFormat(
    ".csv.gz",
    OCTET_STREAM,
    sample_header("exports_cdr_in_2026-04-16_header.csv"),
    "Date/Time Start (UTC)",
    did_column="Destination DID",
)
CDR_OUT = FileFormat(
    ".csv.gz",
    OCTET_STREAM,
    sample_header("exports_cdr_out_2026-04-16_header.csv"),
    "Date/Time Start (UTC)",
    trunk_column="Voice OUT Trunk",
)


@dataclass(frozen=True)
class Version:
    """What these tests expect of one API version: the oracle, written from the spec and
    the README's decisions, not read from cdrex's own table."""

    name: str
    collection: str
    attributes: tuple[str, ...]  # in DIDWW's order
    lowercase: bool  # status and callback_method spellings
    has_callbacks: bool
    period: str  # "month" (year/month[/day]) or "range" (from/to)
    files: dict[str, FileFormat]  # export type -> file format; one key: no export_type

    @property
    def other_collection(self) -> str:
        return "exports" if self.collection == "cdr_exports" else "cdr_exports"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.files)

    @property
    def has_export_type(self) -> bool:
        return "export_type" in self.attributes

    @property
    def patchable(self) -> bool:
        return "external_reference_id" in self.attributes

    def status(self, value: str) -> str:
        return value if self.lowercase else value.capitalize()

    def method(self, value: str | None) -> str | None:
        if value is None:
            return None
        return value.lower() if self.lowercase else value.upper()


CALLBACK_ATTRIBUTES = ("callback_url", "callback_method")
VERSIONS = {
    version.name: version
    for version in (
        Version(
            "2017-09-18",
            "cdr_exports",
            ("filters", "status", "created_at", "url"),
            lowercase=False,
            has_callbacks=False,
            period="month",
            files={"cdr_in": CSV_2017},
        ),
        Version(
            "2021-04-19",
            "cdr_exports",
            ("filters", "status", "created_at", "url", *CALLBACK_ATTRIBUTES),
            lowercase=False,
            has_callbacks=True,
            period="month",
            files={"cdr_in": CSV_2017},
        ),
        Version(
            "2021-12-15",
            "exports",
            ("status", "created_at", "url", *CALLBACK_ATTRIBUTES, "export_type"),
            lowercase=False,
            has_callbacks=True,
            period="month",
            files={"cdr_in": CDR_IN_2021_12, "cdr_out": CDR_OUT},
        ),
        Version(
            "2022-05-10",
            "exports",
            ("status", "created_at", "url", *CALLBACK_ATTRIBUTES, "export_type"),
            lowercase=False,
            has_callbacks=True,
            period="month",
            files={"cdr_in": CDR_IN_2021_12, "cdr_out": CDR_OUT},
        ),
        Version(
            "2026-04-16",
            "exports",
            (
                "status",
                "created_at",
                "url",
                *CALLBACK_ATTRIBUTES,
                "export_type",
                "external_reference_id",
                "filters",
            ),
            lowercase=True,
            has_callbacks=True,
            period="range",
            files={"cdr_in": CDR_IN_2026_04, "cdr_out": CDR_OUT},
        ),
    )
}
NAMES = list(VERSIONS)
OLDEST = NAMES[0]
# Writable somewhere, and writable wherever shown (filters, also writable where not shown, aside).
OPTIONAL_WRITABLE = (*CALLBACK_ATTRIBUTES, "export_type", "external_reference_id")

# Header values that name no version cdrex serves: the default answers.
UNKNOWN_VERSIONS = [
    "2026-11-19",
    "2099-01-01",
    "2022-05-11",
    "2022-5-10",
    "20220510",
    "latest",
    "",
    "2017-09-18x",
]

# The data window: the current month and the two before it.
NOW = datetime.now(UTC)
M0, M1, M2 = month_back(0), month_back(1), month_back(2)
OLDEST_START = datetime(*M2, 1)
IN_ROWS, IN_SEED = 3000, 101
OUT_ROWS, OUT_SEED = 2000, 202


def ymd(year_month: tuple[int, int], day: int) -> str:
    return f"{year_month[0]}-{year_month[1]:02d}-{day:02d}"


def version_header(version: str | None) -> dict[str, str]:
    return {} if version is None else {"X-DIDWW-API-Version": version}


# --- raw HTTP helpers ---------------------------------------------------------------------


def create(
    client: httpx.Client,
    version: str,
    attributes: dict,
    *,
    type_: str | None = None,
    collection: str | None = None,
) -> httpx.Response:
    v = VERSIONS[version]
    body = {"data": {"type": type_ or v.collection, "attributes": attributes}}
    return client.post(
        f"/v3/{collection or v.collection}",
        content=json.dumps(body).encode(),
        headers={"Content-Type": JSONAPI, **version_header(version)},
    )


def show(client: httpx.Client, version: str, export_id: str) -> httpx.Response:
    return client.get(
        f"/v3/{VERSIONS[version].collection}/{export_id}", headers=version_header(version)
    )


def listed(client: httpx.Client, version: str, **params: object) -> httpx.Response:
    return client.get(
        f"/v3/{VERSIONS[version].collection}", params=params, headers=version_header(version)
    )


def update(
    client: httpx.Client,
    version: str,
    export_id: str,
    data: object,
    method: str = "PATCH",
    collection: str | None = None,
) -> httpx.Response:
    return client.request(
        method,
        f"/v3/{collection or VERSIONS[version].collection}/{export_id}",
        content=json.dumps({"data": data}).encode(),
        headers={"Content-Type": JSONAPI, **version_header(version)},
    )


def created_data(response: httpx.Response, version: str) -> dict:
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == JSONAPI
    document = response.json()
    assert document["meta"] == {"api_version": version}
    return document["data"]


def shown_data(response: httpx.Response, version: str) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSONAPI
    document = response.json()
    assert document["meta"] == {"api_version": version}, document
    return document["data"]


def wait_done(client: httpx.Client, version: str, export_id: str, timeout: float = 30) -> dict:
    """Poll the export (under ``version``) until completed; returns its resource object."""
    v = VERSIONS[version]
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while True:
        data = shown_data(show(client, version, export_id), version)
        status = data["attributes"]["status"]
        if status == v.status("completed"):
            return data
        assert status in (v.status("pending"), v.status("processing")), data
        assert datetime.now(UTC) < deadline, f"export {export_id} not completed: {data}"
        time.sleep(0.05)


def total_exports(client: httpx.Client) -> int:
    response = listed(client, OLDEST)
    assert response.status_code == 200, response.text
    return response.json()["meta"]["total_records"]


# --- the accounts and their calls ---------------------------------------------------------


@dataclass
class World:
    service: Service
    main: httpx.Client  # default 2017-09-18; has the generated calls and the file exports
    refused: httpx.Client  # default 2017-09-18; every create must fail (each test checks that
    # its own created nothing, so that one wrong 201 fails one test, not all that follow)
    switch_name: str  # default 2017-09-18 until a test changes it
    switch: httpx.Client
    by_default: dict[str, httpx.Client]  # default version -> an account with that default
    inbound: list[dict]  # the generated calls, as field -> value
    outbound: list[dict]
    trunks: list[tuple[str, str]]  # (id, name) as `cdrs generate` prints them
    clients: list[httpx.Client] = field(default_factory=list)


def _records(kind: str, rows: int, seed: int, until: datetime) -> list[dict]:
    """The calls `cdrex cdrs generate --until UNTIL` made, as field -> value: the generator
    gives the same calls for a seed and end, so the files' expected rows can be counted
    from them."""
    from cdrex.cdrs.generate import generate_inbound, generate_outbound
    from cdrex.cdrs.records import INBOUND_FIELDS, OUTBOUND_FIELDS

    generate, fields = (
        (generate_inbound, INBOUND_FIELDS)
        if kind == "cdr_in"
        else (generate_outbound, OUTBOUND_FIELDS)
    )
    names = [f.name for f in fields]
    return [dict(zip(names, values, strict=True)) for values in generate(rows, 3, until, seed=seed)]


TRUNK_LINE = re.compile(r"^  trunk ([0-9a-f-]{36})  (.+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def world(api_service: Service) -> Iterator[World]:
    accounts = new_accounts(api_service, 3 + len(NAMES) - 1)
    (main_name, main_key), (_, refused_key), (switch_name, switch_key) = accounts[:3]
    pinned = dict(zip(NAMES[1:], accounts[3:], strict=True))

    def cli(*args: str) -> str:
        return api_service.cli(*args).stdout.decode()

    until = datetime.now(UTC).replace(microsecond=0)
    generate = ("cdrs", "generate", "--account", main_name, "--until", f"{until:%Y-%m-%d %H:%M:%S}")

    with ThreadPoolExecutor(8) as pool:
        updates = [
            pool.submit(cli, "accounts", "update", name, "--api-version", version)
            for version, (name, _) in pinned.items()
        ]
        generated_in = pool.submit(cli, *generate, "--rows", str(IN_ROWS), "--seed", str(IN_SEED))
        generated_out = pool.submit(
            cli, *generate, "--type", "cdr_out", "--rows", str(OUT_ROWS), "--seed", str(OUT_SEED)
        )
        for (version, (name, _)), done in zip(pinned.items(), updates, strict=True):
            assert done.result() == f"updated account {name}: API version {version}\n"
        assert f"generated {IN_ROWS} CDRs" in generated_in.result()
        out_text = generated_out.result()
    assert f"generated {OUT_ROWS} CDRs" in out_text
    trunks = TRUNK_LINE.findall(out_text)
    assert len(trunks) >= 3, out_text  # the cases use two, and need a third left out
    outbound = _records("cdr_out", OUT_ROWS, OUT_SEED, until)
    assert {r["voice_out_trunk_id"] for r in outbound} == {trunk for trunk, _ in trunks}

    clients = [api_service.client(key) for key in (main_key, refused_key, switch_key)]
    by_default = {OLDEST: clients[1]}
    for version, (_, key) in pinned.items():
        by_default[version] = api_service.client(key)
        clients.append(by_default[version])
    yield World(
        api_service,
        clients[0],
        clients[1],
        switch_name,
        clients[2],
        by_default,
        _records("cdr_in", IN_ROWS, IN_SEED, until),
        outbound,
        trunks,
        clients,
    )
    for client in clients:
        client.close()


def test_the_version_table_is_the_one_under_test() -> None:
    from cdrex.exports.versions import VERSIONS as SERVED

    assert list(SERVED) == NAMES


# --- version selection (spec §2.1) --------------------------------------------------------


def expected_version(default: str, header: str | None) -> str:
    if header in VERSIONS and header >= default:
        return header
    return default


@pytest.mark.parametrize("default", NAMES)
def test_header_selects_the_version_unless_unknown_or_older_than_the_default(
    world: World, default: str
) -> None:
    client = world.by_default[default]
    for header in [None, *NAMES, *UNKNOWN_VERSIONS]:
        answering = VERSIONS[expected_version(default, header)]
        headers = version_header(header)
        response = client.get(f"/v3/{answering.collection}", headers=headers)
        assert response.status_code == 200, (header, response.text)
        assert response.json()["meta"]["api_version"] == answering.name, header
        # The answering version's own collection only: the other one is not there.
        missing = client.get(f"/v3/{answering.other_collection}", headers=headers)
        error = assert_error(missing, 404, code="404")
        assert answering.name in error["detail"], (header, error)


@pytest.mark.parametrize(
    "name",
    ["X-DIDWW-API-Version", "x-didww-api-version", "X-Didww-Api-Version", "X-DIDWW-Api-Version"],
)
def test_version_header_name_is_case_insensitive(world: World, name: str) -> None:
    response = world.refused.get("/v3/exports", headers={name: "2026-04-16"})
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["api_version"] == "2026-04-16"


def test_account_default_is_2017_until_the_cli_changes_it_on_the_running_server(
    world: World,
) -> None:
    def answering(header: str | None = None) -> str:
        response = world.switch.get("/v3/exports", headers=version_header(header))
        if response.status_code == 404:
            response = world.switch.get("/v3/cdr_exports", headers=version_header(header))
        assert response.status_code == 200, response.text
        return response.json()["meta"]["api_version"]

    shown = world.service.cli("accounts", "show", world.switch_name).stdout.decode()
    assert "api_version: 2017-09-18\n" in shown
    assert answering() == "2017-09-18"
    assert answering("2021-12-15") == "2021-12-15"

    world.service.cli("accounts", "update", world.switch_name, "--api-version", "2026-04-16")
    assert answering() == "2026-04-16"
    assert answering("2017-09-18") == "2026-04-16"  # no downgrade
    assert answering("2022-05-10") == "2026-04-16"
    assert_error(world.switch.get("/v3/cdr_exports"), 404, code="404")

    # The operator may go back (the User Panel of DIDWW; here the CLI).
    world.service.cli("accounts", "update", world.switch_name, "--api-version", "2021-04-19")
    assert answering() == "2021-04-19"
    assert answering("2017-09-18") == "2021-04-19"
    assert answering("2022-05-10") == "2022-05-10"

    refused = world.service.cli(
        "accounts", "update", world.switch_name, "--api-version", "2026-11-19", check=False
    )
    assert refused.returncode != 0
    assert answering() == "2021-04-19"


# --- the collection each version has ------------------------------------------------------


@pytest.mark.parametrize("version", NAMES)
def test_the_other_collection_is_404_in_every_method(world: World, version: str) -> None:
    v = VERSIONS[version]
    export_id = created_data(
        create(world.main, version, valid_attributes(version, v.kinds[-1])), version
    )["id"]
    other = f"/v3/{v.other_collection}"
    headers = {"Content-Type": JSONAPI, **version_header(version)}
    body = json.dumps({"data": {"type": v.other_collection, "attributes": {}}}).encode()
    before = total_exports(world.main)
    for method, path in [
        ("GET", other),
        ("POST", other),
        ("GET", f"{other}/{export_id}"),
        ("PATCH", f"{other}/{export_id}"),
        ("DELETE", f"{other}/{export_id}"),
    ]:
        response = world.main.request(method, path, content=body, headers=headers)
        error = assert_error(response, 404, code="404")
        assert version in error["detail"] and v.collection in error["detail"], error
    assert total_exports(world.main) == before
    assert shown_data(show(world.main, version, export_id), version)["id"] == export_id


# --- what each version creates and shows ---------------------------------------------------


def valid_filters(version: str, kind: str) -> dict:
    if VERSIONS[version].period == "month":
        return {"year": M1[0], "month": M1[1]}
    return {"from": f"{ymd(M1, 1)} 00:00:00", "to": f"{ymd(M1, 2)} 00:00:00"}


def valid_attributes(version: str, kind: str = "cdr_in") -> dict:
    attributes: dict = {"filters": valid_filters(version, kind)}
    if VERSIONS[version].has_export_type:
        attributes["export_type"] = kind
    return attributes


@dataclass(frozen=True)
class Case:
    """One export the file tests make: its version, type, request and what it selects."""

    version: str
    kind: str
    attributes: dict
    echo: dict  # the filters as every version that shows filters echoes them
    method: str | None  # the callback method stored, lowercase
    selects: Callable[[dict], bool]

    @property
    def format(self) -> FileFormat:
        return VERSIONS[self.version].files[self.kind]


CASE_IDS = [
    "2017-09-18",
    "2021-04-19",
    "2021-12-15/cdr_in",
    "2021-12-15/cdr_out",
    "2022-05-10/cdr_in",
    "2022-05-10/cdr_out",
    "2026-04-16/cdr_in",
    "2026-04-16/cdr_out",
    "2026-04-16/cdr_out/voice_out_trunk_id",
]


def in_month(year_month: tuple[int, int]) -> Callable[[dict], bool]:
    return lambda r: (r["time_start"].year, r["time_start"].month) == year_month


def build_cases(world: World) -> dict[str, Case]:
    y1, m1 = M1
    y2, m2 = M2
    dids = Counter(r["did_number"] for r in world.inbound if in_month(M1)(r))
    did, other_did = (did for did, _ in dids.most_common(2))
    trunk, trunk2 = world.trunks[1][0], world.trunks[2][0]
    day = 15
    start, end = datetime(y1, m1, 3, 6, 30), datetime(y1, m1, 20)
    start2, end2 = datetime(y1, m1, 10), datetime(y1, m1, 25, 12)
    start3, end3 = datetime(y1, m1, 1), datetime(y1, m1, 28)

    def month_in(ym: tuple[int, int], only_did: str | None = None) -> Callable[[dict], bool]:
        return lambda r: in_month(ym)(r) and only_did in (None, r["did_number"])

    return {
        "2017-09-18": Case(
            "2017-09-18",
            "cdr_in",
            {"filters": {"year": y1, "month": m1}},
            {"year": str(y1), "month": str(m1)},
            None,
            month_in(M1),
        ),
        "2021-04-19": Case(
            "2021-04-19",
            "cdr_in",
            {
                "filters": {"year": str(y1), "month": f"{m1:02d}", "did_number": did},
                "callback_url": CALLBACK,
                "callback_method": "GET",
            },
            {"year": str(y1), "month": f"{m1:02d}", "did_number": did},
            "get",
            month_in(M1, did),
        ),
        "2021-12-15/cdr_in": Case(  # callback_url alone: the method is POST
            "2021-12-15",
            "cdr_in",
            {
                "export_type": "cdr_in",
                "filters": {"year": y1, "month": m1},
                "callback_url": CALLBACK,
            },
            {"year": str(y1), "month": str(m1)},
            "post",
            month_in(M1),
        ),
        "2021-12-15/cdr_out": Case(
            "2021-12-15",
            "cdr_out",
            {"export_type": "cdr_out", "filters": {"year": y1, "month": m1, "day": day}},
            {"year": str(y1), "month": str(m1), "day": str(day)},
            None,
            lambda r: r["time_start"].date() == datetime(y1, m1, day).date(),
        ),
        "2022-05-10/cdr_in": Case(
            "2022-05-10",
            "cdr_in",
            {
                "export_type": "cdr_in",
                "filters": {"year": y2, "month": m2, "did_number": other_did},
                "callback_url": CALLBACK,
                "callback_method": "POST",
            },
            {"year": str(y2), "month": str(m2), "did_number": other_did},
            "post",
            month_in(M2, other_did),
        ),
        "2022-05-10/cdr_out": Case(
            "2022-05-10",
            "cdr_out",
            {
                "export_type": "cdr_out",
                "filters": {"year": y1, "month": m1, "voice_out_trunk.id": trunk},
            },
            {"year": str(y1), "month": str(m1), "voice_out_trunk.id": trunk},
            None,
            lambda r: in_month(M1)(r) and r["voice_out_trunk_id"] == trunk,
        ),
        "2026-04-16/cdr_in": Case(
            "2026-04-16",
            "cdr_in",
            {
                "export_type": "cdr_in",
                "filters": {
                    "from": f"{ymd(M1, 3)}T08:30:00+02:00",
                    "to": f"{ymd(M1, 20)} 00:00:00",
                    "did_number": did,
                },
                "callback_url": CALLBACK,
                "callback_method": "get",
                "external_reference_id": "r" * 100,
            },
            {"from": f"{ymd(M1, 3)} 06:30:00", "to": f"{ymd(M1, 20)} 00:00:00", "did_number": did},
            "get",
            lambda r: start <= r["time_start"] < end and r["did_number"] == did,
        ),
        "2026-04-16/cdr_out": Case(  # a trunk id in capitals matches; it is echoed as sent
            "2026-04-16",
            "cdr_out",
            {
                "export_type": "cdr_out",
                "filters": {
                    "from": f"{ymd(M1, 10)}T00:00:00Z",
                    "to": f"{ymd(M1, 25)}T12:00:00",
                    "voice_out_trunk.id": trunk2.upper(),
                },
                "callback_url": CALLBACK,
            },
            {
                "from": f"{ymd(M1, 10)} 00:00:00",
                "to": f"{ymd(M1, 25)} 12:00:00",
                "voice_out_trunk.id": trunk2.upper(),
            },
            "post",
            lambda r: start2 <= r["time_start"] < end2 and r["voice_out_trunk_id"] == trunk2,
        ),
        # The TypeScript SDK's spelling of the trunk filter: echoed as voice_out_trunk.id.
        "2026-04-16/cdr_out/voice_out_trunk_id": Case(
            "2026-04-16",
            "cdr_out",
            {
                "export_type": "cdr_out",
                "filters": {
                    "from": f"{ymd(M1, 1)} 00:00:00",
                    "to": f"{ymd(M1, 28)} 00:00:00",
                    "voice_out_trunk_id": trunk,
                },
            },
            {
                "from": f"{ymd(M1, 1)} 00:00:00",
                "to": f"{ymd(M1, 28)} 00:00:00",
                "voice_out_trunk.id": trunk,
            },
            None,
            lambda r: start3 <= r["time_start"] < end3 and r["voice_out_trunk_id"] == trunk,
        ),
    }


@dataclass
class Made:
    case: Case
    created: httpx.Response  # the 201
    completed: dict  # the resource object once completed, under its own version
    expected_rows: list[dict]  # the generated calls the file must hold


@pytest.fixture(scope="module")
def made(world: World) -> dict[str, Made]:
    """The file cases, all created first and then awaited: the workers make them together."""
    cases = build_cases(world)
    assert list(cases) == CASE_IDS
    responses = {
        key: create(world.main, case.version, case.attributes) for key, case in cases.items()
    }
    result = {}
    for key, case in cases.items():
        export_id = created_data(responses[key], case.version)["id"]
        calls = world.inbound if case.kind == "cdr_in" else world.outbound
        expected = [r for r in calls if case.selects(r)]
        assert expected, key  # a case selecting nothing would prove little
        result[key] = Made(
            case, responses[key], wait_done(world.main, case.version, export_id), expected
        )
    return result


def expected_resource(made: Made, reader: str, base_url: str, *, completed: bool) -> dict:
    """The resource object ``reader`` must show for the export."""
    r, case = VERSIONS[reader], made.case
    data = made.completed
    values = {
        "filters": case.echo,
        "status": r.status("completed" if completed else "pending"),
        "created_at": data["attributes"]["created_at"],
        "url": (
            f"{base_url}/v3/{r.collection}/{file_name(made)}{case.format.suffix}"
            if completed
            else None
        ),
        "callback_url": CALLBACK if case.method else None,
        "callback_method": r.method(case.method),
        "export_type": case.kind,
        "external_reference_id": case.attributes.get("external_reference_id"),
    }
    return {
        "id": data["id"],
        "type": r.collection,
        "attributes": {name: values[name] for name in r.attributes},
    }


def file_name(made: Made) -> str:
    return made.completed["attributes"]["url"].rsplit("/", 1)[1].split(".", 1)[0]


@pytest.mark.parametrize("key", CASE_IDS)
def test_create_answers_with_the_versions_document(
    world: World, made: dict[str, Made], key: str
) -> None:
    m = made[key]
    version = VERSIONS[m.case.version]
    data = created_data(m.created, version.name)
    base = world.service.base_url
    assert m.created.headers["location"] == f"{base}/v3/{version.collection}/{data['id']}"
    assert set(data) == {"id", "type", "attributes"}
    assert UUID.fullmatch(data["id"])
    assert CREATED_AT.fullmatch(data["attributes"]["created_at"])
    assert list(data["attributes"]) == list(version.attributes)
    assert data == expected_resource(m, version.name, base, completed=False)


@pytest.mark.parametrize("key", CASE_IDS)
def test_completed_export_has_the_versions_status_and_url(
    world: World, made: dict[str, Made], key: str
) -> None:
    m = made[key]
    version = VERSIONS[m.case.version]
    base = world.service.base_url
    assert m.completed == expected_resource(m, version.name, base, completed=True)
    url = m.completed["attributes"]["url"]
    assert re.fullmatch(
        re.escape(f"{base}/v3/{version.collection}/")
        + UUID.pattern
        + re.escape(m.case.format.suffix),
        url,
    ), url
    assert m.completed["id"] not in url


@pytest.mark.parametrize("reader", NAMES)
def test_every_version_shows_and_lists_every_export_its_own_way(
    world: World, made: dict[str, Made], reader: str
) -> None:
    base = world.service.base_url
    page = listed(world.main, reader, **{"page[size]": 100})
    assert page.status_code == 200, page.text
    assert page.json()["meta"]["api_version"] == reader
    in_list = {item["id"]: item for item in page.json()["data"]}
    for key, m in made.items():
        expected = expected_resource(m, reader, base, completed=True)
        assert shown_data(show(world.main, reader, m.completed["id"]), reader) == expected, key
        assert in_list[m.completed["id"]] == expected, key
    assert {item["type"] for item in in_list.values()} == {VERSIONS[reader].collection}


# --- the files ----------------------------------------------------------------------------


def csv_rows(content: bytes, fmt: FileFormat) -> list[list[str]]:
    """The file's records (header first), after checking the header line byte for byte."""
    text = gzip.decompress(content) if fmt.gzipped else content
    assert text.startswith(fmt.header), text[:300]
    rows = list(csv.reader(io.StringIO(text.decode(), newline="")))
    assert text.endswith(b"\n")
    return rows


def download(client: httpx.Client, url: str) -> httpx.Response:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:300])
    return response


@pytest.mark.parametrize("key", CASE_IDS)
def test_file_has_the_versions_format_and_the_selected_calls(
    world: World, made: dict[str, Made], key: str
) -> None:
    m = made[key]
    fmt = m.case.format
    response = download(world.main, m.completed["attributes"]["url"])
    # A CSV file says it is UTF-8 (CNAM names need it); gzip bytes have no charset.
    charset = "; charset=utf-8" if fmt.media_type == "text/csv" else ""
    assert response.headers["content-type"] == fmt.media_type + charset
    assert "content-encoding" not in response.headers  # the bytes are the file
    name = f"{file_name(m)}{fmt.suffix}"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    if fmt.gzipped:
        assert response.content[:2] == b"\x1f\x8b"
    else:
        assert response.content.startswith(b"Date/Time (UTC),")
    header, *rows = csv_rows(response.content, fmt)
    assert all(len(row) == len(header) for row in rows)
    assert len(rows) == len(m.expected_rows)
    column = {name: n for n, name in enumerate(header)}
    starts = sorted(row[column[fmt.time_column]] for row in rows)
    assert starts == sorted(f"{r['time_start']:%Y-%m-%d %H:%M:%S}" for r in m.expected_rows)
    if fmt.did_column:
        assert Counter(row[column[fmt.did_column]] for row in rows) == Counter(
            r["did_number"] for r in m.expected_rows
        )
    if fmt.trunk_column:
        names = dict(world.trunks)
        assert Counter(row[column[fmt.trunk_column]] for row in rows) == Counter(
            names[r["voice_out_trunk_id"]] for r in m.expected_rows
        )


def test_outbound_trunk_filter_keeps_only_that_trunks_calls(
    world: World, made: dict[str, Made]
) -> None:
    for key in (
        "2022-05-10/cdr_out",
        "2026-04-16/cdr_out",
        "2026-04-16/cdr_out/voice_out_trunk_id",
    ):
        m = made[key]
        trunk = m.case.echo["voice_out_trunk.id"].lower()
        header, *rows = csv_rows(
            download(world.main, m.completed["attributes"]["url"]).content, m.case.format
        )
        column = header.index("Voice OUT Trunk")
        assert {row[column] for row in rows} == {dict(world.trunks)[trunk]}, key
        others = [r for r in world.outbound if r["voice_out_trunk_id"] != trunk and in_month(M1)(r)]
        assert others  # the month has calls of other trunks, left out


@pytest.mark.parametrize("key", CASE_IDS)
def test_file_keeps_its_version_whichever_version_reads_it(
    world: World, made: dict[str, Made], key: str
) -> None:
    m = made[key]
    original = download(world.main, m.completed["attributes"]["url"])
    suffix = m.case.format.suffix
    for reader in NAMES:
        url = shown_data(show(world.main, reader, m.completed["id"]), reader)["attributes"]["url"]
        assert url.endswith(f"/v3/{VERSIONS[reader].collection}/{file_name(m)}{suffix}")
        # The file is the creator's whatever the reading version, under either collection.
        response = download(world.main, url)
        assert response.content == original.content, (reader, url)
        assert response.headers["content-type"] == original.headers["content-type"]
    wrong = ".csv.gz" if suffix == ".csv" else ".csv"
    for collection in ("cdr_exports", "exports"):
        missing = world.main.get(f"/v3/{collection}/{file_name(m)}{wrong}")
        assert missing.status_code == 404, missing.text


# --- PATCH and DELETE ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def patched(world: World) -> str:
    """A 2026-04-16 export of the main account for the PATCH tests."""
    response = create(
        world.main,
        "2026-04-16",
        {
            **valid_attributes("2026-04-16", "cdr_out"),
            "external_reference_id": "first",
        },
    )
    return created_data(response, "2026-04-16")["id"]


def reference_of(client: httpx.Client, export_id: str) -> str | None:
    data = shown_data(show(client, "2026-04-16", export_id), "2026-04-16")
    return data["attributes"]["external_reference_id"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_patch_sets_and_clears_the_external_reference_id(
    world: World, patched: str, method: str
) -> None:
    before = shown_data(show(world.main, "2026-04-16", patched), "2026-04-16")
    for value in (f"{method}-ref", "x" * 100, "", None):
        data = {"id": patched, "type": "exports", "attributes": {"external_reference_id": value}}
        answered = shown_data(update(world.main, "2026-04-16", patched, data, method), "2026-04-16")
        assert list(answered["attributes"]) == list(VERSIONS["2026-04-16"].attributes)
        assert answered["attributes"]["external_reference_id"] == value
        for name in ("created_at", "filters", "export_type", "callback_url", "callback_method"):
            assert answered["attributes"][name] == before["attributes"][name]
        assert reference_of(world.main, patched) == value
    # No attributes: nothing changes, and the resource is answered.
    data = {"id": patched, "type": "exports", "attributes": {}}
    shown_data(update(world.main, "2026-04-16", patched, data, method), "2026-04-16")
    assert reference_of(world.main, patched) is None


def test_patch_reaches_exports_of_older_versions(world: World) -> None:
    old = created_data(
        create(world.main, "2022-05-10", valid_attributes("2022-05-10")), "2022-05-10"
    )
    data = {"id": old["id"], "type": "exports", "attributes": {"external_reference_id": "old"}}
    answered = shown_data(update(world.main, "2026-04-16", old["id"], data), "2026-04-16")
    assert answered["attributes"]["external_reference_id"] == "old"
    assert answered["attributes"]["filters"] == {"year": str(M1[0]), "month": str(M1[1])}
    shown = shown_data(show(world.main, "2022-05-10", old["id"]), "2022-05-10")
    assert "external_reference_id" not in shown["attributes"]


@pytest.mark.parametrize(
    ("data", "status", "pointer"),
    [
        (
            {"attributes": {"external_reference_id": "y" * 101}},
            422,
            "/data/attributes/external_reference_id",
        ),
        (
            {"attributes": {"external_reference_id": 5}},
            422,
            "/data/attributes/external_reference_id",
        ),
        (
            {"attributes": {"external_reference_id": ["a"]}},
            422,
            "/data/attributes/external_reference_id",
        ),
        ({"attributes": {"status": "completed"}}, 422, "/data/attributes/status"),
        (
            {"attributes": {"filters": {"from": "2026-01-01 00:00:00"}}},
            422,
            "/data/attributes/filters",
        ),
        ({"attributes": {"export_type": "cdr_in"}}, 422, "/data/attributes/export_type"),
        ({"attributes": {"callback_url": CALLBACK}}, 422, "/data/attributes/callback_url"),
        ({"attributes": {"callback_method": "get"}}, 422, "/data/attributes/callback_method"),
        ({"attributes": {"url": "http://x.test/a.csv.gz"}}, 422, "/data/attributes/url"),
        (
            {"attributes": {"created_at": "2026-01-01T00:00:00.000Z"}},
            422,
            "/data/attributes/created_at",
        ),
        (
            {"attributes": {"external_reference_id": "z", "status": "pending"}},
            422,
            "/data/attributes/status",
        ),
        ({"id": str(uuid.uuid4())}, 409, "/data/id"),
        ({"id": None}, 409, "/data/id"),
        ({"type": "cdr_exports"}, 409, "/data/type"),
        ({"id": ...}, 400, "/data/id"),  # no id member
    ],
    ids=[
        "ref-101-chars",
        "ref-number",
        "ref-list",
        "status",
        "filters",
        "export_type",
        "callback_url",
        "callback_method",
        "url",
        "created_at",
        "ref-and-status",
        "id-mismatch",
        "id-null",
        "type",
        "id-missing",
    ],
)
def test_patch_refusals(world: World, patched: str, data: dict, status: int, pointer: str) -> None:
    data_object = {
        "id": patched,
        "type": "exports",
        "attributes": {"external_reference_id": "unchanged?"},
        **data,
    }
    if data_object["id"] is ...:
        del data_object["id"]
    set_to = {"id": patched, "type": "exports", "attributes": {"external_reference_id": "kept"}}
    shown_data(update(world.main, "2026-04-16", patched, set_to), "2026-04-16")
    assert_error(update(world.main, "2026-04-16", patched, data_object), status, pointer=pointer)
    assert reference_of(world.main, patched) == "kept"


def test_patch_of_an_unknown_export_is_404(world: World, patched: str) -> None:
    for export_id in (str(uuid.uuid4()), "not-an-id"):
        data = {"id": export_id, "type": "exports", "attributes": {"external_reference_id": "a"}}
        assert_error(update(world.main, "2026-04-16", export_id, data), 404, code="404")
    # Another account's export is as unknown as a missing one.
    data = {"id": patched, "type": "exports", "attributes": {"external_reference_id": "a"}}
    assert_error(update(world.refused, "2026-04-16", patched, data), 404, code="404")
    assert reference_of(world.main, patched) != "a"


def allow_header(response: httpx.Response) -> list[str]:
    return [method.strip() for method in response.headers["allow"].split(",")]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("version", [name for name in NAMES if not VERSIONS[name].patchable])
def test_patch_before_2026_04_16_is_405(
    world: World, patched: str, version: str, method: str
) -> None:
    v = VERSIONS[version]
    data = {"id": patched, "type": v.collection, "attributes": {"external_reference_id": "no"}}
    response = update(world.main, version, patched, data, method)
    error = assert_error(response, 405, code="405")
    assert version in error["detail"], error
    assert allow_header(response) == ["GET", "HEAD"]
    assert reference_of(world.main, patched) != "no"


@pytest.mark.parametrize("version", NAMES)
def test_delete_is_405_in_every_version(world: World, patched: str, version: str) -> None:
    v = VERSIONS[version]
    response = world.main.delete(f"/v3/{v.collection}/{patched}", headers=version_header(version))
    assert_error(response, 405, code="405")
    allowed = ["GET", "HEAD", "PATCH", "PUT"] if v.patchable else ["GET", "HEAD"]
    assert allow_header(response) == allowed
    assert shown_data(show(world.main, version, patched), version)["id"] == patched


# --- bad create requests, version by version ----------------------------------------------


def _month_filters(**more: object) -> dict:
    return {"year": M1[0], "month": M1[1], **more}


def _range_filters(**more: object) -> dict:
    return {"from": f"{ymd(M1, 1)} 00:00:00", "to": f"{ymd(M1, 2)} 00:00:00", **more}


TRUNK = str(uuid.uuid4())
BEFORE_WINDOW = f"{OLDEST_START - timedelta(seconds=1):%Y-%m-%d %H:%M:%S}"
FUTURE = NOW + timedelta(days=1)
DAYS_IN_M1 = calendar.monthrange(*M1)[1]

MONTH_TYPED = ["2021-12-15", "2022-05-10"]


def _bad(version: str, case_id: str, attributes: dict, *pointers: str) -> object:
    return pytest.param(version, attributes, set(pointers), id=f"{version}-{case_id}")


def _f(*keys: str) -> list[str]:
    return [f"{FILTERS}/{key}" for key in keys]


A = "/data/attributes"
BAD_CREATES = [
    # 2017-09-18 / 2021-04-19: inbound only, year/month[/did_number], callbacks from 2021-04-19
    *[
        _bad(v, "day", {"filters": _month_filters(day=1)}, *_f("day"))
        for v in ("2017-09-18", "2021-04-19")
    ],
    *[
        _bad(v, "from-to", {"filters": _range_filters()}, *_f("from", "to", "year", "month"))
        for v in ("2017-09-18", "2021-04-19")
    ],
    _bad(
        "2021-04-19",
        "trunk",
        {"filters": _month_filters(**{"voice_out_trunk.id": TRUNK})},
        *_f("voice_out_trunk.id"),
    ),
    _bad(
        "2021-04-19",
        "method-lowercase",
        {"filters": _month_filters(), "callback_url": CALLBACK, "callback_method": "post"},
        f"{A}/callback_method",
    ),
    _bad(
        "2021-04-19",
        "method-put",
        {"filters": _month_filters(), "callback_url": CALLBACK, "callback_method": "PUT"},
        f"{A}/callback_method",
    ),
    _bad(
        "2021-04-19",
        "method-without-url",
        {"filters": _month_filters(), "callback_method": "GET"},
        f"{A}/callback_url",
    ),
    _bad(
        "2021-04-19",
        "url-not-http",
        {"filters": _month_filters(), "callback_url": "ftp://x"},
        f"{A}/callback_url",
    ),
    # 2021-12-15 / 2022-05-10: export_type required; cdr_in year/month[/did_number], cdr_out
    # year/month[/day][/voice_out_trunk.id]
    *[
        p
        for v in MONTH_TYPED
        for p in [
            _bad(v, "no-export-type", {"filters": _month_filters()}, f"{A}/export_type"),
            _bad(
                v,
                "export-type-null",
                {"export_type": None, "filters": _month_filters()},
                f"{A}/export_type",
            ),
            _bad(
                v,
                "export-type-capitals",
                {"export_type": "CDR_IN", "filters": _month_filters()},
                f"{A}/export_type",
            ),
            _bad(
                v,
                "export-type-sms",
                {"export_type": "sms_in", "filters": _month_filters()},
                f"{A}/export_type",
            ),
            _bad(
                v,
                "export-type-number",
                {"export_type": 1, "filters": _month_filters()},
                f"{A}/export_type",
            ),
            _bad(v, "no-filters", {"export_type": "cdr_out"}, f"{A}/filters"),
            _bad(
                v, "in-day", {"export_type": "cdr_in", "filters": _month_filters(day=1)}, *_f("day")
            ),
            _bad(
                v,
                "in-trunk",
                {
                    "export_type": "cdr_in",
                    "filters": _month_filters(**{"voice_out_trunk.id": TRUNK}),
                },
                *_f("voice_out_trunk.id"),
            ),
            _bad(
                v,
                "out-did",
                {"export_type": "cdr_out", "filters": _month_filters(did_number="441234567890")},
                *_f("did_number"),
            ),
            _bad(
                v,
                "out-no-year",
                {"export_type": "cdr_out", "filters": {"month": M1[1]}},
                *_f("year"),
            ),
            _bad(
                v,
                "out-no-month",
                {"export_type": "cdr_out", "filters": {"year": M1[0]}},
                *_f("month"),
            ),
            _bad(
                v,
                "out-day-0",
                {"export_type": "cdr_out", "filters": _month_filters(day=0)},
                *_f("day"),
            ),
            _bad(
                v,
                "out-day-past-month-end",
                {"export_type": "cdr_out", "filters": _month_filters(day=DAYS_IN_M1 + 1)},
                *_f("day"),
            ),
            _bad(
                v,
                "out-day-word",
                {"export_type": "cdr_out", "filters": _month_filters(day="x")},
                *_f("day"),
            ),
            _bad(
                v,
                "out-bad-trunk",
                {
                    "export_type": "cdr_out",
                    "filters": _month_filters(**{"voice_out_trunk.id": "trunk-1"}),
                },
                *_f("voice_out_trunk.id"),
            ),
            _bad(
                v,
                "out-from-to",
                {"export_type": "cdr_out", "filters": _range_filters()},
                *_f("from", "to", "year", "month"),
            ),
            _bad(
                v,
                "out-month-outside-window",
                {
                    "export_type": "cdr_out",
                    "filters": dict(zip(("year", "month"), month_back(3), strict=True)),
                },
                FILTERS,
            ),
            _bad(
                v,
                "method-lowercase",
                {
                    "export_type": "cdr_in",
                    "filters": _month_filters(),
                    "callback_url": CALLBACK,
                    "callback_method": "get",
                },
                f"{A}/callback_method",
            ),
            _bad(
                v,
                "method-without-url",
                {"export_type": "cdr_in", "filters": _month_filters(), "callback_method": "POST"},
                f"{A}/callback_url",
            ),
        ]
    ],
    # 2026-04-16: from/to required, [from, to) inside the window, did_number / trunk
    *[
        _bad(
            "2026-04-16",
            f"{kind}-year-month",
            {"export_type": kind, "filters": _month_filters()},
            *_f("year", "month"),
            FILTERS,
        )
        for kind in ("cdr_in", "cdr_out")
    ],
    _bad("2026-04-16", "no-export-type", {"filters": _range_filters()}, f"{A}/export_type"),
    _bad(
        "2026-04-16",
        "export-type-sms",
        {"export_type": "sms_out", "filters": _range_filters()},
        f"{A}/export_type",
    ),
    # A blank (or absent) from or to: DIDWW's recorded error, on filters itself.
    _bad(
        "2026-04-16",
        "no-from",
        {"export_type": "cdr_in", "filters": {"to": f"{ymd(M1, 2)} 00:00:00"}},
        FILTERS,
    ),
    _bad(
        "2026-04-16",
        "no-to",
        {"export_type": "cdr_out", "filters": {"from": f"{ymd(M1, 2)} 00:00:00"}},
        FILTERS,
    ),
    _bad("2026-04-16", "empty-filters", {"export_type": "cdr_out", "filters": {}}, FILTERS),
    _bad(
        "2026-04-16",
        "to-equals-from",
        {"export_type": "cdr_in", "filters": _range_filters(to=f"{ymd(M1, 1)} 00:00:00")},
        *_f("to"),
    ),
    _bad(
        "2026-04-16",
        "to-equals-from-other-forms",
        {
            "export_type": "cdr_in",
            "filters": {"from": f"{ymd(M1, 1)}T02:00:00+02:00", "to": f"{ymd(M1, 1)} 00:00:00"},
        },
        *_f("to"),
    ),
    _bad(
        "2026-04-16",
        "to-before-from",
        {
            "export_type": "cdr_out",
            "filters": {"from": f"{ymd(M1, 2)} 00:00:00", "to": f"{ymd(M1, 1)} 23:59:59"},
        },
        *_f("to"),
    ),
    _bad(
        "2026-04-16",
        "from-before-window",
        {
            "export_type": "cdr_in",
            "filters": {"from": BEFORE_WINDOW, "to": f"{ymd(M1, 2)} 00:00:00"},
        },
        FILTERS,
    ),
    _bad(
        "2026-04-16",
        "from-before-window-by-offset",
        {
            "export_type": "cdr_in",
            "filters": {
                "from": f"{OLDEST_START:%Y-%m-%d}T00:00:00+01:00",
                "to": f"{ymd(M1, 2)} 00:00:00",
            },
        },
        FILTERS,
    ),
    _bad(
        "2026-04-16",
        "from-in-the-future",
        {
            "export_type": "cdr_out",
            "filters": {
                "from": f"{FUTURE:%Y-%m-%d %H:%M:%S}",
                "to": f"{FUTURE + timedelta(days=1):%Y-%m-%d %H:%M:%S}",
            },
        },
        FILTERS,
    ),
    _bad(
        "2026-04-16",
        "in-trunk",
        {"export_type": "cdr_in", "filters": _range_filters(**{"voice_out_trunk.id": TRUNK})},
        *_f("voice_out_trunk.id"),
    ),
    _bad(
        "2026-04-16",
        "out-did",
        {"export_type": "cdr_out", "filters": _range_filters(did_number="441234567890")},
        *_f("did_number"),
    ),
    _bad(
        "2026-04-16",
        "out-day",
        {"export_type": "cdr_out", "filters": _range_filters(day=1)},
        *_f("day"),
    ),
    _bad(
        "2026-04-16",
        "in-bad-did",
        {"export_type": "cdr_in", "filters": _range_filters(did_number="+4412")},
        *_f("did_number"),
    ),
    *[
        _bad(
            "2026-04-16",
            f"method-{method}",
            {
                "export_type": "cdr_in",
                "filters": _range_filters(),
                "callback_url": CALLBACK,
                "callback_method": method,
            },
            f"{A}/callback_method",
        )
        for method in ("POST", "GET", "Post", "put", "")
    ],
    _bad(
        "2026-04-16",
        "method-without-url",
        {"export_type": "cdr_in", "filters": _range_filters(), "callback_method": "post"},
        f"{A}/callback_url",
    ),
    _bad(
        "2026-04-16",
        "reference-101-chars",
        {"export_type": "cdr_in", "filters": _range_filters(), "external_reference_id": "r" * 101},
        f"{A}/external_reference_id",
    ),
    _bad(
        "2026-04-16",
        "reference-number",
        {"export_type": "cdr_in", "filters": _range_filters(), "external_reference_id": 7},
        f"{A}/external_reference_id",
    ),
]

MALFORMED_TIMES = [
    ymd(M1, 1),  # a date alone
    f"{ymd(M1, 1)} 00:00",
    f"{ymd(M1, 1)}  00:00:00",
    f"{M1[0]}/{M1[1]:02d}/01 00:00:00",
    f"01.{M1[1]:02d}.{M1[0]} 00:00:00",
    f"{ymd(M1, 1)} 24:00:00",
    f"{M1[0]}-{M1[1]:02d}-32 00:00:00",
    f"{M1[0]}-02-30 00:00:00",
    f"{ymd(M1, 1)} 00:00:00 UTC",
    f" {ymd(M1, 1)} 00:00:00",
    "yesterday",
    1714521600,
    [f"{ymd(M1, 1)} 00:00:00"],
]
for _n, _value in enumerate(MALFORMED_TIMES):
    BAD_CREATES += [
        _bad(
            "2026-04-16",
            f"from-malformed-{_n}",
            {"export_type": "cdr_in", "filters": _range_filters(**{"from": _value})},
            *_f("from"),
        ),
        _bad(
            "2026-04-16",
            f"to-malformed-{_n}",
            {"export_type": "cdr_out", "filters": _range_filters(to=_value)},
            *_f("to"),
        ),
    ]


@pytest.mark.parametrize("version", ["2022-05-10", "2026-04-16"])
def test_voice_out_trunk_id_is_a_spelling_of_the_trunk_filter(world: World, version: str) -> None:
    """Accepted wherever voice_out_trunk.id is; both spellings at once is ambiguous."""
    spelt = {**valid_filters(version, "cdr_out"), "voice_out_trunk_id": TRUNK}
    created = create(world.main, version, {"export_type": "cdr_out", "filters": spelt})
    assert created.status_code == 201, created.text
    before = total_exports(world.refused)
    both = {**spelt, "voice_out_trunk.id": TRUNK}
    for kind, filters, pointer in [
        ("cdr_out", both, f"{FILTERS}/voice_out_trunk.id"),
        ("cdr_out", {**spelt, "voice_out_trunk_id": "trunk-1"}, f"{FILTERS}/voice_out_trunk_id"),
        ("cdr_in", spelt, f"{FILTERS}/voice_out_trunk_id"),  # no trunk filter inbound
    ]:
        response = create(world.refused, version, {"export_type": kind, "filters": filters})
        assert_error(response, 422, code="100", pointer=pointer)
    assert total_exports(world.refused) == before


BLANK_TIMES = ["", "   ", "\t", None, ...]  # ...: the member left out


@pytest.mark.parametrize("kind", ["cdr_in", "cdr_out"])
@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", BLANK_TIMES, ids=["empty", "spaces", "tab", "null", "absent"])
def test_blank_from_or_to_is_didwws_not_valid_error(
    world: World, kind: str, name: str, value: object
) -> None:
    """DIDWW's recorded example (Postman 2026-04-16, both export types): title
    "from not valid", detail "filters - from not valid", pointer /data/attributes/filters."""
    filters = _range_filters(**{name: value})
    if value is ...:
        del filters[name]
    response = create(world.refused, "2026-04-16", {"export_type": kind, "filters": filters})
    error = assert_error(response, 422, code="100", pointer=FILTERS)
    assert len(response.json()["errors"]) == 1, response.text
    assert (error["title"], error["detail"]) == (f"{name} not valid", f"filters - {name} not valid")


@pytest.mark.parametrize(("version", "attributes", "pointers"), BAD_CREATES)
def test_bad_create_requests_are_422_with_pointers(
    world: World, version: str, attributes: dict, pointers: set[str]
) -> None:
    before = total_exports(world.refused)
    response = create(world.refused, version, attributes)
    assert_error(response, 422, code="100")
    assert {error["source"]["pointer"] for error in response.json()["errors"]} == pointers
    assert total_exports(world.refused) == before


def test_window_errors_name_the_window(world: World) -> None:
    month = create(
        world.refused,
        "2022-05-10",
        {
            "export_type": "cdr_in",
            "filters": dict(zip(("year", "month"), month_back(3), strict=True)),
        },
    )
    assert "2 previous months" in assert_error(month, 422, pointer=FILTERS)["detail"]
    filters = {"from": BEFORE_WINDOW, "to": f"{ymd(M1, 1)} 00:00:00"}
    ranged = create(world.refused, "2026-04-16", {"export_type": "cdr_in", "filters": filters})
    error = assert_error(ranged, 422, pointer=FILTERS)
    assert error["detail"] == "filters - from must be within the current and 2 previous months"


@pytest.mark.parametrize(
    ("version", "name"),
    [
        (version, name)
        for version in NAMES
        for name in OPTIONAL_WRITABLE
        if name not in VERSIONS[version].attributes
    ],
)
def test_attributes_a_version_does_not_have_are_422(world: World, version: str, name: str) -> None:
    values = {
        "callback_url": CALLBACK,
        "callback_method": "POST",
        "export_type": "cdr_in",
        "external_reference_id": "ref",
    }
    attributes = {**valid_attributes(version), name: values[name]}
    before = total_exports(world.refused)
    response = create(world.refused, version, attributes)
    error = assert_error(response, 422, code="100", pointer=f"/data/attributes/{name}")
    assert "not allowed" in error["detail"]
    assert total_exports(world.refused) == before


@pytest.mark.parametrize("version", NAMES)
def test_the_other_versions_resource_type_is_409(world: World, version: str) -> None:
    v = VERSIONS[version]
    before = total_exports(world.refused)
    response = create(world.refused, version, valid_attributes(version), type_=v.other_collection)
    assert_error(response, 409, pointer="/data/type")
    assert total_exports(world.refused) == before


# --- accepted variations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        (
            (f"{ymd(M1, 4)} 10:00:00", f"{ymd(M1, 5)} 00:00:00"),
            (f"{ymd(M1, 4)} 10:00:00", f"{ymd(M1, 5)} 00:00:00"),
        ),
        (
            (f"{ymd(M1, 4)}T10:00:00", f"{ymd(M1, 5)}T00:00:00Z"),
            (f"{ymd(M1, 4)} 10:00:00", f"{ymd(M1, 5)} 00:00:00"),
        ),
        (
            (f"{ymd(M1, 4)}T10:00:00-05:30", f"{ymd(M1, 5)} 00:00:00+01:00"),
            (f"{ymd(M1, 4)} 15:30:00", f"{ymd(M1, 4)} 23:00:00"),
        ),
        # The oldest second of the window, and a range ending in the future.
        (
            (f"{OLDEST_START:%Y-%m-%d %H:%M:%S}", f"{ymd(M0, 1)}T00:00:00Z"),
            (f"{OLDEST_START:%Y-%m-%d %H:%M:%S}", f"{ymd(M0, 1)} 00:00:00"),
        ),
        (
            (f"{ymd(M0, 1)} 00:00:00", f"{NOW + timedelta(days=40):%Y-%m-%d %H:%M:%S}"),
            (f"{ymd(M0, 1)} 00:00:00", f"{NOW + timedelta(days=40):%Y-%m-%d %H:%M:%S}"),
        ),
        # One second is a range.
        (
            (f"{ymd(M1, 1)} 00:00:00", f"{ymd(M1, 1)} 00:00:01"),
            (f"{ymd(M1, 1)} 00:00:00", f"{ymd(M1, 1)} 00:00:01"),
        ),
    ],
    ids=["didww-form", "iso-and-z", "offsets", "window-start", "to-in-the-future", "one-second"],
)
def test_from_and_to_are_echoed_normalised_to_utc(
    world: World, sent: tuple[str, str], echoed: tuple[str, str]
) -> None:
    filters = {"from": sent[0], "to": sent[1]}
    data = created_data(
        create(world.main, "2026-04-16", {"export_type": "cdr_in", "filters": filters}),
        "2026-04-16",
    )
    assert data["attributes"]["filters"] == {"from": echoed[0], "to": echoed[1]}


@pytest.mark.parametrize("version", [name for name in NAMES if VERSIONS[name].has_callbacks])
@pytest.mark.parametrize("method", ["POST", "GET", None])
def test_callback_method_is_spelled_by_each_version(
    world: World, version: str, method: str | None
) -> None:
    v = VERSIONS[version]
    attributes = {**valid_attributes(version), "callback_url": CALLBACK}
    if method:
        attributes["callback_method"] = v.method(method)
    data = created_data(create(world.main, version, attributes), version)
    stored = (method or "POST").lower()  # without a method: POST
    assert data["attributes"]["callback_url"] == CALLBACK
    assert data["attributes"]["callback_method"] == v.method(stored)
    for reader in NAMES:
        shown = shown_data(show(world.main, reader, data["id"]), reader)["attributes"]
        if VERSIONS[reader].has_callbacks:
            assert shown["callback_method"] == VERSIONS[reader].method(stored), reader
        else:
            assert "callback_method" not in shown and "callback_url" not in shown


def test_page_size_over_100_is_400_on_exports_too(world: World) -> None:
    # /v3/cdr_exports (2017-09-18) is covered in test_api_list.py.
    assert listed(world.main, "2026-04-16", **{"page[size]": 100}).status_code == 200
    response = listed(world.main, "2026-04-16", **{"page[size]": 101})
    assert_error(response, 400, parameter="page[size]")
