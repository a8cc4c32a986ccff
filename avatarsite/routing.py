"""Websocket routes, behind the Origin check and the session-cookie auth."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import path
from django.utils import translation

from sessions.providers.sandbox.consumer import SandboxAvatarConsumer
from sessions.realtime.consumers import SessionConsumer


class HandshakeRequest(HttpRequest):
    """A websocket handshake as Django's CSRF check reads an HTTP request: its headers,
    the server's address, and its scheme (wss counts as https; behind a trusted proxy,
    SECURE_PROXY_SSL_HEADER decides, as for HTTP)."""

    def __init__(self, scope: dict) -> None:
        super().__init__()
        for name, value in scope.get("headers", []):
            meta = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            self.META[meta] = value.decode("latin1")
        # Without a Host header, the server's own address, as Django does (PEP 333); with
        # neither (an in-process test client), no host: only CSRF_TRUSTED_ORIGINS match.
        server = scope.get("server") or ("", "")
        self.META["SERVER_NAME"], self.META["SERVER_PORT"] = server[0] or "", str(server[1] or "")
        self._secure_scheme = scope.get("scheme") in ("wss", "https")

    def _get_scheme(self) -> str:
        return "https" if self._secure_scheme else "http"


def origin_allowed(scope: dict) -> bool:
    """Django's own CSRF origin rule: the Origin is this request's scheme://host[:port]
    (the host one of ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS. The host alone is
    not enough: another port or scheme on our host is another origin, which the HTTP API
    refuses too."""
    request = HandshakeRequest(scope)
    if "HTTP_ORIGIN" not in request.META:
        return False
    # A fresh middleware each time: it caches CSRF_TRUSTED_ORIGINS when first read.
    return CsrfViewMiddleware(lambda request: None)._origin_verified(request)


class SiteOriginValidator:
    """Only pages of our own origins may open a socket (no cross-site websocket hijacking).

    Browsers always send Origin, so a socket without one is a non-browser client; those
    are let through only with an `Authorization: Bearer` header, which no other site can
    make a browser send. A refused Origin is refused at the handshake (HTTP 403).
    """

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = [name for name, _ in scope.get("headers", [])]
        if b"authorization" in headers and b"origin" not in headers:
            return await self.application(scope, receive, send)
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


class SocketLanguage:
    """A socket's words (its `error` frames) in its page's language: the handshake's
    Accept-Language, chosen as LocaleMiddleware chooses it for HTTP. Active for the whole
    connection: the consumer's handlers run in this call's context."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        language = translation.get_language_from_request(HandshakeRequest(scope))
        with translation.override(language):
            return await self.application(scope, receive, send)


websocket_application = SiteOriginValidator(
    SocketLanguage(
        AuthMiddlewareStack(
            URLRouter(
                [
                    path("ws/sessions/<uuid:session_id>/", SessionConsumer.as_asgi()),
                    path("ws/sandbox/<str:channel>/", SandboxAvatarConsumer.as_asgi()),
                ]
            )
        )
    )
)
