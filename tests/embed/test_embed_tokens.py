"""Issue 20: the visitor token attacked, over HTTP and the socket. Anything that is not a
valid token of a usable key for a listed origin is refused the usual way (HTTP 401 in the
API's error shape; a socket accepted, told why, closed 4401), never a 500; a token
anywhere but the Authorization header or the socket's subprotocols authenticates nothing;
and the token, a bearer credential, appears in no response, frame, log line or event row.
"""

from __future__ import annotations

import secrets
import time
import types

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.test import AsyncClient, Client

from avatarsite.asgi import application
from sessions import embed_tokens
from sessions.models import EmbedKey, SessionEvent
from tests.conftest import assert_error
from tests.support.wsutil import ORIGIN
from tools.secret_scan import recording
from tools.secret_scan.scanner import Scanner

SHOP = "https://shop.test"
MARKER = embed_tokens.SOCKET_PROTOCOL


@pytest.fixture
def key(world):
    key = EmbedKey.objects.create(name="Shop", allowed_origins=SHOP)
    key.presets.add(world.preset)
    return key


def api(token: str, path: str = "/sessions", body: dict | None = None, **extra):
    return Client().post(
        f"/api/v1{path}",
        body if body is not None else {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
        **extra,
    )


def signed(payload) -> str:
    """A token with a valid signature around `payload`: what a leaked SECRET_KEY would
    let someone make; the payload must still be checked."""
    return embed_tokens.TOKEN_PREFIX + embed_tokens._signer().sign_object(payload)


def bad_tokens(key: EmbedKey, good: str) -> dict[str, str]:
    public = key.public_key
    return {
        "forged signature": good[:-3] + ("xyz" if not good.endswith("xyz") else "abc"),
        "truncated": good[: len(good) // 2],
        "prefix only": embed_tokens.TOKEN_PREFIX,
        "api token look-alike": embed_tokens.TOKEN_PREFIX + secrets.token_urlsafe(32),
        "oversized": embed_tokens.TOKEN_PREFIX + "A" * 100_000,
        "another salt": embed_tokens.TOKEN_PREFIX
        + signing.TimestampSigner(sep=".").sign_object({"k": public, "v": "x", "o": SHOP}),
        "a list": signed([public, "x", SHOP]),
        "no visitor": signed({"k": public, "o": SHOP}),
        "numbers": signed({"k": public, "v": 7, "o": SHOP}),
        "unknown key": signed({"k": "ek_nothing", "v": "x", "o": SHOP}),
        "unlisted origin": embed_tokens.issue(public, "https://evil.test"),
        "control characters": good + "\x00\n",
    }


@pytest.mark.django_db
def test_no_bad_token_is_a_500_and_each_is_refused_as_invalid(key):
    good = embed_tokens.issue(key.public_key, SHOP)
    for name, token in bad_tokens(key, good).items():
        response = api(token)
        assert response.status_code == 401, (name, response.status_code)
        error = assert_error(response, 401, "invalid_token")
        assert token not in response.content.decode()
        # The page's visitor never saw a token: words about the website, not an API's.
        assert "website" in error["message"] and "token" not in error["message"].lower()
    assert api(good).status_code == 201


@pytest.mark.django_db
def test_an_expired_token_is_refused_and_a_fresh_one_is_not(key, settings, monkeypatch):
    settings.EMBED_TOKEN_MAX_AGE = 60
    token = embed_tokens.issue(key.public_key, SHOP)
    issued = time.time()
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: issued + 50))
    assert api(token).status_code == 201
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: issued + 62))
    assert_error(api(token), 401, "invalid_token")


@pytest.mark.django_db
def test_another_keys_token_reaches_nothing_of_this_key(key, world):
    other = EmbedKey.objects.create(name="Other", allowed_origins=SHOP)
    mine = api(embed_tokens.issue(key.public_key, SHOP)).json()
    theirs = embed_tokens.issue(other.public_key, SHOP)
    # Its key offers no preset: this key's is not found for it.
    assert_error(api(theirs), 404, "preset_not_found")
    response = Client().get(
        f"/api/v1/sessions/{mine['id']}", headers={"Authorization": f"Bearer {theirs}"}
    )
    assert_error(response, 404)


