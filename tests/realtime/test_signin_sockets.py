"""Issue 15, item 9: signing out, or changing the password, left open cookie sockets
working. Signing out ends that sign-in's sockets; a password change ends the user's
other sign-ins' sockets and keeps the changer's (Django's session-hash rule, as
`update_session_auth_hash` does for HTTP). Signals act at once; each heartbeat checks
again, so a missed signal (another process, a bulk update) is caught too."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import make_password
from django.test import Client

from avatarsite.asgi import application
from sessions.services import revocation
from tests.support.wsutil import ORIGIN

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a-much-Longer-pw-9371"


class SignIn:
    """A browser signed in with the staff user's password (staff may change it in the
    admin, the site's one password form)."""

    def __init__(self) -> None:
        self.client = Client()

    async def sign_in(self, password: str = "staff-pw-123") -> SignIn:
        response = await sync_to_async(self.client.post)(
            "/accounts/login/", {"username": "staff", "password": password}
        )
        assert response.status_code == 302, response.content
        return self

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [ORIGIN, (b"cookie", f"sessionid={self.client.cookies['sessionid'].value}".encode())]

    async def create_session(self) -> dict:
        response = await sync_to_async(self.client.post)(
            "/api/v1/sessions", json.dumps({"preset": "ada"}), content_type="application/json"
        )
        assert response.status_code == 201, response.content
        return response.json()

    async def socket(self, session: dict) -> WebsocketCommunicator:
        socket = WebsocketCommunicator(application, session["ws_path"], headers=self.headers())
        assert (await socket.connect())[0]
        assert json.loads(await socket.receive_from())["type"] == "session"
        return socket

    async def post(self, path: str, data: dict | None = None) -> int:
        return (await sync_to_async(self.client.post)(path, data or {})).status_code

    async def change_password(self) -> None:
        form = {
            "old_password": "staff-pw-123",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        }
        assert await self.post("/admin/password_change/", form) == 302


async def signed_out(socket: WebsocketCommunicator) -> None:
    """The socket is told, then closed with 4401."""
    messages = []
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == 4401
            break
        messages.append(json.loads(output["text"]))
    assert messages[-1]["code"] == "access_revoked"
    assert messages[-1]["message"] == revocation.SIGNED_OUT


async def still_open(socket: WebsocketCommunicator, seconds: float) -> None:
    assert await socket.receive_nothing(timeout=seconds)
    await socket.send_json_to({"type": "chat", "text": "still here?"})
    frame = json.loads(await socket.receive_from(timeout=3))
    assert frame["type"] in ("transcript", "rtc_send"), frame


@pytest.fixture(autouse=True)
def _quick_recheck(monkeypatch):
    monkeypatch.setattr(revocation, "SIGNIN_RECHECK", 0.1)


async def test_signing_out_closes_that_sign_ins_sockets(world):
    browser = await SignIn().sign_in()
    other = await SignIn().sign_in()
    session = await browser.create_session()
    socket, others = await browser.socket(session), await other.socket(session)

    assert await browser.post("/accounts/logout/") == 302

    await signed_out(socket)
    await still_open(others, 0.3)  # another sign-in of the same user is not signed out
    await others.disconnect()


async def test_a_password_change_closes_the_other_sign_ins_and_keeps_the_changers(world):
    changer = await SignIn().sign_in()
    other = await SignIn().sign_in()
    session = await changer.create_session()
    mine, theirs = await changer.socket(session), await other.socket(session)

    await changer.change_password()

    await signed_out(theirs)
    await still_open(mine, 0.5)  # past the re-check
    await mine.disconnect()


async def test_the_heartbeat_catches_what_no_signal_said(world, settings):
    """A password set by a bulk update sends no signal; the changer's sign-in, whose key
    Django replaced, is followed to its new key beat after beat."""
    settings.HEARTBEAT_INTERVAL = 0.05
    changer = await SignIn().sign_in()
    other = await SignIn().sign_in()
    session = await changer.create_session()
    mine, theirs = await changer.socket(session), await other.socket(session)
    await changer.change_password()
    await signed_out(theirs)
    await still_open(mine, 0.5)  # ten beats on the replaced key

    # Now a change nobody signals: the changer's sign-in holds the old hash.
    users = type(world.staff).objects
    await users.filter(pk=world.staff.pk).aupdate(password=make_password("third-Password-55"))
    await signed_out(mine)


async def test_signing_out_after_a_password_change_still_ends_the_socket(world, settings):
    """The socket's sign-in group names the key it connected with; Django replaced that
    key at the password change, so the sign-out's event misses it: the beat does not."""
    settings.HEARTBEAT_INTERVAL = 0.05
    changer = await SignIn().sign_in()
    session = await changer.create_session()
    mine = await changer.socket(session)
    await changer.change_password()
    await still_open(mine, 0.3)
    assert await changer.post("/accounts/logout/") == 302
    await signed_out(mine)
