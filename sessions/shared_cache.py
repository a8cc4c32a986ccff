"""The Django cache from async code, without queueing behind the database.

Django's async cache methods (`aget`, `aadd`, ...) run the sync method through
`sync_to_async(thread_sensitive=True)`: on the one worker thread of the process that
also runs every async ORM query of every socket. Under load a rate-limit check then
waits behind unrelated database writes (measured with bench/load.py: most of the p99).

The cache backends need no such thread: the local-memory cache is a dict behind a lock
(called inline, it costs microseconds), and Redis's client is thread-safe with its own
connection pool (called from the event loop's default executor, so many calls proceed at
once). Every cache call of the app's async code goes through here.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

_client: tuple[Any, BaseCache] | None = None


def _cache() -> BaseCache:
    """One cache client per process (made again if the CACHES setting is replaced).
    Django's `cache` is one per asyncio task: each socket had its own Redis connection
    pool, open until garbage collection (1,000 sockets held 1,000 connections)."""
    global _client
    config = settings.CACHES["default"]
    if _client is None or _client[0] is not config:
        _client = (config, caches.create_connection("default"))
    return _client[1]


async def _call(method: str, *args: Any, **kwargs: Any) -> Any:
    client = _cache()
    call = getattr(client, method)
    if isinstance(client, LocMemCache):
        return call(*args, **kwargs)  # no I/O: a hop to a thread would cost more
    return await asyncio.to_thread(call, *args, **kwargs)


async def get(key: str, default: Any = None) -> Any:
    return await _call("get", key, default)


async def get_many(keys: list[str]) -> dict[str, Any]:
    return await _call("get_many", keys)


async def set(key: str, value: Any, timeout: float | None) -> None:  # noqa: A001
    await _call("set", key, value, timeout=timeout)


async def set_many(data: dict[str, Any], timeout: float | None) -> None:
    """Set every key of `data` in one call (one round trip on Redis)."""
    await _call("set_many", data, timeout=timeout)


async def add(key: str, value: Any, timeout: float | None) -> bool:
    """Set `key` only if it is absent (atomic across processes); True if it was set."""
    return await _call("add", key, value, timeout=timeout)


async def incr(key: str, delta: int = 1) -> int:
    """Atomic increment; ValueError if the key is absent (e.g. it just expired)."""
    return await _call("incr", key, delta)


async def delete(key: str) -> None:
    await _call("delete", key)


async def counter_add(key: str, delta: int, timeout: float) -> int:
    """Add `delta` to a counter, creating it (at 0) with `timeout` if absent. Every rate
    limit and counter of a message goes through here: one cache call each, not the
    two (three on Redis, whose `incr` asks whether the key exists first) of an add then
    an incr."""
    client = _cache()
    if isinstance(client, LocMemCache):
        return _local_counter_add(client, key, delta, timeout)
    if isinstance(client, RedisCache):
        return await asyncio.to_thread(_redis_counter_add, client, key, delta, timeout)
    await add(key, 0, timeout=timeout)  # any other backend: Django's own calls
    try:
        return await incr(key, delta)
    except ValueError:  # expired between add and incr: start again from delta
        # (never below zero: a socket count that expired must not go negative).
        await set(key, max(0, delta), timeout=timeout)
        return max(0, delta)


def _local_counter_add(client: LocMemCache, key: str, delta: int, timeout: float) -> int:
    """Inline, with no wait between the two steps: atomic in this (the only) process."""
    try:
        return client.incr(key, delta)
    except ValueError:  # absent, or expired (never below zero: see counter_add)
        client.set(key, max(0, delta), timeout=timeout)
        return max(0, delta)


# Create the counter at 0 if absent, then add; a count going down that found no counter
# stays at 0 (see counter_add). One round trip, atomic in Redis.
_COUNTER_ADD = """
if redis.call('SET', KEYS[1], 0, 'EX', ARGV[2], 'NX') and tonumber(ARGV[1]) < 0 then
  return 0
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


def _redis_counter_add(client: RedisCache, key: str, delta: int, timeout: float) -> int:
    """Django stores integers raw in Redis (not pickled): its `get` reads this back."""
    name = client.make_and_validate_key(key)
    redis = client._cache.get_client(name, write=True)
    return int(redis.eval(_COUNTER_ADD, 1, name, delta, max(1, math.ceil(timeout))))
