"""The first middleware: /healthz, /readyz and /metrics answered before anything else.

A load balancer probes a process by its address (a Host header that is no name of the
site's, which ALLOWED_HOSTS refuses with a 400) over plain HTTP (which SECURE_SSL_REDIRECT
would send to HTTPS), and Prometheus scrapes `localhost`: answered here, ahead of Django's
security and common middleware, none of that applies, nor sessions, CSRF or rate limits.
Nothing these answers say depends on the Host header.
"""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from sessions.operations import health, scrape

ROUTES: dict[str, Callable] = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
    "/metrics": scrape.metrics_view,
}


@sync_and_async_middleware
def answer_probes(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            view = ROUTES.get(request.path_info)
            if view is None:
                return await get_response(request)
            if iscoroutinefunction(view):
                return await view(request)
            return await sync_to_async(view)(request)  # as Django runs a sync view

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            view = ROUTES.get(request.path_info)
            if view is None:
                return get_response(request)
            return async_to_sync(view)(request) if iscoroutinefunction(view) else view(request)

    return middleware
