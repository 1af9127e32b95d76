"""No input to the operator API gives a 5xx, property-based, on SQLite and PostgreSQL:
arbitrary query strings and bodies to POST /operator/v1/cdrs in every format, arbitrary
JSON values in each variable and path a FreeSWITCH JSON CDR is read from, and in each
member of the provisioning requests. Every answer is below 500; every error is a JSON:API
error document. Derandomized, as tests/test_api_properties.py, whose value strategies
these share."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdrex.cdrs.input_formats import INPUT_FORMATS, MAPPING
from conftest import Service
from test_api_properties import EXAMPLES, TEXT, VALUES, assert_well_formed

A_LEG = orjson.loads(
    (
        Path(__file__).resolve().parent / "samples" / "switches" / "freeswitch-a-leg.json"
    ).read_bytes()
)
OWNER = f"props-{uuid.uuid4().hex[:8]}"
HTTP_FORMATS = [name for name in INPUT_FORMATS if name != MAPPING]
BODIES = st.one_of(
    st.binary(max_size=300),
    TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),  # not UTF-8 at times
    st.lists(VALUES, max_size=3).filter(lambda items: _encodable(items)).map(orjson.dumps),
)


def _encodable(value: object) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def _utf8(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@pytest.fixture(scope="module")
def operator(cli_service: Service) -> Iterator[httpx.Client]:
    key = cli_service.cli("operator-keys", "create").stdout.decode().strip()
    cli_service.cli("accounts", "create", OWNER)
    with httpx.Client(
        base_url=cli_service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


def test_no_batch_gives_a_5xx(operator: httpx.Client) -> None:
    @EXAMPLES
    @given(
        format_name=st.sampled_from(HTTP_FORMATS),
        type_=st.one_of(st.sampled_from(["cdr_in", "cdr_out"]), TEXT),
        timezone=st.one_of(st.none(), st.sampled_from(["Europe/Berlin", "UTC"]), TEXT),
        body=BODIES,
    )
    def check(format_name: str, type_: str, timezone: str | None, body: bytes) -> None:
        params = {"format": format_name, "type": type_}
        if timezone is not None and format_name != "cdrex":
            params["timezone"] = timezone
        # A URL carries UTF-8: a lone surrogate goes as the replacement character.
        sent = {name: _utf8(value) for name, value in params.items()}
        assert_well_formed(operator.post("/operator/v1/cdrs", params=sent, content=body))

    check()


JSON_CDR_PATHS = [
    ("variables", name)
    for name in ("uuid", "start_uepoch", "answer_uepoch", "end_uepoch", "billsec",
                 "hangup_cause", "sip_term_status", "accountcode", "voice_out_trunk_id")
] + [("callflow",), ("variables",), ("callflow", 1, "caller_profile", "destination_number"),
     ("callflow", 0, "caller_profile", "originator")]  # fmt: skip


@pytest.mark.parametrize("path", JSON_CDR_PATHS, ids=lambda path: ".".join(map(str, path)))
def test_no_json_cdr_value_gives_a_5xx(operator: httpx.Client, path: tuple) -> None:
    @EXAMPLES
    @given(value=VALUES)
    def check(value: object) -> None:
        document = copy.deepcopy(A_LEG)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
        if not _encodable(document):
            return
        answered = operator.post(
            "/operator/v1/freeswitch/json_cdr",
            content=orjson.dumps(document),
            headers={"Content-Type": "application/json"},
        )
        assert_well_formed(answered)

    check()


PROVISIONING = [
    ("/operator/v1/accounts", {"name": "x"}),
    # An account that exists, so that the other members' values go as deep as they can.
    ("/operator/v1/dids", {"id": "4930901820", "account": OWNER, "since": "2026-01-01"}),
    ("/operator/v1/trunks", {"id": str(uuid.UUID(int=7)), "account": OWNER, "until": "2027-01-01"}),
    ("/operator/v1/dids/4930901820/release", {"at": "2026-01-01"}),
]  # fmt: skip


@pytest.mark.parametrize(("url", "valid"), PROVISIONING, ids=[url for url, _ in PROVISIONING])
def test_no_provisioning_value_gives_a_5xx(operator: httpx.Client, url: str, valid: dict) -> None:
    @EXAMPLES
    @given(member=st.sampled_from([*valid, "unknown"]), value=VALUES)
    def check(member: str, value: object) -> None:
        document = {**valid, member: value}
        if not _encodable(document):
            return
        assert_well_formed(operator.post(url, content=orjson.dumps(document)))

    check()
