"""Issue 15, item 3 (sockets): one owner cannot hold any number of sockets. Beyond a cap
the oldest socket is taken over (an `error` frame `taken_over`, then close 4409) and the
newest is always accepted, so a reload or a reconnect is never refused."""

from __future__ import annotations

import contextlib
import json
import os

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from avatarsite.asgi import application
from sessions import keys, shared_cache
from sessions.models import ApiToken, AvatarSession
from sessions.services import presence
from tests.realtime.test_cross_user import cookie_of
from tests.services.test_presence import Browser
from tests.support.wsutil import ORIGIN, bearer, create_session

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TAKEN_OVER = 4409


async def opened(session: dict, headers) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, session["ws_path"], headers=headers)
    connected, code = await socket.connect(timeout=10)
    assert connected, code
    # Counted: the session frame comes after the socket took its place (connect order).
    assert json.loads(await socket.receive_from(timeout=10))["type"] == "session"
    return socket


async def fate(socket: WebsocketCommunicator) -> int | None:
    """The socket's close code once it settles (None: it stays open). A taken-over
    socket is told why first."""
    frames = []
    while not await socket.receive_nothing(timeout=0.05):
        output = await socket.receive_output()
        if output["type"] == "websocket.close":
            if output["code"] == TAKEN_OVER:
                assert frames[-1]["type"] == "error" and frames[-1]["code"] == "taken_over"
                assert "another tab or window" in frames[-1]["message"]
            return output["code"]
        frames.append(json.loads(output["text"]))
    return None


async def settle(sockets: list[WebsocketCommunicator]) -> list[int | None]:
    fates = [await fate(socket) for socket in sockets]
    for socket, code in zip(sockets, fates, strict=True):
        if code is not None:
            await socket.disconnect()  # the page's side of the close: disconnect runs
    return fates


async def close_all(sockets: list[WebsocketCommunicator]) -> None:
    for socket in sockets:
        await socket.disconnect()


def open_connections() -> int:
    """This process's network connections (Redis, PostgreSQL, ...)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


# 200 sockets show what 1,000 did (every one but the newest three taken over, and a
# connection per socket to the cache or the database would pass the bound of 50 four
# times over), in a fifth of the time.
async def test_two_hundred_sockets_on_one_session_leave_the_newest_three_open(world, settings):
    assert settings.WS_SOCKETS_PER_SESSION == 3
    session = await create_session(world.alice_token)
    connections = open_connections()
    headers = [ORIGIN, bearer(world.alice_token)]
    sockets = [await opened(session, headers) for _ in range(200)]

    fates = await settle(sockets)

    assert fates[:-3] == [TAKEN_OVER] * 197
    assert fates[-3:] == [None, None, None]
    # A reload: its new socket is accepted and takes over the oldest still open.
    reload = await opened(session, headers)
    assert await settle([*sockets[-3:], reload]) == [TAKEN_OVER, None, None, None]
    # The session went on throughout, and its counts match what is open.
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.status == "active"
    assert await presence.owner_sockets(session["id"]) == 3
    await close_all([*sockets[-2:], reload])
    assert await shared_cache.get(keys.socket_list(f"session:{session['id']}")) == []
    # No connection per socket to the cache or the database (on Redis, each socket had
    # its own connection pool, open until garbage collection).
    assert open_connections() - connections < 50


async def test_an_owner_is_capped_across_sessions_tokens_and_sign_ins(world, settings):
    """Several API tokens and the cookie do not multiply the cap: it is the user's."""
    settings.WS_SOCKETS_PER_PRINCIPAL = 3
    first = await create_session(world.alice_token)
    second = await create_session(world.alice_token)
    _, other_token = await sync_to_async(ApiToken.issue)(world.alice, "second cli")
    sockets = [
        await opened(first, [ORIGIN, bearer(world.alice_token)]),
        await opened(second, [ORIGIN, bearer(other_token)]),
        await opened(first, [ORIGIN, await cookie_of(world.alice)]),
        await opened(second, [ORIGIN, await cookie_of(world.alice)]),
    ]
    assert await settle(sockets) == [TAKEN_OVER, None, None, None]
    # Bob's sockets are his own: alice's count takes none of them.
    bobs = await create_session(world.bob_token)
    bob = await opened(bobs, [ORIGIN, bearer(world.bob_token)])
    assert await settle([*sockets[1:], bob]) == [None, None, None, None]
    await close_all([*sockets[1:], bob])


async def test_staff_observers_are_capped_and_never_push_out_the_owner(world, auditor, settings):
    settings.WS_OBSERVERS_PER_SESSION = 2
    session = await create_session(world.alice_token)
    owner = await opened(session, [ORIGIN, bearer(world.alice_token)])
    staff = await cookie_of(auditor)
    observers = [await opened(session, [ORIGIN, staff]) for _ in range(5)]
    assert await settle([owner, *observers]) == [
        None,
        TAKEN_OVER,
        TAKEN_OVER,
        TAKEN_OVER,
        None,
        None,
    ]
    await close_all([owner, *observers[-2:]])


async def test_a_dead_process_sockets_do_not_count(world, settings):
    """Entries of a process whose beat is gone are dropped at the next connect: its
    sockets went with it, and nobody is told to close on their behalf."""
    settings.WS_SOCKETS_PER_SESSION = 1
    session = await create_session(world.alice_token)
    scope = f"session:{session['id']}"
    await shared_cache.set(keys.socket_list(scope), [["gone.channel!x", "deadboot"]], 60)
    socket = await opened(session, [ORIGIN, bearer(world.alice_token)])
    assert await settle([socket]) == [None]
    entries = await shared_cache.get(keys.socket_list(scope))
    assert [boot for _, boot in entries] == [presence.BOOT_ID]
    await close_all([socket])


async def test_anonymous_visitors_are_capped_each_not_by_their_shared_address(world, settings):
    """Two visitors behind one address (a NAT, an office) each keep their own sockets;
    one visitor's newest socket takes over their own oldest only."""
    settings.ANONYMOUS_SESSIONS = True
    settings.WS_SOCKETS_PER_PRINCIPAL = 1
    one, two = Browser(), Browser()
    first, second = await one.create_session(), await two.create_session()
    sockets = [await opened(first, one.headers()), await opened(second, two.headers())]
    assert await settle(sockets) == [None, None]
    again = await opened(first, one.headers())
    assert await settle([*sockets, again]) == [TAKEN_OVER, None, None]
    await close_all([sockets[1], again])
