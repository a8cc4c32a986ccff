"""The single-process cache: Django's local-memory cache that evicts the expired first.

Without REDIS_URL the cache holds live state, not just copies: concurrency slots,
presence counters, rate-limit windows, sandbox channels. The stock backend, once it
holds MAX_ENTRIES (300 by default), drops the least recently used third of everything,
expired or not: past ~30 live sessions, slots and channels of live sessions vanished
(measured with bench/load.py --shuttle: 500 of 500 sandbox sockets refused). Expired
entries are otherwise only removed when read again, and rate-limit windows never are.

So when full, this one first drops what has expired, and falls back to the stock
eviction only if the cache would still be nearly full of live entries.
"""

from __future__ import annotations

import time

from django.core.cache.backends.locmem import LocMemCache

# Evict live entries only above this share of MAX_ENTRIES after dropping the expired
# (so a cache just at its limit does not rescan everything on every set).
LIVE_EVICTION_SHARE = 0.9


class MemoryCache(LocMemCache):
    def _cull(self) -> None:  # called with the cache's lock held, from _set
        now = time.time()
        expired = [
            key for key, expiry in self._expire_info.items() if expiry is not None and expiry <= now
        ]
        for key in expired:
            self._delete(key)
        if len(self._cache) >= self._max_entries * LIVE_EVICTION_SHARE:
            super()._cull()
