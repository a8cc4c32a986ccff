"""Issue 20: a website's visitors meet the embed key's own limits (per visitor and for the
whole key), through the API as the embed page calls it: a Bearer visitor token, no cookie.

A visitor, for the limits, is one client address on one key (sessions.keys.embed_visitor):
two people behind one address (an office, a phone carrier's NAT) share the visitor's
figures; the token's random visitor id only decides who owns which session.
"""

from __future__ import annotations

import types

import pytest
from django.test import Client

from sessions import embed_tokens
from sessions.models import AvatarSession, EmbedKey
from sessions.providers.base import UpstreamRefused
from sessions.providers.sandbox.provider import SandboxProvider
from sessions.services import limits
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

SHOP = "https://shop.test"
# Half past some hour, early in a UTC day: neither window rolls over mid-test.
HALF_PAST = 1_800_000_000.0 - 1_800_000_000.0 % 86400 + 3600 + 1800.25


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    now = types.SimpleNamespace(value=HALF_PAST)
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(time=lambda: now.value))
    return now


@pytest.fixture
def key(world):
    key = EmbedKey.objects.create(
        name="Shop",
        allowed_origins=SHOP,
        visitor_concurrent=10,
        visitor_sessions_per_hour=100,
        visitor_minutes_per_day=0,
        key_concurrent=100,
        key_sessions_per_hour=1000,
        key_minutes_per_day=0,
    )
    key.presets.add(world.preset)
    return key


def limit(key: EmbedKey, **figures: int) -> None:
    EmbedKey.objects.filter(pk=key.pk).update(**figures)


class Visitor:
    """One person on the website: their own token, calling from `ip`."""

    def __init__(self, key: EmbedKey, ip: str = "203.0.113.1", forwarded: str = "") -> None:
        self.token = embed_tokens.issue(key.public_key, SHOP)
        self.client = Client(enforce_csrf_checks=True)
        self.meta = {"REMOTE_ADDR": ip}
        if forwarded:
            self.meta["HTTP_X_FORWARDED_FOR"] = forwarded

    def post(self, path: str, body: dict | None = None):
        return self.client.post(
            f"/api/v1{path}",
            body or {},
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
            **self.meta,
        )

    def start(self, duration: int = 60):
        return self.post("/sessions", {"preset": "ada", "duration": duration})

    def close(self, response) -> None:
        assert self.post(f"/sessions/{response.json()['id']}/close").status_code == 200


def started(response) -> bool:
    assert response.status_code in (201, 429), response.content
    return response.status_code == 201


def retry_after(response) -> int:
    assert response["Retry-After"].isdigit(), response["Retry-After"]
    return int(response["Retry-After"])


# --- sessions per hour -----------------------------------------------------------------


def test_a_visitor_at_the_hourly_cap_is_refused_and_another_address_still_starts(key, clock):
    limit(key, visitor_sessions_per_hour=2)
    me = Visitor(key, "203.0.113.1")
    assert started(me.start()) and started(me.start())
    refused = me.start()
    assert_error(refused, 429, "session_creation_limit")
    assert 0 < retry_after(refused) <= 1800 + 1  # the hour's window ends at the hour
    assert started(Visitor(key, "203.0.113.2").start())
    clock.value += 1800  # the next hour
    assert started(me.start())


def test_the_keys_hourly_cap_stops_every_visitor(key):
    limit(key, key_sessions_per_hour=3)
    for n in range(3):
        assert started(Visitor(key, f"203.0.113.{n + 1}").start())
    refused = Visitor(key, "198.51.100.7").start()
    error = assert_error(refused, 429, "session_creation_limit")
    assert "website" in error["message"]  # the whole site's cap, not this visitor's doing
    assert retry_after(refused) > 0


def test_a_refusal_by_the_keys_hourly_cap_burns_none_of_the_visitors(key):
    limit(key, visitor_sessions_per_hour=2, key_sessions_per_hour=2)
    me, other = Visitor(key, "203.0.113.1"), Visitor(key, "203.0.113.2")
    assert started(me.start()) and started(other.start())  # the key's 2 are used
    for _ in range(3):
        assert_error(me.start(), 429, "session_creation_limit")
    limit(key, key_sessions_per_hour=10)  # the site raises its cap
    assert started(me.start())  # the visitor's second of 2 was still theirs


# --- sessions at once ------------------------------------------------------------------


def test_a_visitors_concurrent_cap_frees_when_a_session_closes(key):
    limit(key, visitor_concurrent=1)
    me = Visitor(key)
    first = me.start()
    assert started(first)
    assert_error(me.start(), 429, "concurrent_sessions_limit")
    assert started(Visitor(key, "203.0.113.9").start())  # another address: its own cap
    me.close(first)
    assert started(me.start())


def test_the_keys_concurrent_cap_says_the_website_is_busy_and_frees_on_close(key):
    limit(key, key_concurrent=2)
    one, two, three = (Visitor(key, f"203.0.113.{n}") for n in (1, 2, 3))
    first = one.start()
    assert started(first) and started(two.start())
    busy = three.start()
    error = assert_error(busy, 429, "site_sessions_limit")
    assert "website" in error["message"]
    assert retry_after(busy) > 0
    one.close(first)
    assert started(three.start())


