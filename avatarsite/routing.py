"""Websocket routes, behind the Origin check and the session-cookie auth."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import validate_host
from django.urls import path

from sessions.providers.sandbox.consumer import SandboxAvatarConsumer
from sessions.realtime.consumers import SessionConsumer


class SiteOriginValidator(OriginValidator):
    """Only pages of our own hosts may open a socket (no cross-site websocket hijacking).

    Browsers always send Origin, so a socket without one is a non-browser client; those
    are let through only with an `Authorization: Bearer` header, which no other site can
    make a browser send. (channels refuses a missing Origin outright; pinned by a test.)
    """

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    async def __call__(self, scope, receive, send):
        has_bearer = any(name == b"authorization" for name, _ in scope.get("headers", []))
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        if has_bearer and not has_origin:
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)

    def validate_origin(self, parsed_origin):
        # ALLOWED_HOSTS entries are host names (".example.com" for subdomains): match
        # the origin's host against them, as Django does for the Host header.
        if parsed_origin is None or not parsed_origin.hostname:
            return False
        host = parsed_origin.hostname
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return validate_host(host, self.allowed_origins)


websocket_application = SiteOriginValidator(
    AuthMiddlewareStack(
        URLRouter(
            [
                path("ws/sessions/<uuid:session_id>/", SessionConsumer.as_asgi()),
                path("ws/sandbox/<str:channel>/", SandboxAvatarConsumer.as_asgi()),
            ]
        )
    )
)
