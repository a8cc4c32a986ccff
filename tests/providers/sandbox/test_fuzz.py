"""Sandbox socket fuzz: a thousand generated frames on one sandbox avatar socket of the
real application (channels' WebsocketCommunicator), against an oracle.

Frames are generated up front with Hypothesis (tests/support/fuzz.py, `generate`), then
sent one by one, each followed by a marker command the avatar acknowledges with 1002, so
every answer is checked against what the avatar's contract says for exactly that frame.

The sandbox avatar's clock is injected (its `clock` parameter) so that its 6,000 B/s
window is exact: the oracle replays the window and knows which frame must come back as
a `rate_exceeded` violation, which as `frame_too_large`, and which gets an ack. A second
test blasts frames in real time. The session socket's fuzz test is in
tests/realtime/test_fuzz.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import strategies as st

from sessions.providers.sandbox import consumer as sandbox_consumer
from sessions.providers.sandbox.avatar import SandboxAvatar
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import MAX_FRAME_BYTES, ack_frame, encoded_size
from sessions.stream.pacer import RATE_LIMIT
from sessions.stream.parser import CommandMessage, parse
from tests.support.fuzz import (
    generate,
    json_values,
    long_text,
    send_frame,
    stream_messages,
    weighted,
)
from tests.support.wsutil import create_session, open_sandbox

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SANDBOX_FRAMES = 1000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Window:
    """The oracle's own copy of the rule: a frame accepted at t counts in [t, t + 1)."""

    def __init__(self, limit: int = RATE_LIMIT) -> None:
        self.limit = limit
        self.accepted: list[tuple[float, int]] = []

    def used(self, now: float) -> int:
        return sum(size for t, size in self.accepted if now < t + 1.0)

    def admits(self, size: int, now: float) -> bool:
        return self.used(now) + size <= self.limit

    def record(self, size: int, now: float) -> None:
        self.accepted = [(t, s) for t, s in self.accepted if now < t + 1.0] + [(now, size)]


sandbox_frames = st.tuples(
    # How far the clock moves before the frame: mostly not at all, so frames pile up in
    # the one-second window and some of them go over the 6,000 bytes.
    st.sampled_from([0.0] * 20 + [0.01, 0.1, 0.3, 1.0]),
    weighted(
        (st.tuples(st.just("text"), stream_messages.map(json.dumps)), 6),
        (
            st.tuples(
                st.just("text"), stream_messages.map(lambda m: json.dumps(m, ensure_ascii=False))
            ),
            3,
        ),
        (  # mid-sized frames, to fill the 6,000-byte window
            st.tuples(
                st.just("text"),
                st.builds(
                    lambda text, mid: json.dumps(
                        {"v": 2, "type": "chat", "mid": mid, "pld": {"text": text}}
                    ),
                    long_text(300, 1000),
                    st.sampled_from(["m1", "m2", "m3"]),
                ),
            ),
            6,
        ),
        (st.tuples(st.just("bytes"), stream_messages.map(lambda m: json.dumps(m).encode())), 1),
        (st.tuples(st.just("text"), json_values.map(json.dumps)), 1),
        (st.tuples(st.just("text"), st.text(max_size=200)), 1),
        (st.tuples(st.just("bytes"), st.binary(max_size=300)), 1),
        (
            st.tuples(
                st.just("text"),
                st.builds(
                    lambda text: json.dumps(
                        {"v": 2, "type": "chat", "mid": "big", "pld": {"text": text}}
                    ),
                    long_text(900, 5000),
                ),
            ),
            1,
        ),
        (st.tuples(st.just("bytes"), st.integers(1000, 70_000).map(lambda n: b"{" * n)), 1),
    ),
)


def _size(kind: str, payload: str | bytes) -> int:
    return len(payload) if kind == "bytes" else len(payload.encode("utf-8", "surrogatepass"))


def _ack_expected(payload: str | bytes) -> tuple[str, str, set[int]] | None:
    """(cmd, mid, codes) of the ack an accepted frame gets, or None."""
    msg = parse(payload)
    if not isinstance(msg, CommandMessage):
        return None
    codes = (
        {1000, 1001, 1003}
        if msg.cmd == "set-params"
        else {1000}
        if msg.cmd == "interrupt"
        else {1002}
    )
    mid = msg.mid or ""
    if encoded_size(ack_frame(msg.cmd, mid, min(codes), "")) > 1024:
        return None  # the sandbox sends no ack rather than break the frame limit
    return msg.cmd, mid, codes


