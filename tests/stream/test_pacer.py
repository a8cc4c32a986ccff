"""Pacing frames under Agora's 6,000 bytes-per-second limit, with a jitter allowance
(sessions/stream/pacer.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.stream.chunker import chat_frames
from sessions.stream.codec import encoded_size
from sessions.stream.pacer import (
    JITTER_ALLOWANCE,
    RATE_LIMIT,
    RATE_WINDOW,
    Pacer,
    SlidingWindow,
    release_times,
    sender_window,
)

# Windows that are not exact binary fractions, and starts that are not round, so float
# rounding around "a frame leaves the window" is exercised.
WINDOWS = st.sampled_from([1.0, 0.1, 0.3, 0.7, 2.5])
STARTS = st.sampled_from([0.0, 0.1, 12.345, 1e6 + 0.3])
ALLOWANCES = st.sampled_from([0.0, 0.05, 0.15, 0.3])
#: The pacing window with the default allowance: 1.15 s.
PACED = RATE_WINDOW + JITTER_ALLOWANCE


def window_loads(times, sizes, window):
    """Bytes in each window [t, t + window) that starts at a release time: the busiest
    window always starts at some release, so checking these checks them all."""
    return [
        sum(s for t, s in zip(times, sizes, strict=True) if start <= t < start + window)
        for start in times
    ]


@given(
    data=st.data(),
    limit=st.integers(1, 7000),
    receiver=WINDOWS,
    allowance=ALLOWANCES,
    start=STARTS,
)
@settings(max_examples=300, deadline=None)
def test_release_times_are_legal_ordered_and_earliest(data, limit, receiver, allowance, start):
    sizes = data.draw(st.lists(st.integers(1, limit), max_size=60))
    times = release_times(sizes, limit=limit, window=receiver, allowance=allowance, start=start)
    window = receiver + allowance  # what the sender paces over

    assert len(times) == len(sizes)
    assert all(load <= limit for load in window_loads(times, sizes, window))
    assert all(a <= b for a, b in zip([start, *times], times, strict=False))

    for k, t in enumerate(times):
        floor = start if k == 0 else times[k - 1]
        expiries = [times[j] + window for j in range(k)]
        # Each release happens at a moment something changed: the start, right after the
        # previous frame, or exactly when an earlier frame leaves the window.
        assert t == floor or t in expiries
        if t > floor:
            # Earliest: at the last moment before t (the load is constant in between)
            # the frame did not fit.
            before = max([floor, *(e for e in expiries if e < t)])
            load = sum(sizes[j] for j in range(k) if before < times[j] + window)
            assert load + sizes[k] > limit


def test_release_times_allow_a_burst_then_wait_for_the_window():
    assert release_times([3000, 3000, 3000, 100, 6000], allowance=0) == [0, 0, 1, 1, 2]
    # With the default allowance the wait is 1 s + 0.15 s.
    assert release_times([3000, 3000, 3000, 100, 6000]) == [0, 0, PACED, PACED, PACED * 2]
    assert release_times([]) == []
    assert release_times([10], start=5.0) == [5.0]


def test_the_first_frames_still_leave_at_once():
    # A whole 6,000-byte window's worth goes at the start: the allowance only lengthens
    # the wait for what comes after it.
    sizes = [950] * 6 + [300]  # 6,000 bytes
    assert release_times(sizes) == [0.0] * 7
    assert release_times([*sizes, 1]) == [0.0] * 7 + [PACED]
    assert release_times([*sizes, 1], start=3.5) == [3.5] * 7 + [3.5 + PACED]


@given(
    sizes=st.lists(st.integers(1, RATE_LIMIT), max_size=80),
    start=STARTS,
)
@settings(max_examples=300, deadline=None)
def test_no_window_of_one_second_plus_the_allowance_holds_more_than_the_limit(sizes, start):
    times = release_times(sizes, start=start)
    assert all(load <= RATE_LIMIT for load in window_loads(times, sizes, PACED))


def arrivals(times, delays):
    """When each frame reaches the receiver, forwarded in order: a frame never overtakes
    the one before it, so it waits for it when that one was held longer."""
    out, last = [], float("-inf")
    for t, d in zip(times, delays, strict=True):
        last = max(last, t + d)
        out.append(last)
    return out


def refused(at, sizes):
    """Frames the receiver refuses, counting as the sandbox avatar does: at most
    RATE_LIMIT bytes in any second, an accepted frame counting for [t, t + 1 s)."""
    window, bad = SlidingWindow(RATE_LIMIT, RATE_WINDOW), []
    for k, (t, size) in enumerate(zip(at, sizes, strict=True)):
        if window.delay(size, t) > 0:
            bad.append(k)
        else:
            window.record(size, t)
    return bad


@given(data=st.data(), start=STARTS)
@settings(max_examples=300, deadline=None)
def test_frames_delayed_unevenly_by_up_to_the_allowance_still_arrive_within_the_limit(data, start):
    sizes = data.draw(st.lists(st.integers(1, RATE_LIMIT), max_size=60))
    # Any delay from 0 to the allowance (less a microsecond: float rounding of the sums
    # must not decide a tie), frame by frame.
    delay = st.floats(0.0, JITTER_ALLOWANCE - 1e-6)
    delays = data.draw(st.lists(delay, min_size=len(sizes), max_size=len(sizes)))
    times = release_times(sizes, start=start)
    assert refused(arrivals(times, delays), sizes) == []


def test_without_the_allowance_a_frame_held_back_breaks_the_limit():
    # Why the allowance: paced at exactly 1 s, a first frame held back 100 ms holds its
    # whole window back with it (in order), and the next window's frames, on time, arrive
    # less than a second after them: all six are refused.
    sizes = [950] * 12
    delays = [0.1] + [0.0] * 11
    bare = release_times(sizes, allowance=0)
    assert refused(arrivals(bare, delays), sizes) == list(range(6, 12))
    assert refused(arrivals(release_times(sizes), delays), sizes) == []


def test_the_allowance_cannot_be_negative():
    with pytest.raises(ValueError):
        sender_window(allowance=-0.01)
    with pytest.raises(ValueError):
        release_times([10], allowance=-0.01)


def test_release_times_reject_a_frame_larger_than_the_limit():
    with pytest.raises(ValueError):
        release_times([6001])


class FakeTime:
    """A clock that only moves when the pacer sleeps, optionally held at a gate."""

    def __init__(self) -> None:
        self.now = 0.0
        self.gate: asyncio.Event | None = None
        self.sleeping = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        if self.gate is not None:
            await self.gate.wait()
        self.sleeping.clear()
        self.now += seconds
        await asyncio.sleep(0)


class Recorder:
    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.sent: list[tuple[float, str]] = []

    async def __call__(self, frame: str) -> None:
        self.sent.append((self.time.now, frame))


@pytest.mark.asyncio
async def test_pacer_emits_in_order_as_early_as_the_budget_allows():
    fake = FakeTime()
    out = Recorder(fake)
    pacer = Pacer(out, clock=fake.clock, sleep=fake.sleep)
    chat = chat_frames("x" * 12_000, mid="m")  # 13 frames of <= 950 bytes
    command = '{"v":2,"type":"command","mid":"c","pld":{"cmd":"interrupt"}}'

    pacer.submit(chat)
    pacer.submit([command])  # commands share the chats' budget
    await pacer.drained()

    frames = [*chat, command]
    sizes = [encoded_size(f) for f in frames]
    assert [f for _, f in out.sent] == frames
    assert [t for t, _ in out.sent] == release_times(sizes)
    assert all(load <= 6000 for load in window_loads([t for t, _ in out.sent], sizes, PACED))
    assert pacer.pending == 0


@pytest.mark.asyncio
async def test_pacer_keeps_the_window_across_submits():
    fake = FakeTime()
    out = Recorder(fake)
    pacer = Pacer(out, clock=fake.clock, sleep=fake.sleep)
    pacer.submit(["a" * 4000])
    await pacer.drained()
    fake.now = 0.5
    pacer.submit(["b" * 4000])  # 8,000 bytes within 1.15 s: must wait for the first
    await pacer.drained()
    assert [t for t, _ in out.sent] == [0.0, PACED]


@pytest.mark.asyncio
async def test_drop_pending_discards_frames_not_yet_released():
    fake = FakeTime()
    fake.gate = asyncio.Event()
    out = Recorder(fake)
    pacer = Pacer(out, clock=fake.clock, sleep=fake.sleep)
    pacer.submit(["y" * 950] * 10)  # six fit in the first second, four must wait

    await asyncio.wait_for(fake.sleeping.wait(), 1)
    assert len(out.sent) == 6
    assert pacer.pending == 4
    assert pacer.drop_pending() == 4
    assert pacer.pending == 0

    fake.gate.set()
    await pacer.drained()
    assert len(out.sent) == 6

    # The pacer was sleeping towards t=1.15 for a frame that is gone; whatever comes next
    # goes as soon as it fits.
    pacer.submit(["z" * 10])
    await pacer.drained()
    assert out.sent[-1] == (PACED, "z" * 10)


@pytest.mark.asyncio
async def test_a_failing_emit_is_logged_and_the_rest_still_go(caplog):
    sent = []

    async def emit(frame):
        if frame == "bad":
            raise ConnectionError("socket gone")
        sent.append(frame)

    pacer = Pacer(emit)
    with caplog.at_level(logging.ERROR, logger="sessions.stream.pacer"):
        pacer.submit(["one", "bad", "two"])
        await pacer.drained()
    assert sent == ["one", "two"]
    assert "emitting a frame failed" in caplog.text


@pytest.mark.asyncio
async def test_submit_rejects_a_frame_over_the_limit_and_queues_nothing():
    pacer = Pacer(Recorder(FakeTime()), limit=100)
    with pytest.raises(ValueError):
        pacer.submit(["ok", "x" * 101])
    assert pacer.pending == 0


@pytest.mark.asyncio
async def test_aclose_drops_everything_and_refuses_more():
    fake = FakeTime()
    fake.gate = asyncio.Event()
    out = Recorder(fake)
    pacer = Pacer(out, clock=fake.clock, sleep=fake.sleep)
    pacer.submit(["w" * 1000] * 8)
    await asyncio.wait_for(fake.sleeping.wait(), 1)
    await pacer.aclose()
    assert len(out.sent) == 6 and pacer.pending == 0
    await pacer.drained()  # returns at once after close
    with pytest.raises(RuntimeError):
        pacer.submit(["late"])


@pytest.mark.asyncio
async def test_pacer_paces_with_the_allowance_it_is_given():
    fake = FakeTime()
    out = Recorder(fake)
    pacer = Pacer(out, clock=fake.clock, sleep=fake.sleep, allowance=0.4)
    pacer.submit(["q" * 950] * 7)
    await pacer.drained()
    assert [t for t, _ in out.sent] == [0.0] * 6 + [1.4]
    assert [t for t, _ in out.sent] == release_times([950] * 7, allowance=0.4)


@pytest.mark.asyncio
async def test_pacer_works_with_the_real_clock():
    loop = asyncio.get_running_loop()
    sent = []

    async def emit(frame):
        sent.append((loop.time(), frame))

    pacer = Pacer(emit, limit=1000, window=0.04, allowance=0.01)
    frames = [str(i) * 400 for i in range(6)]  # 2,400 bytes: three windows' worth
    pacer.submit(frames)
    await asyncio.wait_for(pacer.drained(), 2)
    assert [f for _, f in sent] == frames
    times = [t for t, _ in sent]
    # Real sleeps may overshoot but never undershoot the window.
    assert all(load <= 1000 for load in window_loads(times, [400] * 6, 0.05))
    assert times[-1] - times[0] >= 0.1
