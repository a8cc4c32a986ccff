"""Where a tool may point (sessions.services.tool_urls): https to public addresses only,
unless the host is listed in TOOL_HTTP_HOSTS; the name is resolved at the call and the
call goes to the address that was checked (DNS rebinding cannot reach the inside)."""

from __future__ import annotations

import pytest

from sessions.services import tool_urls

PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """Names resolve as this dict says (the test's own DNS)."""
    table: dict[str, list[str]] = {}

    def addresses(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        raise OSError("no such host")

    monkeypatch.setattr(tool_urls, "_addresses", addresses)
    return table


@pytest.fixture(autouse=True)
def nothing_listed(settings):
    settings.TOOL_HTTP_HOSTS = []


def test_https_to_a_public_address_is_allowed(dns):
    dns["tools.example.com"] = [PUBLIC]
    target = tool_urls.resolve("https://tools.example.com/weather?units=c")
    assert (target.scheme, target.host, target.port, target.address, target.path) == (
        "https",
        "tools.example.com",
        443,
        PUBLIC,
        "/weather?units=c",
    )
    assert tool_urls.endpoint_problem("https://tools.example.com/weather") is None


@pytest.mark.parametrize(
    "url",
    ["http://tools.example.com/x", "ftp://tools.example.com/x", "file:///etc/passwd", "x"],
)
def test_anything_but_https_is_refused(dns, url):
    dns["tools.example.com"] = [PUBLIC]
    assert "https" in tool_urls.endpoint_problem(url)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.5", "192.168.1.1", "169.254.169.254", "::1", "fd00::1",
     "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_private_and_local_addresses_are_refused(dns, address):
    dns["tools.example.com"] = [address]
    problem = tool_urls.endpoint_problem("https://tools.example.com/x")
    assert problem and "private or local" in problem
    host = f"[{address}]" if ":" in address else address
    assert "private or local" in tool_urls.endpoint_problem(f"https://{host}/x")


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:7f00:1::",
     "2002:a9fe:a9fe::1", "::127.0.0.1", "::a00:5", "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe"],
)  # fmt: skip
def test_ipv6_carrying_a_private_ipv4_is_refused(dns, address):
    # NAT64, 6to4 and IPv4-compatible addresses lead to the IPv4 they carry.
    assert "private or local" in tool_urls.endpoint_problem(f"https://[{address}]/x")


@pytest.mark.parametrize("address", ["[fec0::1]", "[5f00::1]", "[3fff::1]", "192.0.0.8"])
def test_ranges_an_older_python_calls_global_are_refused(dns, address):
    # Site-local, segment routing, the new documentation prefix, IPv4 special-purpose:
    # this venv's ipaddress (3.11.7) still calls some of them global.
    assert "private or local" in tool_urls.endpoint_problem(f"https://{address}/x")


@pytest.mark.parametrize("address", ["64:ff9b::5db8:d70e", "2002:5db8:d70e::1"])
def test_ipv6_carrying_a_public_ipv4_is_allowed(dns, address):
    assert tool_urls.endpoint_problem(f"https://[{address}]/x") is None


def test_one_private_address_among_public_ones_is_enough_to_refuse(dns):
    dns["tools.example.com"] = [PUBLIC, "127.0.0.1"]
    assert tool_urls.endpoint_problem("https://tools.example.com/x")


def test_a_name_that_rebinds_to_loopback_at_the_call_is_refused(dns):
    # Public when staff saved it...
    dns["rebind.example.com"] = [PUBLIC]
    assert tool_urls.endpoint_problem("https://rebind.example.com/x") is None
    # ...loopback when the call is made: resolved again, refused.
    dns["rebind.example.com"] = ["127.0.0.1"]
    with pytest.raises(tool_urls.UrlRefused, match="private or local"):
        tool_urls.resolve("https://rebind.example.com/x")


def test_a_listed_host_may_use_http_and_a_private_address(dns, settings):
    settings.TOOL_HTTP_HOSTS = ["tools.internal"]
    dns["tools.internal"] = ["10.1.2.3"]
    target = tool_urls.resolve("http://tools.internal:8080/hook")
    assert (target.address, target.port) == ("10.1.2.3", 8080)
    # Listing one host opens no other.
    dns["other.internal"] = ["10.1.2.4"]
    assert tool_urls.endpoint_problem("http://other.internal/hook")
    assert tool_urls.endpoint_problem("https://other.internal/hook")


def test_unknown_names_and_credentials_in_urls_are_refused(dns):
    assert "could not be found" in tool_urls.endpoint_problem("https://nowhere.example/x")
    dns["tools.example.com"] = [PUBLIC]
    assert "user name" in tool_urls.endpoint_problem("https://u:p@tools.example.com/x")
