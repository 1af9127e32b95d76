"""DIDWW's official Python SDKs, installed from PyPI unchanged, against a live cdrex server.

didww==2.0.0 pins API 2022-05-10 and didww==3.2.0 pins 2026-04-16. Each runs in a venv of its
own (conftest.sdk_envs); every test runs a small script there through the SDK's public calls,
the way the SDK's README shows them, with ``base_url`` pointed at cdrex, and asserts here on
the JSON it prints. A call the server refuses must surface as the SDK's own ``DidwwApiError``:
any other exception makes the script, and so the test, fail.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from textwrap import dedent
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import SAMPLES, Service, month_back, new_accounts
from sdk_env import SDK_API_VERSIONS, SdkEnvs, run_sdk_script

SECRET = "sdk-callback-secret"
FAST_CALLBACKS = {"CDREX_CALLBACK_ALLOW_PRIVATE": "1", "CDREX_CALLBACK_RETRY_DELAYS": "1,1,1"}


def sample_header(name: str) -> bytes:
    return (SAMPLES / name).read_bytes().split(b"\n", 1)[0].rstrip(b"\r")


# The CSV header each SDK's exports must have (spec §8.3, §8.4). No 2022-05-10 cdr_out header
# is published (spec §8.3, §12.8); cdrex gives those the 2026-04-16 columns (formats.py).
HEADERS = {
    ("2.0.0", "cdr_in"): sample_header("exports_cdr_in_2021-12-15_sandbox_sample.csv"),
    ("2.0.0", "cdr_out"): sample_header("exports_cdr_out_2026-04-16_header.csv"),
    ("3.2.0", "cdr_in"): sample_header("exports_cdr_in_2026-04-16_header.csv"),
    ("3.2.0", "cdr_out"): sample_header("exports_cdr_out_2026-04-16_header.csv"),
}
START = "Date/Time Start (UTC)"
# ExportStatus members, as the scripts name what the SDK parsed a status to.
STATUSES = {"ExportStatus.PENDING", "ExportStatus.PROCESSING", "ExportStatus.COMPLETED"}

# --- the scripts, run inside an SDK venv ------------------------------------------------------

PRELUDE = '''
import json, sys, time
from enum import Enum
from didww.client import DidwwClient
from didww.enums import CallbackMethod, ExportStatus, ExportType
from didww.exceptions import DidwwApiError
from didww.query_params import QueryParams
from didww.resources.export import Export

ARGS = json.load(sys.stdin)
client = DidwwClient(api_key=ARGS["api_key"], base_url=ARGS["base_url"])
STATUS_HELPERS = hasattr(Export, "is_completed")  # 3.x: is_pending, is_processing, is_completed


def plain(value):
    """An SDK enum member as "Class.NAME" (what the SDK parsed it to), anything else as is."""
    return f"{type(value).__name__}.{value.name}" if isinstance(value, Enum) else value


def dump(export):
    created_at = export.created_at  # the SDK parses it to a datetime
    data = {
        "id": export.id, "type": export.type, "status": plain(export.status),
        "created_at": created_at.isoformat() if created_at is not None else None,
        "created_at_raw": export.attributes.get("created_at"),
        "url": export.url, "callback_url": export.callback_url,
        "callback_method": plain(export.callback_method),
        "export_type": plain(export.export_type), "filters": export.filters,
    }
    if STATUS_HELPERS:
        data["external_reference_id"] = export.external_reference_id
        data["flags"] = [export.is_pending, export.is_processing, export.is_completed]
    return data


def response(api_response):
    data = api_response.data
    data = [dump(e) for e in data] if isinstance(data, list) else dump(data)
    return {"data": data, "meta": api_response.meta}


def api_error(call, *args):
    """What a refused call raises: the SDK's DidwwApiError (anything else ends the script)."""
    try:
        result = call(*args)
    except DidwwApiError as error:
        return {"status_code": error.status_code, "errors": error.errors, "message": str(error)}
    return {"unexpected_success": repr(result)}


def new_export(export_type, filters, **attributes):
    """As the SDK README creates one."""
    export = Export()
    export.export_type = ExportType(export_type)
    export.filters = filters
    for name, value in attributes.items():
        setattr(export, name, value)
    return export


