"""The operator API: the provider's switches and scripts push CDRs (``/operator/v1``).

Apart from the customers' API: its keys are operator keys (`cdrex operator-keys create`),
sent as ``Authorization: Bearer KEY``; a customer's key is refused here, and an operator
key there. Errors are JSON:API error documents, as the customers' API gives.
"""

from __future__ import annotations

import base64
import binascii
import logging
from urllib.parse import unquote_to_bytes

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cdrex.api.bodies import read_body
from cdrex.api.context import AppContext, context_of
from cdrex.api.errors import ApiError
from cdrex.cdrs.files import BadCdrFile
from cdrex.cdrs.input_formats import (
    CDREX,
    INPUT_FORMATS,
    MAPPING,
    InputFormat,
    input_format,
    switch_mapping,
)
from cdrex.cdrs.mapping import BadMapping
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import ExportType
from cdrex.pipeline.intake import take_in
from cdrex.store.accounts import is_operator_key
from cdrex.store.cdrs import ImportAbandoned, ImportBusy

logger = logging.getLogger(__name__)

# A batch is read whole into memory before it is parsed, so it is bounded:
# 32 MiB is about 100,000 CDRs in CSV. One FreeSWITCH JSON CDR is a few kilobytes.
MAX_BATCH_BYTES = 32 * 1024 * 1024
# A site's mapping file lives on the server: the CLI takes it, the HTTP API does not.
HTTP_FORMATS = tuple(name for name in INPUT_FORMATS if name != MAPPING)
MAX_JSON_CDR_BYTES = 1024 * 1024
FREESWITCH_JSON = "freeswitch-json"


async def ingest_cdrs(request: Request) -> Response:
    """``POST /operator/v1/cdrs?type=cdr_in|cdr_out&format=...``: a batch of CDRs, each
    routed to the owner of its DID or trunk; answered once the batch is committed.

    ``format``: cdrex's own (CSV with a header, JSON Lines, or a JSON array of objects), or
    a switch's (cdrex.cdrs.input_formats), with ``timezone`` for local times. CDRs nobody
    owned, or older than the months kept, are counted and left out; calls already stored
    are counted; records the format leaves out on purpose (B-legs) are counted as ignored.
    """
    context = context_of(request)
    await authenticate(context, request)
    export_type = _choice(request, "type", [kind.value for kind in KINDS], ExportType.CDR_IN)
    format_name = _choice(request, "format", list(HTTP_FORMATS), CDREX)
    source = _input_format(format_name, request.query_params.get("timezone"))
    body = await read_body(request, MAX_BATCH_BYTES)
    lines, unit = _cdrex_lines(body) if format_name == CDREX else (_lines(body), "line")
    return await _ingest(context, lines, ExportType(export_type), source, unit)


async def freeswitch_json_cdr(request: Request) -> Response:
    """``POST /operator/v1/freeswitch/json_cdr``: one CDR as FreeSWITCH mod_json_cdr sends
    it (raw JSON, or ``cdr=`` url-encoded or base64 with ``encode``), authenticated with
    its ``cred`` (HTTP Basic, an operator key as the password). Inbound or outbound by what
    the record says (a ``voice_out_trunk_id`` variable: outbound), or by ``?type=``. Any
    2xx tells mod_json_cdr the CDR is delivered; a retry of one is stored once."""
    context = context_of(request)
    await authenticate(context, request)
    body = await read_body(request, MAX_JSON_CDR_BYTES)
    document = _json_cdr(body)
    mapping = switch_mapping(FREESWITCH_JSON)
    said = mapping.kind_of(document) or ExportType.CDR_IN.value
    export_type = _choice(request, "type", [kind.value for kind in KINDS], said)
    line = orjson.dumps(document) + b"\n"
    return await _ingest(
        context, [line], ExportType(export_type), InputFormat(FREESWITCH_JSON, mapping), "CDR"
    )


