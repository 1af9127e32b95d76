"""Keep callbacks away from internal networks (SSRF).

A callback URL is chosen by an API client, so without this check any account could make the
server probe its own loopback, private LAN or cloud metadata endpoint (169.254.169.254).
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
_SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def _networks(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(network), kind) for network, kind in rows)


# Written out from IANA's special-purpose registries (and the address space registry for
# IPv6) instead of read from ipaddress's is_* flags, whose tables change between Python
# versions. Refused whole, even where a block has a few global exceptions.
_IPV4_REFUSED = _networks(
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),  # deprecated (RFC 7526)
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # and 255.255.255.255, broadcast
)
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")  # all else is special or unallocated
# Inside 2000::/3 these are exceptions to it; outside it, they name the refusal better.
_IPV6_REFUSED = _networks(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible"),  # deprecated (RFC 4291), and inside reserved ::/8
    ("64:ff9b:1::/48", "local-use NAT64"),  # RFC 8215: where the IPv4 sits is local choice
    ("100::/64", "discard-only"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),  # deprecated (RFC 3879)
    ("ff00::/8", "multicast"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
)


def _last_32_bits(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)


# IPv6 addresses that lead to the IPv4 addresses they carry: they are as public as those.
_IPV6_EMBEDDING: tuple[tuple[IPNetwork, str, Callable], ...] = tuple(
    (ipaddress.ip_network(network), kind, embedded)
    for network, kind, embedded in (
        ("::ffff:0:0/96", "IPv4-mapped", lambda address: (address.ipv4_mapped,)),
        ("64:ff9b::/96", "NAT64", _last_32_bits),  # RFC 6052's well-known prefix
        ("2001::/32", "Teredo", lambda address: address.teredo),  # (server, client)
        ("2002::/16", "6to4", lambda address: (address.sixtofour,)),  # bits 16 to 48
    )
)


def _refusal(address: IPAddress) -> str | None:
    """Why a callback must not go to ``address`` ("loopback address 127.0.0.1"), or None
    for a public unicast address."""
    if isinstance(address, ipaddress.IPv4Address):
        kind = _first_kind(address, _IPV4_REFUSED)
        return f"{kind} address {address}" if kind else None
    for network, kind, embedded in _IPV6_EMBEDDING:
        if address in network:
            inner = next(filter(None, map(_refusal, embedded(address))), None)
            return f"{kind} address {address} of {inner}" if inner else None
    kind = _first_kind(address, _IPV6_REFUSED)
    if kind is None and address not in _IPV6_GLOBAL_UNICAST:
        kind = "reserved"
    return f"{kind} address {address}" if kind else None


def _first_kind(address: IPAddress, table: tuple[tuple[IPNetwork, str], ...]) -> str | None:
    return next((kind for network, kind in table if address in network), None)


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
        reason = _refusal(address)
        if reason:
            raise RefusedDestination(f"callback host {host!r} resolves to {reason}")
    return addresses[0]