def wait_completed(export_id, timeout=30):
    """Poll with find() until the SDK says completed; returns (export, statuses seen)."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        export = client.exports().find(export_id).data
        seen.append(plain(export.status))
        if export.is_completed if STATUS_HELPERS else export.status == ExportStatus.COMPLETED:
            return export, seen
        if time.monotonic() > deadline:
            raise SystemExit(f"export {export_id} not completed: {seen}")
        time.sleep(0.1)


out = {}
'''
EPILOGUE = "\nprint(json.dumps(out))\n"

ROUND_TRIP = """
for n, spec in enumerate(ARGS["exports"]):
    created = client.exports().create(new_export(spec["export_type"], spec["filters"]))
    found = client.exports().find(created.data.id)
    done, seen = wait_completed(created.data.id)
    raw, plain_csv = f"{ARGS['dir']}/{n}.csv.gz", f"{ARGS['dir']}/{n}.csv"
    client.download_export(done.url, raw)
    client.download_and_decompress_export(done.url, plain_csv)
    out.setdefault("exports", []).append({
        "created": response(created), "found": response(found), "completed": dump(done),
        "seen": seen, "raw": raw, "csv": plain_csv,
    })
"""

LISTING = """
created = []
for export_type, ref in zip(("cdr_in", "cdr_out", "cdr_in"), ARGS["refs"]):
    extra = {"external_reference_id": ref} if ref else {}
    export = new_export(export_type, ARGS["filters"][export_type], **extra)
    created.append(client.exports().create(export).data.id)
    time.sleep(0.01)  # distinct created_at
out["created"] = created


def listed(params=None):
    result = client.exports().list(params)
    return {"ids": [e.id for e in result.data], "statuses": [plain(e.status) for e in result.data],
            "types": sorted({e.type for e in result.data}), "meta": result.meta}


out["unsorted"] = listed()
out["newest_first"] = listed(QueryParams().sort("-created_at"))
out["oldest_first"] = listed(QueryParams().sort("created_at"))
out["two_keys"] = listed(QueryParams().sort("status", "-created_at"))
out["readme"] = listed(QueryParams().sort("-created_at").page(1, 25))
out["pages"] = [listed(QueryParams().sort("created_at").page(n, 2)) for n in (1, 2, 3)]
by_ref = QueryParams().filter("external_reference_id", "list-b")
by_ids = QueryParams().filter("id", f"{created[2]},{created[0]}").sort("-created_at")
by_refs = QueryParams().filter("external_reference_id", "list-a,list-c").page(1, 1)
ref_order = QueryParams().sort("external_reference_id")
if STATUS_HELPERS:  # 2026-04-16 lists filter by id and external_reference_id
    out["by_ref"] = listed(by_ref)
    out["by_ids"] = listed(by_ids)
    out["by_refs"] = listed(by_refs)
    out["ref_order"] = listed(ref_order)
else:  # 2022-05-10 has neither list filters nor that sort key
    out["by_ref"] = api_error(client.exports().list, by_ref)
    out["by_ids"] = api_error(client.exports().list, by_ids)
    out["ref_order"] = api_error(client.exports().list, ref_order)
out["errors"] = {
    "filter": api_error(client.exports().list, QueryParams().filter("export_type", "cdr_in")),
    "sort": api_error(client.exports().list, QueryParams().sort("name")),
    "page_size": api_error(client.exports().list, QueryParams().page(1, 101)),
    "page_number": api_error(client.exports().list, QueryParams().page(0, 10)),
}
"""

UPDATE = """
export = new_export("cdr_in", ARGS["filters"], external_reference_id="sdk-ref-1")
created = client.exports().create(export).data
out["created"] = dump(created)
export = client.exports().find(created.id).data
export.external_reference_id = "sdk-ref-2"
out["updated"] = response(client.exports().update(export))
out["found"] = dump(client.exports().find(created.id).data)
out["cleared"] = response(
    client.exports().update(Export.build(created.id, external_reference_id=None)))
out["too_long"] = api_error(
    client.exports().update, Export.build(created.id, external_reference_id="x" * 101))
read_only = client.exports().find(created.id).data
read_only.export_type = ExportType.CDR_OUT
out["read_only"] = api_error(client.exports().update, read_only)
out["final"] = dump(client.exports().find(created.id).data)
"""

REFUSALS = """
created = client.exports().create(new_export("cdr_in", ARGS["filters"])).data
out["delete"] = api_error(client.exports().delete, created.id)
done, _ = wait_completed(created.id)
out["after_delete"] = dump(done)
out["not_found"] = api_error(client.exports().find, ARGS["missing_id"])
out["out_of_window"] = api_error(
    client.exports().create, new_export("cdr_in", ARGS["old_filters"]))
