"""Counters and concurrency slots in the shared cache (local memory, or Redis in pass 2)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from sessions import shared_cache
from sessions.memory_cache import MemoryCache
from sessions.services import limits


@pytest.mark.asyncio
async def test_a_counter_starts_at_zero_and_adds_up():
    assert await shared_cache.counter_add("c:test", 2, timeout=60) == 2
    assert await shared_cache.counter_add("c:test", 3, timeout=60) == 5
    assert await shared_cache.get("c:test") == 5


@pytest.mark.asyncio
async def test_a_counter_that_expires_between_add_and_incr_starts_again(monkeypatch):
    async def add_then_expire(key, value, timeout):
        cache.delete(key)  # as if its time ran out right after the add
        return True

    monkeypatch.setattr(shared_cache, "add", add_then_expire)

    assert await shared_cache.counter_add("c:gone", 4, timeout=60) == 4
    # A count going down that lost its key does not go below zero.
    assert await shared_cache.counter_add("c:gone-too", -1, timeout=60) == 0
    assert await shared_cache.get("c:gone-too") == 0


@pytest.mark.asyncio
async def test_a_slot_is_taken_from_the_gaps_and_refused_when_all_are_held():
    await shared_cache.set("slot:test:0", "older-a", timeout=60)
    await shared_cache.set("slot:test:2", "older-b", timeout=60)

    assert await limits._take_slot("test", 3, "mine", ttl=60) == "test:1"
    assert await limits._take_slot("test", 3, "another", ttl=60) is None
    assert await shared_cache.get("slot:test:1") == "mine"

    await limits.release_slots(["test:1"], "someone-else")  # not theirs: kept
    assert await shared_cache.get("slot:test:1") == "mine"
    await limits.release_slots(["test:1"], "mine")
    assert await limits._take_slot("test", 3, "another", ttl=60) == "test:1"


def test_the_memory_cache_evicts_the_expired_before_anything_live():
    store = MemoryCache("eviction-test", {"OPTIONS": {"MAX_ENTRIES": 10}})
    for i in range(5):
        store.set(f"live:{i}", i, timeout=600)
    for i in range(5):
        store.set(f"old:{i}", i, timeout=600)
    for i in range(5):  # as if their time had run out
        store._expire_info[store.make_and_validate_key(f"old:{i}")] = 0

    for i in range(5):
        store.set(f"new:{i}", i, timeout=600)

    assert [store.get(f"live:{i}") for i in range(5)] == list(range(5))
    assert [store.get(f"new:{i}") for i in range(5)] == list(range(5))
    store.clear()


def test_the_memory_cache_still_bounds_itself_when_everything_is_live():
    store = MemoryCache("bound-test", {"OPTIONS": {"MAX_ENTRIES": 30}})
    for i in range(100):
        store.set(f"k:{i}", i, timeout=600)

    assert len(store._cache) <= 30
    assert store.get("k:99") == 99  # the newest stays
    store.clear()


@pytest.mark.asyncio
async def test_a_slot_stored_by_an_older_release_as_its_key_is_released_too():
    """Sessions opened before slots were stored as ids hold the cache key itself."""
    await shared_cache.set("slot:test:0", "old-session", timeout=60)

    await limits.release_slots(["slot:test:0"], "old-session")

    assert await shared_cache.get("slot:test:0") is None
