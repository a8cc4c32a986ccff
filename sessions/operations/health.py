"""GET /healthz and GET /readyz: the load balancer's probes (README "Operations").

/healthz: the process answers (nothing else is touched). /readyz: the database, the cache
and the channel layer each answer within READINESS_TIMEOUT, and, once this process has been
up three reaper intervals, some process's reaper pass ran within the last three. 200 with
{"ready": true, "checks": {...}}, or 503 naming what failed. Neither needs a sign-in,
neither is cached, and a failing readiness is the probe's answer, not an error of the
site's: it is not logged as one.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from sessions import keys, shared_cache
from sessions.operations import PROCESS_STARTED

# How many reaper intervals may pass without a pass before the site is not ready.
REAPER_INTERVALS = 3


@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    names = ("database", "cache", "channel_layer", "reaper")
    probes = (_database(), _cache(), _channel_layer(), _reaper())
    answers = await asyncio.gather(*(_within(probe) for probe in probes))
    checks = dict(zip(names, answers, strict=True))
    ready = all(answer == "ok" for answer in checks.values())
    response = JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)
    # Django logs every 5xx as an error (django.request); a probe's "not ready" is news for
    # the load balancer, not a fault of ours to alert on.
    response._has_been_logged = True  # noqa: SLF001
    return response


async def _within(probe) -> str:
    """ "ok", or what went wrong (the exception's class: no message, which could carry an
    address or a credential)."""
    try:
        return await asyncio.wait_for(probe, settings.READINESS_TIMEOUT)
    except (asyncio.TimeoutError, TimeoutError):
        return f"no answer within {settings.READINESS_TIMEOUT:g} s"
    except Exception as exc:
        return f"failed: {type(exc).__name__}"


async def _database() -> str:
    def select_one() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            # This worker thread's connection goes back (to the pool) now.
            connections.close_all()

    # A thread of its own: a database that hangs must not hold the shared sync thread.
    await sync_to_async(select_one, thread_sensitive=False)()
    return "ok"


async def _cache() -> str:
    await shared_cache.get(keys.READINESS_PROBE)  # a thread of its own (shared_cache)
    return "ok"


async def _channel_layer() -> str:
    # A message to a group nobody joins: it reaches the layer's backend (Redis), no socket.
    await get_channel_layer().group_send(keys.READINESS_PROBE, {"type": "readiness.probe"})
    return "ok"


async def _reaper() -> str:
    interval = settings.REAPER_INTERVAL
    window = REAPER_INTERVALS * interval
    # No in-process reaper (interval 0: cron runs `manage.py reap_sessions`), or this
    # process is too young to expect a pass yet.
    if interval <= 0 or time.monotonic() - PROCESS_STARTED < window:
        return "ok"
    last = await shared_cache.get(keys.REAPER_LAST_RUN)
    if last is None:
        return f"no reaper pass in {window:g} s"
    if time.time() - last > window:
        return f"the last reaper pass was {time.time() - last:.0f} s ago"
    return "ok"