def test_two_visitors_behind_one_address_share_the_visitor_cap(key):
    # A visitor is one address on one key: the second person in the office waits.
    limit(key, visitor_concurrent=1)
    assert started(Visitor(key, "192.0.2.5").start())
    assert_error(Visitor(key, "192.0.2.5").start(), 429, "concurrent_sessions_limit")


# --- minutes per day -------------------------------------------------------------------


def test_a_visitors_minutes_per_day_refuse_with_when_to_come_back(key, clock):
    limit(key, visitor_minutes_per_day=5)
    me = Visitor(key)
    assert started(me.start(180))
    refused = me.start(180)  # 6 of 5 minutes
    error = assert_error(refused, 429, "daily_minutes_limit")
    assert "tomorrow" in error["message"]
    midnight = HALF_PAST - HALF_PAST % 86400 + 86400
    assert abs(retry_after(refused) - (midnight - clock.value)) <= 1
    assert started(me.start(120))  # what is left still starts
    assert started(Visitor(key, "203.0.113.50").start(180))  # another address, its own day
    clock.value = midnight + 10
    assert started(me.start(180))


def test_the_keys_minutes_per_day_stop_every_visitor(key):
    limit(key, key_minutes_per_day=5)
    assert started(Visitor(key, "203.0.113.1").start(180))
    refused = Visitor(key, "203.0.113.2").start(180)
    error = assert_error(refused, 429, "site_minutes_limit")
    assert "website" in error["message"]
    assert retry_after(refused) > 0


def test_a_refused_upstream_create_gives_the_minutes_and_the_slot_back(key, monkeypatch):
    limit(key, visitor_minutes_per_day=3, key_minutes_per_day=3, visitor_concurrent=1)
    real_create = SandboxProvider.create_session
    calls = []

    async def refusing_once(self, request):
        calls.append(request)
        if len(calls) == 1:
            raise UpstreamRefused("The avatar is not available.")
        return await real_create(self, request)

    monkeypatch.setattr(SandboxProvider, "create_session", refusing_once)
    me = Visitor(key)
    assert me.start(180).status_code >= 400
    assert AvatarSession.objects.get().status == "failed"
    assert started(me.start(180))  # the same 3 minutes, the same one slot


# --- addresses -------------------------------------------------------------------------


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(key, settings):
    limit(key, visitor_concurrent=1)
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    # Behind our proxy: two clients, two visitors.
    assert started(Visitor(key, "10.0.0.2", forwarded="198.51.100.1").start())
    assert started(Visitor(key, "10.0.0.2", forwarded="198.51.100.2").start())
    # A client sending the header itself is still its own address, whatever it claims.
    assert started(Visitor(key, "203.0.113.7", forwarded="198.51.100.3").start())
    spoofed = Visitor(key, "203.0.113.7", forwarded="198.51.100.4").start()
    assert_error(spoofed, 429, "concurrent_sessions_limit")


@pytest.mark.parametrize("anonymous", [False, True])
def test_anonymous_sessions_change_nothing_for_embeds(key, settings, anonymous):
    settings.ANONYMOUS_SESSIONS = anonymous
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    limit(key, visitor_concurrent=2)
    me = Visitor(key)
    # The key's figure (2), not the site's (1); and no cookie either way.
    first = me.start()
    assert started(first) and "sessionid" not in first.cookies
    assert started(me.start())
    assert_error(me.start(), 429, "concurrent_sessions_limit")


def test_embed_visitors_and_the_sites_own_callers_never_share_a_quota(key, world, settings):
    settings.ANONYMOUS_SESSIONS = True
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    limit(key, visitor_concurrent=1)
    ip = "127.0.0.1"  # the test client's address, the anonymous visitor's too
    # An anonymous visitor of our own site, at their cap of 1 ...
    anonymous = Client(enforce_csrf_checks=True)
    anonymous.get("/")
    csrf = {"X-CSRFToken": anonymous.cookies["csrftoken"].value}
    body = {"preset": "ada"}
    made = anonymous.post("/api/v1/sessions", body, content_type="application/json", headers=csrf)
    assert made.status_code == 201, made.content
    # ... and alice at hers.
    alice = Client()
    alice.force_login(world.alice)
    alice_made = alice.post(
        "/api/v1/sessions",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert alice_made.status_code == 201
    # The embed visitor at the same address starts: neither's quota is theirs.
    me = Visitor(key, ip)
    mine = me.start()
    assert started(mine)
    row = AvatarSession.objects.get(pk=mine.json()["id"])
    assert (row.owner, row.embed_key_id) == (None, key.pk)
    assert row.principal.startswith(f"embed:{key.pk}:")
    # Nor does the visitor take theirs: each is refused at its own cap only.
    assert_error(me.start(), 429, "concurrent_sessions_limit")
    again = anonymous.post("/api/v1/sessions", body, content_type="application/json", headers=csrf)
    assert_error(again, 429, "concurrent_sessions_limit")


def test_a_signed_in_browser_with_an_embed_token_is_the_embed_visitor(key, world):
    """The Bearer wins over the cookie: alice visiting the shop is one of its visitors,
    her session is not hers, and nothing counts against her own caps."""
    me = Visitor(key)
    me.client.force_login(world.alice)
    made = me.start()
    assert started(made)
    row = AvatarSession.objects.get(pk=made.json()["id"])
    assert (row.owner, row.embed_key_id) == (None, key.pk)
