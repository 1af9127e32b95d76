"""Deliver one prepared callback and report the outcome, never raising for network trouble."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from cdrex.callbacks.destinations import IPAddress
from cdrex.callbacks.signature import PreparedCallback

_MAX_ERROR_LENGTH = 200


@dataclass(frozen=True)
class DeliveryOutcome:
    """Result of one attempt; the caller decides about retries from `ok`."""

    ok: bool
    status_code: int | None
    error: str | None
    elapsed_ms: int


def _error_text(exc: Exception) -> str:
    """Short, log-friendly description: exception kind plus its message, truncated."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    detail = str(exc) or type(exc).__name__
    return f"{kind}: {detail}"[:_MAX_ERROR_LENGTH]


def _pinned(url: str, address: IPAddress | None) -> tuple[httpx.URL, dict, dict]:
    """The URL to connect to, extra headers and request extensions: the URL's own when
    ``address`` is None, else that address, with the name kept for Host and for TLS (SNI
    and certificate checks)."""
    target = httpx.URL(url)
    if address is None:
        return target, {}, {}
    host = {"Host": target.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return target.copy_with(host=str(address)), host, extensions


def send_callback(
    client: httpx.Client,
    request: PreparedCallback,
    timeout: float,
    address: IPAddress | None = None,
) -> DeliveryOutcome:
    """Send the request once, to ``address`` when given (see check_destination); any 2xx
    is success.

    Redirects are not followed (a 3xx is a failure): following them would sign for one URL
    and deliver to another, and could lead around the destination check. The response body
    is never read, so a receiver cannot make us download a large answer.
    """
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        url, host, extensions = _pinned(request.url, address)
        with client.stream(
            request.method,
            url,
            headers={**request.headers, **host},
            content=request.body,
            timeout=timeout,
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            status_code = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = _error_text(exc)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not ok:
        error = f"HTTP {status_code}"
    return DeliveryOutcome(ok, status_code, error, elapsed_ms)