untyped = Export()
untyped.filters = ARGS["filters"]
out["no_export_type"] = api_error(client.exports().create, untyped)
out["file_missing"] = api_error(
    client.download_export, ARGS["missing_file_url"], ARGS["dir"] + "/missing.csv.gz")
stranger = DidwwClient(api_key="cdrex_not-a-key", base_url=ARGS["base_url"])
out["bad_key_find"] = api_error(stranger.exports().find, created.id)
out["bad_key_download"] = api_error(
    stranger.download_export, done.url, ARGS["dir"] + "/stranger.csv.gz")
"""

CREATE_AND_WAIT = """
attributes = {}
if ARGS.get("callback_url"):
    attributes = {"callback_url": ARGS["callback_url"],
                  "callback_method": getattr(CallbackMethod, ARGS["callback_method"])}
export = new_export(ARGS["export_type"], ARGS["filters"], **attributes)
created = client.exports().create(export).data
done, seen = wait_completed(created.id)
out.update(created=dump(created), completed=dump(done), seen=seen)
"""

FIND_AND_CREATE = """
out["found"] = response(client.exports().find(ARGS["id"]))
out["completed"] = client.exports().find(ARGS["id"]).data.status == ExportStatus.COMPLETED
out["create"] = api_error(client.exports().create, new_export("cdr_in", ARGS["filters"]))
"""

VALIDATE = """
import json, sys
from didww.callback.request_validator import RequestValidator
cases = json.load(sys.stdin)
print(json.dumps([
    RequestValidator(c["secret"]).validate(c["url"], c["payload"], c["signature"]) for c in cases
]))
"""

# --- fixtures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sdk:
    version: str
    python: Path

    @property
    def api_version(self) -> str:
        return SDK_API_VERSIONS[self.version]

    @property
    def v3(self) -> bool:
        return self.version.startswith("3.")


@dataclass
class World:
    """The module's server and its accounts (name, API key)."""

    service: Service
    data: tuple[str, str]  # default 2022-05-10, a callback secret, CDRs in and out
    listing: dict[str, tuple[str, str]]  # per SDK version: default 2017-09-18, nothing else
    newer: tuple[str, str]  # default 2026-04-16
    trunks: dict[str, str]  # Voice OUT trunk name -> id

    @property
    def api_base(self) -> str:
        return f"{self.service.base_url}/v3"

    def run(self, sdk: Sdk, account: tuple[str, str], body: str, **args: object) -> dict:
        script = PRELUDE + dedent(body) + EPILOGUE
        result = run_sdk_script(
            sdk.python, script, {"base_url": self.api_base, "api_key": account[1], **args}
        )
        assert isinstance(result, dict)
        return result


@pytest.fixture(scope="module")
def world(new_api_service, sdk_envs: SdkEnvs) -> Iterator[World]:  # type: ignore[no-untyped-def]
    sdk_envs.prepare(*SDK_API_VERSIONS)  # the venvs install while the server starts
    service = new_api_service(**FAST_CALLBACKS)
    service.start()
    data, listing2, listing3, newer = new_accounts(service, 4)
    generate = (
        "cdrs",
        "generate",
        "--account",
        data[0],
        "--rows",
        "3000",
        "--months",
        "3",
        "--seed",
        "1",
    )
    with ThreadPoolExecutor(4) as pool:
        runs = [
            pool.submit(
                service.cli,
                "accounts",
                "update",
                data[0],
                "--api-version",
                "2022-05-10",
                "--callback-secret",
                SECRET,
            ),
            pool.submit(service.cli, "accounts", "update", newer[0], "--api-version", "2026-04-16"),
            pool.submit(service.cli, *generate),
            pool.submit(service.cli, *generate, "--type", "cdr_out"),
        ]
        outbound = runs[-1].result().stdout.decode()
        for run in runs:
            run.result()
    trunks = {
        name: id_
        for id_, name in re.findall(r"^\s+trunk (\S+)\s+(.+?)\s*$", outbound, re.MULTILINE)
    }
    assert trunks, outbound
    yield World(service, data, {"2.0.0": listing2, "3.2.0": listing3}, newer, trunks)
    service.stop()


