"""Releasing frames under Agora's per-sender rate limit, as early as a sliding window of one
second plus a jitter allowance allows.

The receiver counts at most ``RATE_LIMIT`` bytes in any ``RATE_WINDOW``. Between the pacer
and the receiver (server -> websocket -> page -> RTC network -> avatar) frames are delayed
unevenly, so the sender paces over a wider window, ``RATE_WINDOW + allowance``: the frames
that arrive within any ``[s, s + RATE_WINDOW)`` left within ``[s - allowance, s +
RATE_WINDOW)`` when each was delayed by anything from 0 to ``allowance``, so they still fit
the receiver's limit. ``sender_window`` is the one place that widening happens; the pacer
and ``release_times`` both use it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from sessions.stream.codec import encoded_size

log = logging.getLogger(__name__)

#: Agora's per-sender rate limit: bytes in any window of RATE_WINDOW seconds.
RATE_LIMIT = 6000
#: The window over which the receiver counts RATE_LIMIT, in seconds.
RATE_WINDOW = 1.0
#: How unevenly frames may be delayed on their way without breaking the receiver's limit,
#: in seconds, unless the caller says otherwise (the site: STREAM_JITTER_ALLOWANCE).
JITTER_ALLOWANCE = 0.15


class RateWindow(Protocol):
    """Where the sliding-window history lives.

    The pacer only asks "how long until this many bytes may go?" and says "these went".
    Today the history is in process memory (one pacer per socket); a scale-out version
    can implement this against shared storage without touching the pacer.
    """

    def delay(self, size: int, now: float) -> float: ...

    def record(self, size: int, now: float) -> None: ...


class SlidingWindow:
    """In-memory sliding window: a frame released at ``t`` counts in ``[t, t + window)``.

    Expiry times are stored as ``t + window`` and compared with ``now < expiry``, never
    recomputed by subtraction, so a release scheduled at exactly an expiry sees that
    frame as gone despite float rounding.
    """

    def __init__(self, limit: int = RATE_LIMIT, window: float = 1.0) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window
        self._history: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        while self._history and self._history[0][0] <= now:
            self._used -= self._history.popleft()[1]

    def next_release(self, size: int, now: float) -> float:
        """Earliest time >= now at which ``size`` more bytes fit in the window."""
        if size > self.limit:
            raise ValueError(f"a {size}-byte frame can never fit a {self.limit}-byte window")
        self._expire(now)
        used, t = self._used, now
        for expiry, old in self._history:
            if used + size <= self.limit:
                break
            used -= old
            t = expiry
        return t

    def delay(self, size: int, now: float) -> float:
        return self.next_release(size, now) - now

    def record(self, size: int, now: float) -> None:
        self._expire(now)
        self._history.append((now + self.window, size))
        self._used += size


def sender_window(
    limit: int = RATE_LIMIT,
    *,
    window: float = RATE_WINDOW,
    allowance: float = JITTER_ALLOWANCE,
) -> SlidingWindow:
    """The window a sender paces with: the receiver's ``window`` widened by ``allowance``.

    Frames released under it never total more than ``limit`` bytes in any half-open
    window of ``window + allowance``, so they arrive within ``limit`` per ``window`` when
    each is delayed by anything from 0 to ``allowance``.
    """
    if allowance < 0:
        raise ValueError("the jitter allowance cannot be negative")
    return SlidingWindow(limit, window + allowance)


def release_times(
    sizes: list[int],
    *,
    limit: int = RATE_LIMIT,
    window: float = RATE_WINDOW,
    allowance: float = JITTER_ALLOWANCE,
    start: float = 0.0,
) -> list[float]:
    """Earliest release time of each frame, in order, as the ``Pacer`` releases them: no
    half-open window of length ``window + allowance`` holds more than ``limit`` bytes.
    Raises ValueError if a size exceeds limit.

    Each time is either ``start``, the previous frame's time, or the moment an earlier
    frame leaves the window. O(n) amortised.
    """
    win = sender_window(limit, window=window, allowance=allowance)
    times = []
    t = start
    for size in sizes:
        t = win.next_release(size, t)
        win.record(size, t)
        times.append(t)
    return times


class Backlogged(Exception):
    """A submit refused whole: it would queue more than the pacer's backlog allows.
    `retry_after`: seconds until enough has drained for it (at the rate limit)."""

    def __init__(self, size: int, queued: int, backlog: int, limit: int) -> None:
        super().__init__(f"{size} bytes would make {queued + size} queued, over {backlog}")
        self.retry_after = (queued + size - backlog) / limit


class Pacer:
    """Sends frames through ``emit`` in order, as early as the rate window allows: the
    receiver's ``window`` plus ``allowance`` (see ``sender_window``), unless a
    ``rate_window`` is given.

    One pacer per avatar connection: chats and commands share its budget, and its window
    history persists across submits. ``submit`` never blocks; a drain task does the
    waiting. A failing ``emit`` is logged and the next frame still goes, because one bad
    send must not silently stall everything queued behind it.
    """

    def __init__(
        self,
        emit: Callable[[str], Awaitable[None]],
        *,
        limit: int = RATE_LIMIT,
        window: float = RATE_WINDOW,
        allowance: float = JITTER_ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rate_window: RateWindow | None = None,
        backlog: int | None = None,
    ) -> None:
        self._emit = emit
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._window: RateWindow = rate_window or sender_window(
            limit, window=window, allowance=allowance
        )
        self._queue: collections.deque[tuple[str, int]] = collections.deque()
        # Bytes queued and not yet released, and how many may be (None: no bound).
        self._queued = 0
        self._backlog = backlog
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Frames queued and not yet released."""
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def check(self, frames: Iterable[str]) -> list[tuple[str, int]]:
        """The frames with their sizes, if `submit` would take them now; else raises as
        it would."""
        if self._closed:
            raise RuntimeError("pacer is closed")
        batch = [(f, encoded_size(f)) for f in frames]
        for _, size in batch:
            if size > self._limit:
                raise ValueError(f"a {size}-byte frame exceeds the {self._limit}-byte limit")
        total = sum(size for _, size in batch)
        if self._backlog is not None and self._queued + total > self._backlog:
            # Whole or not at all: half a message would reach the avatar as a cut text.
            raise Backlogged(total, self._queued, self._backlog, self._limit)
        return batch

    def submit(self, frames: Iterable[str]) -> None:
        """Queue frames for release. Raises ValueError (queuing none of them) if one is
        larger than the rate limit, Backlogged (queuing none) if they would queue more
        than the backlog, RuntimeError after aclose()."""
        batch = self.check(frames)
        self._queue.extend(batch)
        self._queued += sum(size for _, size in batch)
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def drop_pending(self) -> int:
        """Drop every frame not yet released (e.g. on interrupt); returns how many."""
        count = len(self._queue)
        self._queue.clear()
        self._queued = 0
        return count

    async def drained(self) -> None:
        """Wait until every queued frame has been emitted (or dropped)."""
        while self._task is not None and not self._task.done():
            # asyncio.wait, not await: a cancelled drain task must not cancel the waiter.
            await asyncio.wait({self._task})

    async def aclose(self) -> None:
        self._closed = True
        self._queue.clear()
        self._queued = 0
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _drain(self) -> None:
        while self._queue:
            frame, size = self._queue[0]
            now = self._clock()
            wait = self._window.delay(size, now)
            if wait > 0:
                # Re-check after sleeping: the queue may have been dropped or refilled.
                await self._sleep(wait)
                continue
            self._queue.popleft()
            self._queued -= size
            self._window.record(size, now)
            try:
                await self._emit(frame)
            except Exception:
                log.exception("pacer: emitting a frame failed; continuing with the next")
