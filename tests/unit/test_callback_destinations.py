"""Which addresses a callback may go to (SSRF): only public unicast ones, also when an IPv6
address carries an IPv4 one (6to4, NAT64, Teredo, IPv4-mapped). Hosts here are IP
literals or numeric spellings, so no DNS is asked."""

from __future__ import annotations

import ipaddress

import pytest

from cdrex.callbacks.destinations import RefusedDestination, check_destination

PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "192.31.196.1",  # AS112 anycast: globally reachable
    "100.63.255.255",  # just below 100.64.0.0/10
    "100.128.0.0",  # just above it
    "172.15.255.255",
    "172.32.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "[2606:4700:4700::1111]",
    "[2001:4860:4860::8888]",
    "[2a00:1450:4001:80b::200e]",
    "[2001:200::1]",  # just past the IETF block 2001::/23
    "[2002:808:808::1]",  # 6to4 of 8.8.8.8
    "[2002:101:101:1::1]",  # 6to4 of 1.1.1.1
    "[64:ff9b::808:808]",  # NAT64 of 8.8.8.8
    "[64:ff9b::1.1.1.1]",
    "[::ffff:8.8.8.8]",  # IPv4-mapped
    "[2001:0:808:808:0:0:f7f7:f7f7]",  # Teredo: server 8.8.8.8, client 8.8.8.8
]

REFUSED = [
    ("0.0.0.0", "this-network"),
    ("0.1.2.3", "this-network"),
    ("10.0.0.7", "private"),
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("100.127.255.254", "shared (carrier-grade NAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.0.9", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("2130706433", "loopback"),  # 127.0.0.1 spelt as one number
    ("0x7f.1", "loopback"),
    ("[::]", "unspecified"),
    ("[::1]", "loopback"),
    ("[::7f00:1]", "IPv4-compatible"),
    ("[::808:808]", "IPv4-compatible"),  # deprecated, whatever it holds
    ("[::ffff:127.0.0.1]", "IPv4-mapped address ::ffff:7f00:1 of loopback"),
    ("[::ffff:a9fe:a9fe]", "IPv4-mapped address ::ffff:a9fe:a9fe of link-local"),
    ("[::ffff:10.1.2.3]", "of private"),
    ("[64:ff9b::7f00:1]", "NAT64 address 64:ff9b::7f00:1 of loopback"),
    ("[64:ff9b::a9fe:a9fe]", "of link-local"),
    ("[64:ff9b::192.168.0.1]", "of private"),
    ("[64:ff9b:1::a00:1]", "local-use NAT64"),
    ("[64:ff9b:1:ffff::808:808]", "local-use NAT64"),
    ("[2002:7f00:1::1]", "6to4 address 2002:7f00:1::1 of loopback address 127.0.0.1"),
    ("[2002:a9fe:a9fe::1]", "6to4 address 2002:a9fe:a9fe::1 of link-local"),
    ("[2002:a00:1::]", "of private"),
    ("[2002:c058:6301::1]", "of 6to4 relay anycast"),  # 192.88.99.1
    ("[2002::1]", "of this-network"),
    ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "Teredo"),  # client 10.0.0.1
    ("[2001:0:7f00:1:0:0:f7f7:f7f7]", "of loopback"),  # server 127.0.0.1
    ("[100::1]", "discard-only"),
    ("[fc00::1]", "unique-local"),
    ("[fd12:3456:789a::1]", "unique-local"),
    ("[fe80::1]", "link-local"),
    ("[fe80::1%25eth0]", "link-local"),  # with a zone
    ("[febf:ffff::1]", "link-local"),
    ("[fec0::1]", "site-local"),
    ("[feff::1]", "site-local"),
    ("[ff02::1]", "multicast"),
    ("[ff0e::1]", "multicast"),
    ("[2001:db8::1]", "documentation"),
    ("[3fff::1]", "documentation"),
    ("[2001:2::1]", "IETF protocol assignment"),  # benchmarking
    ("[2001:10::1]", "IETF protocol assignment"),  # ORCHID (deprecated)
    ("[5f00::1]", "reserved"),  # SRv6 SIDs
    ("[4000::1]", "reserved"),  # unallocated
    ("[::2]", "IPv4-compatible"),
]


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_are_allowed_and_connected_to(host: str) -> None:
    address = check_destination(f"https://{host}/hook", allow_private=False)
    literal = host.strip("[]")
    assert address == ipaddress.ip_address(literal)


@pytest.mark.parametrize(("host", "refusal"), REFUSED)
def test_internal_and_special_addresses_are_refused(host: str, refusal: str) -> None:
    with pytest.raises(RefusedDestination, match=r"^callback host .* resolves to ") as refused:
        check_destination(f"http://{host}:8080/hook", allow_private=False)
    assert refusal in str(refused.value)


@pytest.mark.parametrize(("host", "refusal"), REFUSED[::7])
def test_allow_private_lets_every_address_through(host: str, refusal: str) -> None:
    assert check_destination(f"http://{host}/hook", allow_private=True) is None
