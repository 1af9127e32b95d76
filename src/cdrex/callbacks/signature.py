"""Build and sign callback requests exactly as DIDWW does (spec 9.2, 9.3).

Receivers check our requests with DIDWW's SDK validators, so every byte that enters the HMAC
(URL normalisation, key order, which URL is signed) has to match what those validators compute.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

SIGNATURE_HEADER = "X-DIDWW-Signature"
USER_AGENT = "cdrex-callbacks"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class PreparedCallback:
    """A fully built callback request, so retries resend exactly the bytes that were signed."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def normalize_url(url: str) -> str:
    """Return the URL form the SDK validators sign (spec 9.3).

    scheme://[userinfo@]host:port path[?query][#fragment]: the port is always written (80/443
    when absent, explicit ports kept), IPv6 hosts keep their brackets, the host is lower-cased
    and the path is kept byte-for-byte (no percent-decoding; an empty path stays empty).
    Raises ValueError for an unparsable port, as urllib does.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    userinfo = ""
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "") + "@"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{userinfo}{host}:{port}{parts.path}{query}{fragment}"


def sign(secret: str, url: str, payload: Mapping[str, str]) -> str:
    """Lowercase hex HMAC-SHA1 of normalize_url(url) + k1 v1 k2 v2 ... (keys sorted)."""
    message = normalize_url(url) + "".join(k + payload[k] for k in sorted(payload))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha1).hexdigest()


def callback_payload(
    export_id: str, type_name: str, url: str | None, status: str = "completed"
) -> dict[str, str]:
    """Parameters of an export callback (spec 9.2); `url` only for versions that send it.

    DIDWW only ever sends status=completed; "failed" is cdrex's own addition.
    """
    payload = {"id": export_id, "type": type_name, "status": status}
    if url is not None:
        payload["url"] = url
    return payload


def _append_query(callback_url: str, payload: Mapping[str, str]) -> str:
    """callback_url with the payload appended as a query string, keys sorted.

    A fragment is dropped: it is never sent on the wire, so the receiver cannot see (or sign)
    it, and naive appending would put the parameters inside it.
    """
    base = callback_url.partition("#")[0]
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return base + separator + urlencode(sorted(payload.items()))


def callback_request(
    callback_url: str, method: str, payload: Mapping[str, str], secret: str
) -> PreparedCallback:
    """Build the signed request for one callback.

    POST: form body with the payload, signature over callback_url + payload.
    GET: the payload goes into the query string, and the signature covers the full request
    URL plus every query parameter the receiver will see (the sandbox-captured vector of
    spec 9.3). If callback_url has its own query, its parameters are part of that set, since
    a validator is fed all received parameters.
    """
    method = method.upper()
    headers = {"User-Agent": USER_AGENT}
    if method == "POST":
        body = urlencode(sorted(payload.items())).encode("ascii")
        headers["Content-Type"] = FORM_CONTENT_TYPE
        headers[SIGNATURE_HEADER] = sign(secret, callback_url, payload)
        return PreparedCallback("POST", callback_url, headers, body)
    if method == "GET":
        url = _append_query(callback_url, payload)
        received = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        headers[SIGNATURE_HEADER] = sign(secret, url, received)
        return PreparedCallback("GET", url, headers, None)
    raise ValueError(f"callback method must be GET or POST, not {method!r}")
