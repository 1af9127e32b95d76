"""Keep callbacks away from internal networks (SSRF).

A callback URL is chosen by an API client, so without this check any account could make the
server probe its own loopback, private LAN or cloud metadata endpoint (169.254.169.254).
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
_SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(ValueError):
    """The callback must not be sent to this URL."""


class UnresolvableDestination(RefusedDestination):
    """The host did not resolve; refused (fail closed) but possibly transient."""


def validate_callback_url(url: str) -> str | None:
    """Syntactic check at export creation: an error message, or None when the URL is usable.

    No DNS here: names may legitimately resolve only later; check_destination decides at send.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(ch.isspace() for ch in url):
        return "must not contain whitespace"
    if any(unicodedata.category(ch) == "Cc" for ch in url):  # NUL, DEL, ...: no URL has them
        return "must not contain control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in _SCHEMES:
        return "must be an http or https URL"
    if not parts.hostname:
        return "must include a host"
    return None


def _blocked_reason(address: IPAddress) -> str | None:
    """Why an address is off-limits, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for reason in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{reason}"):
            return reason.replace("_", "-")
    if not address.is_global:  # e.g. 100.64.0.0/10 carrier-grade NAT
        return "non-global"
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an IP literal resolves to itself, without DNS)."""
    try:
        return [ipaddress.ip_address(host.partition("%")[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableDestination(f"callback host {host!r} does not resolve: {exc}") from exc
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


def check_destination(url: str, allow_private: bool) -> IPAddress | None:
    """Raise RefusedDestination unless url is http(s) and every address of its host is public;
    return the checked address the request must then connect to.

    All resolved addresses are checked, not just the first, so a name with one public and one
    internal record cannot slip through. The caller connects to the address returned rather
    than resolving the name again, so a DNS answer that changes between the check and the
    connection (rebinding) cannot lead it inside. `allow_private` (tests, closed networks)
    skips the check and returns None: connect by name.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise RefusedDestination(f"callback URL scheme {parts.scheme!r} is not http or https")
    host = parts.hostname
    if not host:
        raise RefusedDestination("callback URL has no host")
    if allow_private:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedDestination(f"callback URL has an invalid port: {exc}") from exc
    addresses = _resolve(host, port)
    for address in addresses:
        reason = _blocked_reason(address)
        if reason:
            raise RefusedDestination(
                f"callback host {host!r} resolves to {reason} address {address}"
            )
    return addresses[0]
