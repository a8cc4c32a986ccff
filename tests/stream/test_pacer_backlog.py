"""The pacer's backlog (issue 15: it grew without bound): a submit that would queue more
than it allows is refused whole, never cut."""

from __future__ import annotations

import asyncio

import pytest

from sessions.stream.pacer import Backlogged, Pacer

pytestmark = pytest.mark.asyncio


class Stalled:
    """A clock that never moves and a sleep that never ends: nothing leaves the window
    once it is full, so what is queued stays queued."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def emit(self, frame: str) -> None:
        self.sent.append(frame)

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


async def test_a_submit_beyond_the_backlog_is_refused_whole_and_queues_nothing():
    link = Stalled()
    pacer = Pacer(link.emit, limit=1000, clock=lambda: 0.0, sleep=link.sleep, backlog=1500)
    pacer.submit(["a" * 1000])  # fills the window: released at once
    await asyncio.sleep(0)
    pacer.submit(["b" * 800, "c" * 600])  # 1,400 queued: within the backlog
    with pytest.raises(Backlogged) as refused:
        pacer.submit(["d" * 50, "e" * 60])  # 1,510 would be queued
    assert pacer.pending == 2 and pacer.queued_bytes == 1400
    assert refused.value.retry_after == pytest.approx((1400 + 110 - 1500) / 1000)
    pacer.submit(["f" * 100])  # what fits still goes in
    assert pacer.queued_bytes == 1500
    assert pacer.drop_pending() == 3 and pacer.queued_bytes == 0
    pacer.submit(["g" * 900, "h" * 600])  # room again once the backlog is dropped
    await pacer.aclose()
    assert link.sent == ["a" * 1000]


async def test_released_frames_leave_the_backlog():
    sent: list[str] = []

    async def emit(frame: str) -> None:
        sent.append(frame)

    pacer = Pacer(emit, limit=1000, window=0.01, allowance=0.0, backlog=1000)
    for _ in range(5):
        pacer.submit(["x" * 1000])  # each fits once the one before has left
        await pacer.drained()
    assert len(sent) == 5 and pacer.queued_bytes == 0
    await pacer.aclose()


async def test_without_a_backlog_nothing_is_refused():
    link = Stalled()
    pacer = Pacer(link.emit, limit=1000, clock=lambda: 0.0, sleep=link.sleep)
    pacer.submit(["x" * 1000] * 500)
    assert pacer.queued_bytes == 500_000  # the drain task has not run yet
    await pacer.aclose()
