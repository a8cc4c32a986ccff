"""Where a tool's endpoint may point: the only home of that rule.

Staff type a tool's URL, and the server calls it: without a rule that is a way into the
site's own network (server-side request forgery). The rule: https only, to public
addresses only, except for the hosts listed in TOOL_HTTP_HOSTS (how the tests reach a fake
on loopback, and how an operator allows a tool server on their own network). It is checked
when staff save the tool (``endpoint_problem``) and again at each call (``resolve``), where
the name is resolved once and the call connects to the address that was checked: a name
that resolves to a public address at the check and to 127.0.0.1 at the connect (DNS
rebinding) cannot slip through. Redirects are never followed (sessions.services.tool_calls).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


class UrlRefused(Exception):
    """The endpoint may not be called; the message says why, for staff."""


@dataclass(frozen=True)
class Target:
    """Where to connect: the checked ``address`` of ``host`` (sent as Host and TLS name)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str  # path and query, as typed


def _listed(host: str) -> bool:
    return host.lower() in settings.TOOL_HTTP_HOSTS


# IPv6 ranges whose last 32 bits carry an IPv4 address a gateway forwards to (NAT64,
# RFC 6052 and 8215) or that a host reads as one (IPv4-compatible, deprecated).
_LAST_32_BITS_IPV4 = tuple(
    ipaddress.ip_network(n)
    # NAT64 (well-known and local-use), IPv4-compatible, SIIT's IPv4-translated.
    for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)
# Not public, whatever this Python's `is_global` says (its table grows with each release):
# site-local, IPv4 special-purpose, documentation, segment routing and the new
# documentation prefix.
_NEVER_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("fec0::/10", "192.0.0.0/24", "2001:db8::/32", "5f00::/16", "3fff::/20")
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``ip`` leads to, when it carries one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1
    if ip.sixtofour is not None:
        return ip.sixtofour  # 2002:7f00:1::
    if any(ip in network for network in _LAST_32_BITS_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # 64:ff9b::7f00:1, ::127.0.0.1
    return None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        # Both must be public: the IPv6 one (which network it is) and the IPv4 it reaches.
        if inner is not None and not _public(str(inner)):
            return False
    if any(ip.version == net.version and ip in net for net in _NEVER_PUBLIC):
        return False
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _addresses(host: str, port: int) -> list[str]:
    """The addresses the name ``host`` resolves to now (a seam for tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _parts(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused(_("The endpoint is not a valid URL.")) from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        raise UrlRefused(_("The endpoint must be an https:// address."))
    if parts.username or parts.password:
        raise UrlRefused(_("The endpoint may not carry a user name or password."))
    if scheme == "http" and not _listed(host):
        raise UrlRefused(_("The endpoint must use https (plain http only for TOOL_HTTP_HOSTS)."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def resolve(url: str) -> Target:
    """The checked address to call ``url`` at, now. Raises UrlRefused."""
    scheme, host, port, path = _parts(url)
    try:
        literal = _literal(host)
        addresses = [literal] if literal else _addresses(host, port)
    except (OSError, UnicodeError):
        raise UrlRefused(_("The endpoint's host name could not be found.")) from None
    if not addresses:
        raise UrlRefused(_("The endpoint's host name could not be found."))
    if not _listed(host):
        # Every address must be public: otherwise which one a connection uses decides.
        if not all(_public(address) for address in addresses):
            raise UrlRefused(
                _(
                    "The endpoint points to a private or local address; "
                    "only hosts listed in TOOL_HTTP_HOSTS may."
                )
            )
    return Target(scheme, host, port, addresses[0], path)


def endpoint_problem(url: str) -> str | None:
    """Why staff may not save ``url`` as a tool's endpoint, or None."""
    try:
        resolve(url)
    except UrlRefused as exc:
        return str(exc)
    return None
