"""Issue 15 item 8: a socket's Origin must be the page's own origin (scheme, host and
port, as Django's CSRF check compares them), or one of CSRF_TRUSTED_ORIGINS; a foreign
Origin is refused at the handshake, cookie or not."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from avatarsite.asgi import application
from avatarsite.routing import origin_allowed
from tests.support.wsutil import create_session

HOST = (b"host", b"127.0.0.1:8000")


def scope(origin: str, host: bytes = b"127.0.0.1:8000", scheme: str = "ws", **more) -> dict:
    headers = [(b"host", host), (b"origin", origin.encode())]
    headers += [(name.encode(), value.encode()) for name, value in more.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


def test_the_origin_must_match_scheme_host_and_port(settings):
    settings.CSRF_TRUSTED_ORIGINS = []
    assert origin_allowed(scope("http://127.0.0.1:8000"))
    assert not origin_allowed(scope("http://127.0.0.1:9999"))  # another port
    assert not origin_allowed(scope("https://127.0.0.1:8000"))  # another scheme
    assert not origin_allowed(scope("http://127.0.0.1"))
    assert not origin_allowed(scope("http://evil.example"))
    assert not origin_allowed(scope("null"))
    assert origin_allowed(scope("https://127.0.0.1:8000", scheme="wss"))
    assert not origin_allowed(scope("http://127.0.0.1:8000", scheme="wss"))
    # A Host outside ALLOWED_HOSTS makes no origin "the page's own".
    assert not origin_allowed(scope("http://evil.example", host=b"evil.example"))


def test_behind_a_proxy_its_scheme_counts_only_when_configured(settings):
    settings.CSRF_TRUSTED_ORIGINS = []
    forwarded = {"x-forwarded-proto": "https"}
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not origin_allowed(scope("https://127.0.0.1:8000", **forwarded))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(scope("https://127.0.0.1:8000", **forwarded))
    assert not origin_allowed(scope("http://127.0.0.1:8000", **forwarded))


def test_csrf_trusted_origins_are_trusted_exactly_or_by_wildcard(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    assert origin_allowed(scope("https://app.example.com"))
    assert not origin_allowed(scope("http://app.example.com"))
    assert origin_allowed(scope("https://a.example.org"))
    assert not origin_allowed(scope("https://app.example.com:444"))


async def cookie_of(user) -> tuple[bytes, bytes]:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def connects(path: str, headers) -> bool:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return connected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_cookie_socket_from_another_port_or_scheme_is_refused(world, settings):
    """The attack: a page on another port (or over the other scheme) of our host opens the
    owner's cookie socket. The HTTP API refuses that origin; the socket does too."""
    settings.CSRF_TRUSTED_ORIGINS = []
    session = await create_session(world.alice_token)
    cookie = await cookie_of(world.alice)
    for origin in (b"http://127.0.0.1:9999", b"https://127.0.0.1:8000", b"http://evil.example"):
        assert not await connects(session["ws_path"], [HOST, (b"origin", origin), cookie])
    assert await connects(session["ws_path"], [HOST, (b"origin", b"http://127.0.0.1:8000"), cookie])


@pytest.mark.django_db
def test_the_http_api_refuses_the_same_origins(world, settings):
    settings.CSRF_TRUSTED_ORIGINS = []
    client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1:8000")
    client.force_login(world.alice)
    client.get("/")  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    def post(origin: str) -> int:
        return client.post(
            "/api/v1/sessions",
            {"preset": "ada"},
            content_type="application/json",
            headers={"X-CSRFToken": token, "Origin": origin},
        ).status_code

    assert post("http://127.0.0.1:9999") == 403
    assert post("https://127.0.0.1:8000") == 403
    assert post("http://127.0.0.1:8000") == 201
