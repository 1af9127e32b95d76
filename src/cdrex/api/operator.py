"""The operator API: the provider's switches and scripts push CDRs (``/operator/v1``).

Apart from the customers' API: its keys are operator keys (`cdrex operator-keys create`),
sent as ``Authorization: Bearer KEY``; a customer's key is refused here, and an operator
key there. Errors are JSON:API error documents, as the customers' API gives.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cdrex.api.bodies import read_body
from cdrex.api.context import AppContext, context_of
from cdrex.api.errors import ApiError
from cdrex.cdrs.files import BadCdrFile
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import ExportType
from cdrex.pipeline.intake import take_in
from cdrex.store.accounts import is_operator_key
from cdrex.store.cdrs import ImportAbandoned, ImportBusy

# A batch is read whole into memory before it is parsed, so it is bounded:
# 32 MiB is about 100,000 CDRs in CSV.
MAX_BATCH_BYTES = 32 * 1024 * 1024
FORMATS = ("cdrex",)  # the record format of docs/cdr-record.md


async def ingest_cdrs(request: Request) -> Response:
    """``POST /operator/v1/cdrs?type=cdr_in|cdr_out&format=cdrex``: a batch of CDRs (CSV
    with a header, JSON Lines, or a JSON array of objects), each routed to the owner of its
    DID or trunk; answered once the batch is committed. CDRs nobody owned, or older than
    the months kept, are counted and left out; calls already stored are counted."""
    context = context_of(request)
    await _authenticate(context, request)
    export_type = _choice(request, "type", [kind.value for kind in KINDS], ExportType.CDR_IN)
    _choice(request, "format", list(FORMATS), "cdrex")
    body = await read_body(request, MAX_BATCH_BYTES)
    records, unit = _records(body)
    try:
        intake = await context.run(
            take_in,
            context.db,
            context.settings,
            records,
            ExportType(export_type),
            skip=True,
            # A CLI import may have SQLite's turn for minutes: answer before clients time out.
            turn_wait=context.settings.write_wait_seconds,
        )
    except BadCdrFile as error:
        detail = f"{unit} {error.line}: {error.reason}; nothing was stored"
        raise ApiError.one(422, detail, title="Invalid batch", code="100") from None
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
    }
    return Response(
        orjson.dumps(counts), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


async def _authenticate(context: AppContext, request: Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if (
        scheme.lower() != "bearer"
        or not key
        or not await context.read(is_operator_key, context.db, key)
    ):
        raise ApiError(
            401,
            ApiError.one(401, "An operator key is required", title="Unauthorized").errors,
            {"WWW-Authenticate": 'Bearer realm="cdrex operator"'},
        )


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


def _records(body: bytes) -> tuple[list[bytes], str]:
    """The batch as lines the CDR reader takes, and what its errors count in: a JSON array
    becomes JSON Lines, one object per line, so that "line N" is record N."""
    if not body.lstrip().startswith(b"["):
        return body.splitlines(keepends=True), "line"
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError.one(422, f"not valid JSON ({error})", title="Invalid batch") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError.one(422, "a JSON batch is an array of objects", title="Invalid batch")
    return [orjson.dumps(item) + b"\n" for item in items], "record"