@pytest.mark.django_db
@pytest.mark.parametrize("anonymous", [False, True])
def test_a_token_in_a_cookie_or_the_query_string_authenticates_nothing(key, settings, anonymous):
    settings.ANONYMOUS_SESSIONS = anonymous
    token = embed_tokens.issue(key.public_key, SHOP)
    made = api(token).json()
    client = Client()
    client.cookies["token"] = token
    client.cookies["embedToken"] = token
    listed = client.get(f"/api/v1/sessions?token={token}&access_token={token}")
    if anonymous:  # an anonymous visitor of our own site: none of the embed's sessions
        assert listed.status_code == 200
        assert made["id"] not in listed.content.decode()
    else:
        assert_error(listed, 401, "not_authenticated")
    read = client.get(f"/api/v1/sessions/{made['id']}?token={token}")
    assert read.status_code in (401, 404)


# --- the socket -----------------------------------------------------------------------


async def socket(path: str, protocols: list[str]) -> tuple[WebsocketCommunicator, bool, object]:
    page = WebsocketCommunicator(application, path, headers=[ORIGIN], subprotocols=protocols)
    connected, protocol = await page.connect()
    return page, connected, protocol


async def refused_4401(page: WebsocketCommunicator) -> dict:
    frame = await page.receive_json_from(timeout=5)
    assert frame["type"] == "error"
    assert frame["code"] == "not_authenticated"
    closed = await page.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    return frame


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_with_the_marker_and_no_good_token_is_refused_the_usual_way(key):
    token = embed_tokens.issue(key.public_key, SHOP)
    response = await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    path = response.json()["ws_path"]
    bad = await _bad_tokens_async(key, token)
    for protocols in ([MARKER], *([MARKER, b] for b in bad)):
        page, connected, protocol = await socket(path, protocols)
        assert connected, protocols[1:2]
        assert protocol == MARKER  # answered, or a browser drops it without a word
        frame = await refused_4401(page)
        assert all(b not in frame["message"] for b in bad)
        assert "website" in frame["message"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_token_without_the_marker_or_in_the_query_string_is_not_a_sign_in(key):
    token = embed_tokens.issue(key.public_key, SHOP)
    response = await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    path = response.json()["ws_path"]
    for where, protocols in ((path, [token]), (f"{path}?token={token}", [])):
        page, connected, protocol = await socket(where, protocols)
        assert connected and protocol is None
        await refused_4401(page)


async def _bad_tokens_async(key, token):
    made = await sync_to_async(bad_tokens)(key, token)
    # A subprotocol is a token of RFC 6455 characters: the ones a browser could send.
    return [t for name, t in made.items() if name != "control characters"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_embed_socket_without_a_token_never_stands_on_the_cookie(key, world, settings):
    """Inside a website's iframe our cookie may still be sent (a browser allowing third-
    party cookies): a socket that says it is the embed's is the embed's or nothing."""
    settings.ANONYMOUS_SESSIONS = True
    own = await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    browser = Client()
    await sync_to_async(browser.force_login)(world.alice)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())
    page = WebsocketCommunicator(
        application, own.json()["ws_path"], headers=[ORIGIN, cookie], subprotocols=[MARKER]
    )
    connected, protocol = await page.connect()
    assert connected and protocol == MARKER
    await refused_4401(page)


# --- the token stays out of everything but the embed page ------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_token_appears_in_no_response_frame_log_or_event(key, caplog):
    caplog.set_level("DEBUG")
    token = embed_tokens.issue(key.public_key, SHOP)
    scanner = Scanner({**recording.fixed_secrets, token: "embed visitor token"})
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {token}"}
    with recording.scanning(scanner):
        made = await client.post(
            "/api/v1/sessions", {"preset": "ada"}, content_type="application/json", headers=auth
        )
        session = made.json()
        await client.post(
            "/api/v1/sessions", {"preset": "nope"}, content_type="application/json", headers=auth
        )
        await client.get(f"/api/v1/sessions/{session['id']}", headers=auth)
        await client.get("/api/v1/presets", headers=auth)
        page, connected, _ = await socket(session["ws_path"], [MARKER, token])
        assert connected
        await page.receive_json_from(timeout=5)
        await page.send_json_to({"type": "chat", "text": "Hello there"})
        await page.send_json_to({"type": "nonsense"})
        await page.receive_nothing(timeout=0.5)
        await page.disconnect()
        await client.post(f"/api/v1/sessions/{session['id']}/close", headers=auth)
        events = [
            f"{e.message} {e.data}"
            async for e in SessionEvent.objects.filter(session_id=session["id"])
        ]
        recording.record("event rows", "\n".join(events))
        recording.record("log records", caplog.text)
    scanner.flush()
    assert scanner.counts["ws frame received"] or scanner.counts["ws frame sent"]
    assert events
    assert scanner.report() == []