@dataclass(repr=False)
class SandboxFuzz:
    ws: Any
    clock: FakeClock
    window: Window = field(default_factory=Window)
    markers: int = 0
    sent: int = 0
    speech: list[dict] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    async def next_frame(self, timeout: float = 10) -> dict[str, Any]:
        output = await self.ws.receive_output(timeout=timeout)
        if output["type"] != "websocket.send":
            raise AssertionError(f"the sandbox socket was closed: {output}")
        text = output["text"]
        text.encode("utf-8")  # daphne must be able to send it
        assert encoded_size(text) <= MAX_FRAME_BYTES, text[:200]
        frame = json.loads(text)
        assert parse(text) is not None, text[:200]
        return frame

    def _is_speech(self, frame: dict) -> bool:
        pld = frame.get("pld", {})
        return frame["type"] == "chat" or pld.get("event") in ("audio_start", "audio_end")

    async def send_frame(self, kind: str, payload: str | bytes) -> None:
        await send_frame(self.ws, kind, payload)

    async def exchange(self, kind: str, payload: str | bytes) -> tuple[list, list[dict]]:
        """Send one frame and a marker; (what the oracle expects, the frames in between).

        The clock only moves while the sandbox is idle: if the marker would not fit the
        window after this frame, the clock moves on a second before the frame is sent
        (which never changes whether the frame itself fits)."""
        self.markers += 1
        mid = f"sync-{self.markers}"
        marker = json.dumps({"v": 2, "type": "command", "mid": mid, "pld": {"cmd": "sync"}})
        size = _size(kind, payload)
        admitted = size <= MAX_FRAME_BYTES and self.window.admits(size, self.clock.now)
        if not self.window.admits(len(marker) + (size if admitted else 0), self.clock.now):
            self.clock.now += 1.0
        expected = self.expect(kind, payload)
        assert self.window.admits(len(marker), self.clock.now)
        self.window.record(len(marker), self.clock.now)
        await self.send_frame(kind, payload)
        await self.send_frame("text", marker)
        self.sent += 1
        frames = []
        while True:
            frame = await self.next_frame()
            if self._is_speech(frame):
                self.speech.append(frame)
            elif frame.get("mid") == mid:
                assert frame["pld"]["code"] == 1002, frame
                return expected, frames
            else:
                frames.append(frame)

    def expect(self, kind: str, payload: str | bytes) -> list[tuple[str, Any]]:
        size = _size(kind, payload)
        if size > MAX_FRAME_BYTES:
            return [("violation", "frame_too_large")]
        if not self.window.admits(size, self.clock.now):
            return [("violation", "rate_exceeded")]
        self.window.record(size, self.clock.now)
        ack = _ack_expected(payload)
        return [("ack", ack)] if ack else []

    def check(self, kind: str, payload: str | bytes, expected, frames: list[dict]) -> None:
        where = f"{kind} {payload[:120]!r}"
        got = []
        for frame in frames:
            pld = frame.get("pld", {})
            if pld.get("event") == "sandbox_violation":
                got.append(("violation", pld.get("reason")))
            elif frame["type"] == "command" and "code" in pld:
                got.append(("ack", (pld["cmd"], frame.get("mid"), pld["code"])))
            else:
                got.append(("other", frame))
        shape = [(k, v if k == "violation" else None) for k, v in expected]
        if [(k, v if k == "violation" else None) for k, v in got] != shape:
            state = (
                f"size {_size(kind, payload)}, window {self.window.accepted}, now {self.clock.now}"
            )
            self.problems.append(f"{where}: expected {expected}, got {got} ({state})")
            return
        for (_, want), (kind_got, have) in zip(expected, got, strict=True):
            if kind_got == "ack":
                cmd, mid, codes = want
                if (have[0], have[1]) != (cmd, mid) or have[2] not in codes:
                    self.problems.append(f"{where}: ack {have} does not match {want}")
        self.outcomes[
            expected[0][1]
            if expected and expected[0][0] == "violation"
            else "ack"
            if expected
            else "silent"
        ] += 1


@pytest_asyncio.fixture
async def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(
        sandbox_consumer, "SandboxAvatar", functools.partial(SandboxAvatar, clock=clock)
    )
    return clock


