"""The process's presence beat (issue 22): every due socket beats at once, with one cache
call for the heartbeats and one query per kind of principal, and a socket the check
refuses closes alone."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions import access
from sessions.access import EmbedGrant, Principal
from sessions.embed_models import EmbedKey
from sessions.models import ApiToken
from sessions.services import presence

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SHOP = "https://shop.test"


async def five_principals(world) -> list[Principal]:
    """A token of each user, a signed-in user, an embed visitor and an anonymous one."""
    key = await EmbedKey.objects.acreate(name="Shop", allowed_origins=SHOP)
    return [
        await sync_to_async(access.token_principal)(world.alice_token),
        await sync_to_async(access.token_principal)(world.bob_token),
        await sync_to_async(access.user_principal)(world.alice),
        Principal(
            user=None, key="embed", visitor_key="v", embed=EmbedGrant(key.pk, SHOP, frozenset(), ())
        ),
        access.visitor_principal("a-django-session", "203.0.113.9"),
    ]


class Sockets:
    """`count` sockets as consumers run them, on the principals in turn; two of a
    principal's sockets share a session (its page and a second tab)."""

    def __init__(self, principals: list[Principal], count: int = 50, *, observer=False) -> None:
        self.revoked: dict[int, str] = {}  # socket number: what it was told
        self.watches = []
        for n in range(count):
            watch = presence.SocketPresence(
                f"session-{n % (count // 2)}",
                principals[n % len(principals)],
                observer=observer,
                expires_at=timezone.now() + timedelta(hours=1),
                on_revoked=self._revoker(n),
                on_expired=self._never,
            )
            self.watches.append(watch)
        self.tasks = [asyncio.ensure_future(watch.run()) for watch in self.watches]

    def _revoker(self, n: int):
        async def revoked() -> None:
            self.revoked[n] = self.watches[n].why

        return revoked

    async def _never(self) -> None:
        raise AssertionError("no session expires here")

    def of(self, principal: Principal) -> set[int]:
        return {n for n, watch in enumerate(self.watches) if watch.principal is principal}

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


@pytest.fixture
def in_step(monkeypatch):
    """Every socket due at once (no random phase), so the first beat takes them all."""
    monkeypatch.setattr(presence.random, "uniform", lambda low, high: low)


@pytest.fixture
def checks(monkeypatch):
    """Each access check of the beat: (principals checked, queries run)."""
    seen: list[tuple[int, int]] = []
    real = access._still_valid_many

    def counted(principals):
        with CaptureQueriesContext(connection) as queries:
            result = real(principals)
        seen.append((len(principals), len(queries)))
        return result

    monkeypatch.setattr(access, "_still_valid_many", counted)
    return seen


async def test_one_beat_checks_fifty_sockets_with_one_cache_call_and_a_query_per_kind(
    world, settings, monkeypatch, in_step, checks
):
    settings.HEARTBEAT_INTERVAL = 0.2
    principals = await five_principals(world)
    writes = []
    real_set_many = presence.shared_cache.set_many

    async def set_many(data, timeout):
        writes.append(dict(data))
        await real_set_many(data, timeout=timeout)

    monkeypatch.setattr(presence.shared_cache, "set_many", set_many)
    sockets = Sockets(principals)
    bob_token = principals[1]
    await ApiToken.objects.filter(pk=bob_token.token_id).aupdate(revoked_at=timezone.now())

    await until(lambda: checks and len(sockets.revoked) == 10)

    assert checks == [(50, 3)]  # tokens, users, embed keys; an anonymous visitor needs none
    assert len(writes) == 1
    assert sorted(writes[0]) == sorted(f"presence:alive:session-{n}" for n in range(25))
    assert set(writes[0].values()) == {presence.BOOT_ID}
    # Only the revoked token's sockets close, told why.
    assert set(sockets.revoked) == sockets.of(bob_token)
    assert set(sockets.revoked.values()) == {"Your access was revoked."}
    assert all(not task.done() for n, task in enumerate(sockets.tasks) if n not in sockets.revoked)
    await sockets.close()


async def test_a_failing_check_is_logged_and_tried_again_at_the_next_beat(
    world, settings, monkeypatch, in_step, checks, caplog
):
    settings.HEARTBEAT_INTERVAL = 0.05
    caplog.set_level(logging.ERROR, logger="avatarsite.ws")
    principals = await five_principals(world)
    counted = access._still_valid_many
    failures = iter([OperationalError("database restarting")])

    def flaky(principals):
        if (error := next(failures, None)) is not None:
            raise error
        return counted(principals)

    monkeypatch.setattr(access, "_still_valid_many", flaky)
    sockets = Sockets(principals, 10)
    await ApiToken.objects.filter(pk=principals[1].token_id).aupdate(revoked_at=timezone.now())

    await until(lambda: len(sockets.revoked) == 2)

    failed = [r.getMessage() for r in caplog.records if "revocation check failed" in r.getMessage()]
    assert sorted(failed) == sorted(
        f"session session-{n}: revocation check failed; trying again" for n in range(5)
    )
    assert checks and checks[0][0] == 10  # the next beat checked them all again
    assert set(sockets.revoked) == sockets.of(principals[1])
    for n in range(5):
        assert await presence.is_alive(f"session-{n}")  # the heartbeats went on
    await sockets.close()


async def test_an_observer_is_checked_but_keeps_nothing_alive(world, settings, in_step):
    settings.HEARTBEAT_INTERVAL = 0.05
    principals = await five_principals(world)
    await ApiToken.objects.filter(pk=principals[1].token_id).aupdate(revoked_at=timezone.now())
    sockets = Sockets(principals, 10, observer=True)

    await until(lambda: len(sockets.revoked) == 2)
    await asyncio.sleep(0.1)  # two more beats

    assert set(sockets.revoked) == sockets.of(principals[1])
    assert not [n for n in range(5) if await presence.is_alive(f"session-{n}")]
    await sockets.close()


async def test_when_the_beat_dies_its_sockets_end_with_an_error_and_the_next_gets_a_new_one(
    world, settings, monkeypatch
):
    settings.HEARTBEAT_INTERVAL = 0.05
    principals = await five_principals(world)
    real_beat = presence._ProcessBeat.beat
    bugs = iter([RuntimeError("a bug in a beat")])

    async def buggy(self, due):
        if (bug := next(bugs, None)) is not None:
            raise bug
        await real_beat(self, due)

    monkeypatch.setattr(presence._ProcessBeat, "beat", buggy)
    first = Sockets(principals, 10)

    done, _ = await asyncio.wait(first.tasks, timeout=5)

    assert len(done) == 10  # every socket's run ended ...
    assert {type(task.exception()) for task in done} == {RuntimeError}  # ... for a reconnect
    # Reconnecting sockets start a new beat, which checks them.
    await ApiToken.objects.filter(pk=principals[1].token_id).aupdate(revoked_at=timezone.now())
    again = Sockets(principals, 10)
    await until(lambda: len(again.revoked) == 2)
    assert set(again.revoked) == again.of(principals[1])
    await again.close()