@pytest.fixture(params=list(SDK_API_VERSIONS), ids=lambda v: f"didww{v}")
def sdk(request: pytest.FixtureRequest, sdk_envs: SdkEnvs) -> Sdk:
    return Sdk(request.param, sdk_envs.python(request.param))


# --- helpers ------------------------------------------------------------------------------------


def month_filters(sdk: Sdk, months_back: int, *, iso: bool = False) -> dict:
    """Filters for one whole month, in the SDK's version's spelling: ints as in the 2.0.0
    README; from/to for 3.2.0 ("T"-separated as in its README when ``iso``)."""
    year, month = month_back(months_back)
    if not sdk.v3:
        return {"year": year, "month": month}
    first, after = month_bounds(months_back)
    if iso:
        first, after = first.replace(" ", "T"), after.replace(" ", "T")
    return {"from": first, "to": after}


def month_bounds(months_back: int) -> tuple[str, str]:
    year, month = month_back(months_back)
    next_year, next_month = month_back(months_back - 1)
    return f"{year}-{month:02d}-01 00:00:00", f"{next_year}-{next_month:02d}-01 00:00:00"


def normalised(filters: dict) -> dict:
    """How 2026-04-16 echoes from/to: "YYYY-MM-DD HH:MM:SS"."""
    return {k: v.replace("T", " ") if k in ("from", "to") else v for k, v in filters.items()}


def check_fresh(export: dict, sdk: Sdk, export_type: str) -> None:
    """A just-created export as the SDK parsed it."""
    assert export["type"] == "exports"
    assert export["status"] == "ExportStatus.PENDING", export
    assert export["url"] is None
    assert export["export_type"] == f"ExportType.{export_type.upper()}"
    # Python < 3.11 fromisoformat() takes only 0, 3 or 6 fractional digits (spec §11.2).
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z", export["created_at_raw"]
    ), export["created_at_raw"]
    created_at = datetime.fromisoformat(export["created_at"])
    assert created_at.utcoffset() == timedelta(0), export["created_at"]
    assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=5), export["created_at"]
    if sdk.v3:
        assert export["flags"] == [True, False, False]


def check_round_trip(
    world: World, sdk: Sdk, result: dict, export_type: str, filters: dict
) -> list[dict]:
    """create -> find -> poll -> download_export / download_and_decompress_export, checked;
    returns the file's rows."""
    created = result["created"]
    assert created["meta"]["api_version"] == sdk.api_version
    export = created["data"]
    check_fresh(export, sdk, export_type)
    assert export["callback_url"] is None and export["callback_method"] is None
    # 2022-05-10 responses carry no filters (spec §1); 2026-04-16 echoes them normalised.
    assert export["filters"] == (normalised(filters) if sdk.v3 else None)
    if sdk.v3:
        assert export["external_reference_id"] is None

    found = result["found"]
    assert found["meta"]["api_version"] == sdk.api_version
    for name in ("id", "created_at", "export_type", "filters"):
        assert found["data"][name] == export[name], name
    assert found["data"]["status"] in STATUSES

    assert set(result["seen"]) <= STATUSES, result["seen"]
    assert result["seen"][-1] == "ExportStatus.COMPLETED"
    done = result["completed"]
    assert done["id"] == export["id"] and done["status"] == "ExportStatus.COMPLETED"
    assert re.fullmatch(rf"{re.escape(world.api_base)}/exports/[\w-]+\.csv\.gz", done["url"])
    if sdk.v3:
        assert done["flags"] == [False, False, True]

    raw = Path(result["raw"]).read_bytes()
    assert raw[:2] == b"\x1f\x8b", raw[:16]  # download_export saves the gzip file as served
    text = Path(result["csv"]).read_bytes()
    assert gzip.decompress(raw) == text  # download_and_decompress_export: the CSV inside
    header, _, body = text.partition(b"\n")
    assert header == HEADERS[(sdk.version, export_type)]
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert len(rows) == body.count(b"\n")
    return rows


def check_in_month(rows: list[dict], months_back: int) -> None:
    first, after = month_bounds(months_back)
    assert rows
    assert all(first <= row[START] < after for row in rows), (first, after)


def as_set(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(row.values()) for row in rows)


# --- exports, both SDKs -------------------------------------------------------------------------


