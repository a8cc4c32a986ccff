"""Issue 20 attacked: a website's visitor is one client address for the key's visitor
caps, and an IPv6 client picks any address of its /64 at will: the /64 is one visitor
(else one scraper had as many visitors' caps as addresses, and took the key's whole share
from the website's real visitors)."""

from __future__ import annotations

import pytest

from sessions.access import visitor_network
from tests.conftest import assert_error
from tests.embed.test_embed_limits import Visitor, key, limit, started  # noqa: F401

pytestmark = pytest.mark.django_db


def test_addresses_of_one_ipv6_network_share_the_visitor_cap(key):  # noqa: F811
    limit(key, visitor_concurrent=1)
    assert started(Visitor(key, "2001:db8:1:2::1").start())
    refused = Visitor(key, "2001:db8:1:2:ffff:ffff:ffff:fffe").start()
    assert_error(refused, 429, "concurrent_sessions_limit")
    # Another network is another visitor.
    assert started(Visitor(key, "2001:db8:1:3::1").start())


def test_an_ipv4_mapped_address_is_its_ipv4_visitor(key):  # noqa: F811
    limit(key, visitor_concurrent=1)
    assert started(Visitor(key, "192.0.2.7").start())
    assert_error(Visitor(key, "::ffff:192.0.2.7").start(), 429, "concurrent_sessions_limit")


@pytest.mark.parametrize(
    ("ip", "visitor"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:DB8::1", "2001:db8::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("", ""),
        ("not an address", "not an address"),
    ],
)
def test_the_visitors_network(ip, visitor):
    assert visitor_network(ip) == visitor