async def _sandbox_still_answers(fuzz: SandboxFuzz) -> str:
    """Interrupt (drops the queue), then a chat gets an answer. (Still in dialogue mode: a
    set-params our server did not send, as every fuzzed one is, changes nothing.)"""
    fuzz.clock.now += 1.0
    pld = {"cmd": "interrupt"}
    await fuzz.send_frame("text", json.dumps({"v": 2, "type": "command", "mid": "i", "pld": pld}))
    while True:
        frame = await fuzz.next_frame()
        if frame["type"] == "command" and frame.get("mid") == "i":
            assert frame["pld"]["code"] == 1000, frame
            break
    chat = chat_frames("Hello! How are you today?", mid="final-question")
    for frame in chat:
        await fuzz.send_frame("text", frame)
    pieces, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = await fuzz.next_frame(timeout=deadline - time.monotonic())
        pld = frame.get("pld", {})
        assert pld.get("event") != "sandbox_violation", frame
        if frame["type"] == "chat" and pld.get("from") == "bot":
            pieces.append(pld["text"])
            if frame.get("fin"):
                answer = "".join(pieces)
                assert answer.strip()
                return answer
    raise AssertionError(f"the sandbox did not answer a valid chat: {pieces}")


@pytest.mark.asyncio
async def test_the_sandbox_socket_survives_thousands_of_fuzzed_frames(world, fake_clock, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 10_000  # the avatar's framing rules, not the chat rate
    session = await create_session(world.alice_token)
    avatar = await open_sandbox(session)
    started = time.monotonic()
    frames = generate(sandbox_frames, SANDBOX_FRAMES, at=1125)
    fuzz = SandboxFuzz(avatar, fake_clock)
    for advance, (kind, payload) in frames:
        fake_clock.now += advance
        expected, got = await fuzz.exchange(kind, payload)
        fuzz.check(kind, payload, expected, got)
        if len(fuzz.problems) > 20:
            break
    assert not fuzz.problems, "\n".join(fuzz.problems[:20])
    answer = await _sandbox_still_answers(fuzz)
    for outcome in ("frame_too_large", "rate_exceeded", "ack", "silent"):
        assert fuzz.outcomes[outcome] >= 10, fuzz.outcomes
    assert fuzz.speech, "no fuzzed chat ever made the avatar speak"
    print(
        f"sandbox fuzz: {fuzz.sent} frames (+{fuzz.markers} markers) in "
        f"{time.monotonic() - started:.1f} s; {dict(fuzz.outcomes)}; "
        f"{len(fuzz.speech)} speech frames; final answer {answer!r}"
    )
    await avatar.disconnect()


@pytest.mark.asyncio
async def test_the_sandbox_reports_a_real_time_blast_as_violations(world):
    """No injected clock: 100 frames of 900 bytes as fast as possible. At most 6,000
    bytes a second get through; every other frame is a rate_exceeded violation, every
    oversized one a frame_too_large, and the socket stays open."""
    session = await create_session(world.alice_token)
    avatar = await open_sandbox(session)
    frame = json.dumps(
        {"v": 2, "type": "command", "mid": "b", "pld": {"cmd": "dance", "msg": "x" * 820}}
    )
    assert 850 < len(frame) <= 1024
    started = time.monotonic()
    for i in range(100):
        await avatar.send_to(text_data=frame if i % 10 else frame + " " * 200)
    elapsed = time.monotonic() - started
    reasons: Counter = Counter()
    while not await avatar.receive_nothing(timeout=0.3):
        message = json.loads(await avatar.receive_from())
        reasons[message["pld"].get("reason", "ack")] += 1
    assert reasons["frame_too_large"] == 10
    allowed = 6 * (math.ceil(elapsed) + 1)
    assert reasons["ack"] <= allowed and reasons["ack"] >= 1, (reasons, elapsed)
    assert reasons["rate_exceeded"] == 90 - reasons["ack"], reasons
    await asyncio.sleep(1.05)
    await avatar.send_to(
        text_data=json.dumps({"v": 2, "type": "command", "mid": "z", "pld": {"cmd": "interrupt"}})
    )
    assert json.loads(await avatar.receive_from(timeout=3))["pld"]["code"] == 1000
    await avatar.disconnect()