@pytest.mark.parametrize("export_type", ["cdr_in", "cdr_out"])
def test_create_find_poll_and_download(
    world: World, sdk: Sdk, export_type: str, tmp_path: Path
) -> None:
    """The README's create, then find, poll until completed, both download helpers; then a
    second export narrowed by the version's own filters holds exactly the matching rows."""
    months_back = 1  # last month: all of it is in the past, so its CDRs are all there
    whole = month_filters(sdk, months_back, iso=export_type == "cdr_out")
    (tmp_path / "whole").mkdir()
    result = world.run(
        sdk,
        world.data,
        ROUND_TRIP,
        dir=str(tmp_path / "whole"),
        exports=[{"export_type": export_type, "filters": whole}],
    )
    rows = check_round_trip(world, sdk, result["exports"][0], export_type, whole)
    check_in_month(rows, months_back)

    year, month = month_back(months_back)
    if export_type == "cdr_in":
        did_column = "Destination DID" if sdk.v3 else "DID"
        dids = [row[did_column] for row in rows]
        did = max(set(dids), key=dids.count)
        expected = [row for row in rows if row[did_column] == did]
        extra = {"did_number": did}
    else:
        trunk = rows[0]["Voice OUT Trunk"]
        assert trunk in world.trunks, (trunk, world.trunks)
        expected = [row for row in rows if row["Voice OUT Trunk"] == trunk]
        extra = {"voice_out_trunk.id": world.trunks[trunk]}
        if not sdk.v3:  # 2022-05-10 outbound may also name a day
            day = rows[0][START][8:10]
            expected = [row for row in expected if row[START][8:10] == day]
            extra["day"] = day
    # 2.0.0 as its recorded fixtures send them: zero-padded strings.
    narrowed = (
        {**month_filters(sdk, months_back), **extra}
        if sdk.v3
        else {"year": str(year), "month": f"{month:02d}", **extra}
    )
    (tmp_path / "narrowed").mkdir()
    result = world.run(
        sdk,
        world.data,
        ROUND_TRIP,
        dir=str(tmp_path / "narrowed"),
        exports=[{"export_type": export_type, "filters": narrowed}],
    )
    narrowed_rows = check_round_trip(world, sdk, result["exports"][0], export_type, narrowed)
    assert expected and as_set(narrowed_rows) == as_set(expected)


def test_list_sort_filter_and_pages(world: World, sdk: Sdk) -> None:
    """list() with sort, filter and page as QueryParams exposes them: 2026-04-16 filters by
    id and external_reference_id (comma lists) and sorts by external_reference_id too;
    2022-05-10 has no list filters. Unknown filters and bad sort/page values come back as the
    SDK's DidwwApiError. The account's default is 2017-09-18: the SDK's X-DIDWW-API-Version
    header alone selects its version."""
    filters = {t: month_filters(sdk, 1) for t in ("cdr_in", "cdr_out")}
    refs = ["list-b", "list-c", "list-a"] if sdk.v3 else [None] * 3
    result = world.run(sdk, world.listing[sdk.version], LISTING, filters=filters, refs=refs)
    created = result["created"]
    assert len(set(created)) == 3

    for name in ("unsorted", "newest_first", "oldest_first", "two_keys", "readme"):
        listed = result[name]
        assert listed["meta"] == {"total_records": 3, "api_version": sdk.api_version}, name
        assert sorted(listed["ids"]) == sorted(created), name
        assert listed["types"] == ["exports"]
        assert set(listed["statuses"]) <= STATUSES, listed["statuses"]
    # No sort: creation order (README: DIDWW documents ascending id, spec §10.3; with random
    # UUIDs creation order is cdrex's stable equivalent).
    assert result["unsorted"]["ids"] == created
    assert result["newest_first"]["ids"] == created[::-1]
    assert result["oldest_first"]["ids"] == created
    assert result["readme"]["ids"] == created[::-1]

    pages = result["pages"]
    assert [page["ids"] for page in pages] == [created[:2], created[2:], []]
    assert all(page["meta"]["total_records"] == 3 for page in pages)

    if sdk.v3:
        assert result["by_ref"]["ids"] == created[:1]
        assert result["by_ref"]["meta"]["total_records"] == 1
        assert result["by_ids"]["ids"] == [created[2], created[0]]
        assert result["by_refs"]["ids"] == [created[1]]  # list-c, list-a; page 1 of size 1
        assert result["by_refs"]["meta"]["total_records"] == 2
        assert result["ref_order"]["ids"] == [created[2], created[0], created[1]]
    else:
        for name, key in (("by_ref", "external_reference_id"), ("by_ids", "id")):
            error = result[name]
            assert error.get("status_code") == 400, (name, error)
            assert error["errors"][0]["code"] == "102", error
            assert error["message"] == f"{key} is not allowed.", error
        assert result["ref_order"].get("status_code") == 400, result["ref_order"]
        assert result["ref_order"]["errors"][0]["code"] == "114", result["ref_order"]

    errors = result["errors"]
    expected = {
        "filter": (400, "102", "export_type is not allowed."),
        "sort": (400, "114", None),
        "page_size": (400, "118", None),
        "page_number": (400, "118", None),
    }
    for name, (status, code, detail) in expected.items():
        error = errors[name]
        assert error.get("status_code") == status, (name, error)
        assert error["errors"][0]["code"] == code, (name, error)
        assert error["message"] == error["errors"][0]["detail"], (name, error)
        if detail:
            assert error["message"] == detail, (name, error)