async def _ingest(
    context: AppContext,
    lines: list[bytes],
    export_type: ExportType,
    source: InputFormat,
    unit: str,
) -> Response:
    try:
        intake = await context.run(
            take_in,
            context.db,
            context.settings,
            lines,
            export_type,
            skip=True,
            # A CLI import may have SQLite's turn for minutes: answer before clients time out.
            turn_wait=context.settings.write_wait_seconds,
            source=source,
        )
    except BadCdrFile as error:
        detail = f"{unit} {error.line}: {error.reason}; nothing was stored"
        if unit == "CDR":  # one record: its line in the compact JSON is no help
            detail = f"{error.reason}; nothing was stored"
        raise ApiError.one(422, detail, title="Invalid batch", code="100") from None
    except BadMapping as error:
        raise ApiError.one(422, str(error), title="Invalid batch", code="100") from None
    except (ImportAbandoned, ImportBusy) as error:
        raise ApiError(
            503,
            ApiError.one(503, f"{error}; send the batch again shortly.").errors,
            {"Retry-After": "5"},
        ) from None
    imported, tally = intake.imported, intake.tally
    counts = {
        "imported": imported.rows,
        "duplicates": imported.duplicates,
        "unrouted": tally.unowned.total(),
        "too_old": tally.too_old,
        "ignored": tally.ignored.total(),
    }
    if counts["unrouted"] or counts["too_old"]:
        logger.warning("operator push left out CDRs: %s", counts)
    return Response(
        orjson.dumps(counts), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


async def authenticate(context: AppContext, request: Request) -> None:
    """An operator key, as ``Authorization: Bearer KEY``, or as the password of HTTP Basic
    (what a switch's ``cred=user:KEY`` sends; the user name is not checked)."""
    key = _offered_key(request.headers.get("authorization", ""))
    if not key or not await context.read(is_operator_key, context.db, key):
        raise ApiError(
            401,
            ApiError.one(401, "An operator key is required", title="Unauthorized").errors,
            {"WWW-Authenticate": 'Bearer realm="cdrex operator", Basic realm="cdrex operator"'},
        )


def _offered_key(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _choice(request: Request, name: str, allowed: list[str], default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in allowed:
        raise ApiError.one(
            400,
            f"{name} must be one of {', '.join(allowed)}",
            title="Bad Request",
            parameter=name,
        )
    return value


def _input_format(name: str, timezone: str | None) -> InputFormat:
    try:
        return input_format(name, timezone)
    except BadMapping as error:
        raise ApiError.one(400, str(error), title="Bad Request", parameter="timezone") from None


def _lines(body: bytes) -> list[bytes]:
    return body.splitlines(keepends=True)


def _json_cdr(body: bytes) -> dict:
    """The CDR of a mod_json_cdr request: the body itself (``encode`` false), or its
    ``cdr`` form field, url-encoded (``encode`` true) or base64 (``encode`` base64)."""
    text = body.strip()
    if text.startswith(b"cdr="):
        value = unquote_to_bytes(text[4:].replace(b"+", b" "))
        if not value.lstrip().startswith(b"{"):
            try:
                value = base64.b64decode(text[4:], validate=False)
            except binascii.Error:
                raise _invalid("the cdr field is neither JSON nor base64") from None
        text = value
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise _invalid(f"not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise _invalid("a JSON CDR is one object")
    return document


def _invalid(detail: str) -> ApiError:
    return ApiError.one(422, f"{detail}; nothing was stored", title="Invalid CDR", code="100")


def _cdrex_lines(body: bytes) -> tuple[list[bytes], str]:
    """The batch as lines the CDR reader takes, and what its errors count in: a JSON array
    becomes JSON Lines, one object per line, so that "line N" is record N."""
    if not body.lstrip().startswith(b"["):
        return _lines(body), "line"
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError.one(422, f"not valid JSON ({error})", title="Invalid batch") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError.one(422, "a JSON batch is an array of objects", title="Invalid batch")
    return [orjson.dumps(item) + b"\n" for item in items], "record"
