"""Limits through the API: hourly creations, concurrent sessions per principal and globally."""

from __future__ import annotations

import types

import pytest

from sessions.models import ApiToken, AvatarSession
from sessions.providers.base import UpstreamUnavailable
from sessions.providers.sandbox.provider import SandboxProvider
from sessions.services import limits
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db

# Half past some hour: the fixed hourly window cannot roll over in the middle of a test.
HALF_PAST = 1_800_000_000.0 + 1800.25


def retry_after(response) -> int:
    value = response["Retry-After"]
    assert value.isdigit(), value
    assert int(value) > 0
    return int(value)


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, fixed at HALF_PAST and movable by tests."""
    now = types.SimpleNamespace(value=HALF_PAST)
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(time=lambda: now.value))
    return now


def create(api: Api):
    return api.post("/sessions", {"preset": "ada"})


def close(api: Api, response) -> None:
    assert api.post(f"/sessions/{response.json()['id']}/close").status_code == 200


# --- creations per hour ------------------------------------------------------------------


def test_it_refuses_creations_over_the_hourly_limit(alice_api, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 2
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 10
    assert create(alice_api).status_code == 201
    assert create(alice_api).status_code == 201

    response = create(alice_api)

    error = assert_error(response, 429, "session_creation_limit")
    assert "limit 2" in error["message"]
    assert "hour" in error["message"]
    assert retry_after(response) == 1800  # the rest of the hour
    assert "1800 s" in error["message"]
    assert AvatarSession.objects.count() == 2


def test_it_allows_creations_again_in_the_next_hour(alice_api, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 1
    close(alice_api, create(alice_api))
    assert create(alice_api).status_code == 429

    clock.value += 3600

    assert create(alice_api).status_code == 201


def test_its_hourly_limit_counts_closed_sessions_too(alice_api, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 1
    close(alice_api, create(alice_api))

    assert_error(create(alice_api), 429, "session_creation_limit")


def test_its_hourly_limit_is_per_principal(alice_api, bob_api, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 1
    assert create(alice_api).status_code == 201
    assert create(alice_api).status_code == 429

    assert create(bob_api).status_code == 201


def test_a_refused_creation_frees_the_slots_it_took(alice_api, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 1
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    settings.SESSION_CONCURRENT_GLOBAL = 1
    first = create(alice_api)
    assert_error(create(alice_api), 429, "concurrent_sessions_limit")
    close(alice_api, first)

    assert_error(create(alice_api), 429, "session_creation_limit")
    clock.value += 3600

    assert create(alice_api).status_code == 201


# --- concurrent sessions -----------------------------------------------------------------------


def test_it_refuses_more_concurrent_sessions_than_allowed(alice_api, settings):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 2
    assert create(alice_api).status_code == 201
    assert create(alice_api).status_code == 201

    response = create(alice_api)

    error = assert_error(response, 429, "concurrent_sessions_limit")
    assert "2 live session" in error["message"]
    assert retry_after(response) == limits.CONCURRENCY_RETRY_AFTER
    assert AvatarSession.objects.count() == 2


def test_closing_a_session_frees_its_slot(alice_api, settings):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    first = create(alice_api)
    assert create(alice_api).status_code == 429

    close(alice_api, first)

    assert create(alice_api).status_code == 201


def test_closing_twice_frees_only_one_slot(alice_api, settings):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    first = create(alice_api)
    close(alice_api, first)
    assert create(alice_api).status_code == 201

    close(alice_api, first)  # again: must not free the new session's slot

    assert_error(create(alice_api), 429, "concurrent_sessions_limit")


def test_concurrency_is_per_principal(alice_api, bob_api, settings):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    assert create(alice_api).status_code == 201

    assert create(bob_api).status_code == 201


def test_it_refuses_over_the_global_limit_across_users(alice_api, bob_api, settings):
    settings.SESSION_CONCURRENT_GLOBAL = 1
    first = create(alice_api)

    response = create(bob_api)

    error = assert_error(response, 429, "global_sessions_limit")
    assert "try again" in error["message"]
    assert retry_after(response) > 0
    close(alice_api, first)
    assert create(bob_api).status_code == 201


def test_a_global_refusal_frees_the_principals_slot(alice_api, bob_api, settings):
    settings.SESSION_CONCURRENT_GLOBAL = 1
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    first = create(alice_api)
    for _ in range(3):
        assert create(bob_api).status_code == 429
    close(alice_api, first)

    assert create(bob_api).status_code == 201


def test_a_refused_concurrency_attempt_does_not_burn_the_hourly_quota(alice_api, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 2
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    first = create(alice_api)
    for _ in range(5):
        assert_error(create(alice_api), 429, "concurrent_sessions_limit")
    close(alice_api, first)

    assert create(alice_api).status_code == 201


def test_a_failed_upstream_create_frees_its_slots(alice_api, settings, monkeypatch):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    settings.SESSION_CONCURRENT_GLOBAL = 1
    real_create = SandboxProvider.create_session
    calls = []

    async def flaky_create(self, request):
        calls.append(request)
        if len(calls) == 1:
            raise UpstreamUnavailable("The sandbox is down for a moment.")
        return await real_create(self, request)

    monkeypatch.setattr(SandboxProvider, "create_session", flaky_create)

    failed = create(alice_api)

    error = assert_error(failed, 503, "upstream_unavailable")
    assert "down for a moment" in error["message"]
    row = AvatarSession.objects.get()
    assert (row.status, row.close_reason) == ("failed", "error")
    assert "down for a moment" in row.error
    assert create(alice_api).status_code == 201


def test_a_token_and_the_cookie_of_one_user_share_the_users_cap(world, settings):
    # Issue 15 item 10: a token's sessions count against the token and against its user
    # (signed in by cookie, the principal is the user itself).
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    assert create(Api(token=world.alice_token)).status_code == 201

    assert_error(create(Api(user=world.alice)), 429, "concurrent_sessions_limit")
    assert create(Api(user=world.bob)).status_code == 201


# --- several tokens of one user (issue 15 item 10) ----------------------------------------


def test_a_users_tokens_share_the_users_concurrent_cap(world, settings, clock):
    """The attack: one user mints several tokens and holds a session per token's cap with
    each, all the global slots in the end. A token's sessions count against its user."""
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 2
    settings.SESSION_CONCURRENT_GLOBAL = 10
    apis = [Api(token=ApiToken.issue(world.alice, f"cli {i}")[1]) for i in range(5)]
    apis.append(Api(user=world.alice))  # and the browser
    statuses = [create(api).status_code for api in apis for _ in range(2)]

    assert statuses.count(201) == 2
    assert AvatarSession.objects.filter(owner=world.alice, status="active").count() == 2
    refused = create(apis[4])
    assert_error(refused, 429, "concurrent_sessions_limit")
    # Another user is untouched, and a closed session frees its slot for any token.
    assert create(Api(token=world.bob_token)).status_code == 201
    first = AvatarSession.objects.filter(owner=world.alice).order_by("created_at").first()
    assert apis[0].post(f"/sessions/{first.id}/close").status_code == 200
    assert create(apis[3]).status_code == 201


def test_a_users_tokens_share_the_users_hourly_creations(world, settings, clock):
    settings.SESSION_CREATES_PER_HOUR = 3
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 10
    apis = [Api(token=ApiToken.issue(world.alice, f"cli {i}")[1]) for i in range(3)]
    made = 0
    for api in apis * 2:
        response = create(api)
        if response.status_code == 201:
            made += 1
            close(api, response)
        else:
            assert_error(response, 429, "session_creation_limit")
    assert made == 3