def test_refusals_are_sdk_errors(world: World, sdk: Sdk, tmp_path: Path) -> None:
    """delete (the SDK has it, cdrex answers 405), an unknown id, filters outside the window,
    no export_type, a missing file, a wrong API key: each a DidwwApiError, nothing worse."""
    missing_id = str(uuid.uuid4())
    result = world.run(
        sdk,
        world.data,
        REFUSALS,
        dir=str(tmp_path),
        missing_id=missing_id,
        filters=month_filters(sdk, 0),
        old_filters=month_filters(sdk, 3),
        missing_file_url=f"{world.api_base}/exports/{uuid.uuid4()}.csv.gz",
    )
    delete = result["delete"]
    assert delete.get("status_code") == 405, delete
    assert delete["errors"][0]["code"] == "405"
    assert f"API version {sdk.api_version}" in delete["message"]
    assert result["after_delete"]["status"] == "ExportStatus.COMPLETED"  # still there

    not_found = result["not_found"]
    assert not_found.get("status_code") == 404, not_found
    assert not_found["message"] == f"The record identified by {missing_id} could not be found."

    window = result["out_of_window"]
    assert window.get("status_code") == 422, window
    assert window["errors"][0]["source"] == {"pointer": "/data/attributes/filters"}
    if sdk.v3:  # the Postman text (spec §5.2)
        assert window["message"] == (
            "filters - from must be within the current and 2 previous months"
        )

    untyped = result["no_export_type"]
    assert untyped.get("status_code") == 422, untyped
    assert untyped["errors"][0]["source"] == {"pointer": "/data/attributes/export_type"}

    # Downloads: the SDK reports any status >= 400 as "HTTP <code>".
    assert result["file_missing"] == {
        "status_code": 404,
        "errors": [{"title": "HTTP 404"}],
        "message": "HTTP 404",
    }
    assert result["bad_key_download"] == {
        "status_code": 401,
        "errors": [{"title": "HTTP 401"}],
        "message": "HTTP 401",
    }
    bad_key = result["bad_key_find"]
    assert bad_key.get("status_code") == 401, bad_key
    assert bad_key["message"] == "Authorization failed"


# --- 3.2.0 only -------------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", ["3.2.0"], indirect=True, ids=lambda v: f"didww{v}")
def test_update_external_reference_id(world: World, sdk: Sdk) -> None:
    """external_reference_id set on create, changed with update() on a found export, cleared
    with update(Export.build(id, external_reference_id=None)); too long or another attribute
    changed: DidwwApiError 422."""
    result = world.run(sdk, world.data, UPDATE, filters=month_filters(sdk, 0))
    created = result["created"]
    check_fresh(created, sdk, "cdr_in")
    assert created["external_reference_id"] == "sdk-ref-1"
    updated = result["updated"]
    assert updated["meta"]["api_version"] == sdk.api_version
    assert updated["data"]["id"] == created["id"]
    assert updated["data"]["external_reference_id"] == "sdk-ref-2"
    for name in ("created_at", "export_type", "filters"):
        assert updated["data"][name] == created[name], name
    assert result["found"]["external_reference_id"] == "sdk-ref-2"
    assert result["cleared"]["data"]["external_reference_id"] is None
    too_long = result["too_long"]
    assert too_long.get("status_code") == 422, too_long
    assert too_long["errors"][0]["source"] == {"pointer": "/data/attributes/external_reference_id"}
    read_only = result["read_only"]
    assert read_only.get("status_code") == 422, read_only
    assert read_only["errors"][0]["source"] == {"pointer": "/data/attributes/export_type"}
    final = result["final"]
    assert final["external_reference_id"] is None
    assert final["export_type"] == "ExportType.CDR_IN"


def test_sdk2_cannot_downgrade_an_account_on_2026_04_16(world: World, sdk_envs: SdkEnvs) -> None:
    """An X-DIDWW-API-Version older than the account's default is ignored (spec §2.1): 2.0.0
    then reads 2026-04-16 documents. It parses them without crashing, but the lowercase status
    is no ExportStatus member (so never COMPLETED), and its year/month create is refused."""
    sdk3 = Sdk("3.2.0", sdk_envs.python("3.2.0"))
    sdk2 = Sdk("2.0.0", sdk_envs.python("2.0.0"))
    made = world.run(
        sdk3, world.newer, CREATE_AND_WAIT, export_type="cdr_in", filters=month_filters(sdk3, 0)
    )
    result = world.run(
        sdk2, world.newer, FIND_AND_CREATE, id=made["created"]["id"], filters=month_filters(sdk2, 0)
    )
    found = result["found"]
    assert found["meta"]["api_version"] == "2026-04-16"
    assert found["data"]["status"] == "completed"  # a plain string, not ExportStatus
    assert result["completed"] is False
    assert found["data"]["filters"] == normalised(month_filters(sdk3, 0))
    create = result["create"]
    assert create.get("status_code") == 422, create


# --- callbacks ----------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A loopback HTTP endpoint that records every request and answers 200."""

    base: str = ""
    received: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, prefix: str, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                hits = [r for r in self.received if r["path"].startswith(prefix)]
            if hits or time.monotonic() > deadline:
                return hits
            time.sleep(0.05)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with state.lock:
                state.received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "host": self.headers.get("Host"),
                        "headers": dict(self.headers),
                        "body": body.decode(errors="replace"),
                    }
                )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _record  # noqa: N815 - http.server dispatches on these names

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_callback_passes_the_sdk_request_validator(
    world: World, sdk: Sdk, receiver: Receiver, method: str
) -> None:
    """An export created through the SDK with callback_url/callback_method: when it completes
    cdrex calls back, and the SDK's own RequestValidator, given what a receiver sees (POST: the
    configured URL and the form fields; GET: the full request URL and its query), accepts
    the X-DIDWW-Signature."""
    path = f"/didww/{uuid.uuid4().hex}"
    callback_url = f"{receiver.base}{path}?src=sdk"
    made = world.run(
        sdk,
        world.data,
        CREATE_AND_WAIT,
        export_type="cdr_in",
        filters=month_filters(sdk, 0),
        callback_url=callback_url,
        callback_method=method,
    )
    created, done = made["created"], made["completed"]
    assert created["callback_url"] == callback_url
    assert created["callback_method"] == f"CallbackMethod.{method}"
    assert done["callback_method"] == f"CallbackMethod.{method}"

    hits = receiver.wait_for(path)
    assert len(hits) == 1, hits
    [hit] = hits
    assert hit["method"] == method
    signature = hit["headers"].get("X-DIDWW-Signature")
    assert signature and re.fullmatch(r"[0-9a-f]{40}", signature), hit["headers"]
    if method == "POST":
        assert hit["path"] == f"{path}?src=sdk"
        assert hit["headers"].get("Content-Type") == "application/x-www-form-urlencoded"
        url, payload = callback_url, dict(parse_qsl(hit["body"], keep_blank_values=True))
        fields = payload
    else:  # the parameters appended to the callback URL's own query
        assert hit["path"].startswith(f"{path}?src=sdk&"), hit["path"]
        assert hit["body"] == ""
        url = f"http://{hit['host']}{hit['path']}"
        payload = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        fields = {k: v for k, v in payload.items() if k != "src"}
    expected = {"id": done["id"], "type": "exports", "status": "completed"}
    if sdk.v3:  # the url parameter came with 2026-04-16 (spec §9.2)
        expected["url"] = done["url"]
    assert fields == expected

    case = {"secret": SECRET, "url": url, "payload": payload, "signature": signature}
    cases = [
        case,
        {**case, "secret": "another-secret"},
        {**case, "payload": {**payload, "status": "failed"}},
    ]
    assert run_sdk_script(sdk.python, VALIDATE, cases) == [True, False, False]
