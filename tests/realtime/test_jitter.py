"""The data stream survives a network that delays frames unevenly: the server paces over
1 s plus STREAM_JITTER_ALLOWANCE, so frames held back by up to 100 ms on their way still
reach the avatar within its 6,000 bytes per second (through the real consumer and the
sandbox avatar's socket)."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from sessions.realtime import consumers
from sessions.stream.pacer import Pacer
from sessions.stream.parser import ChatMessage, parse
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

#: The longest any frame is held on its way to the avatar, in seconds.
MAX_HOLD = 0.1
#: Quiet longer than this between two frames from the server starts a new pacing burst.
BURST_GAP = 0.3
#: daphne's own cap on a websocket message in `make run`.
DAPHNE_MAX_MESSAGE = 65_536


class UnevenNetwork(Conversation):
    """The page and the RTC network behind it: frames reach the avatar in order, each held
    back unevenly by up to MAX_HOLD. The first frame of each message is held longest, and so
    is the first frame of every other pacing burst, while the bursts in between go at once:
    a held burst followed by one on time is the worst case for the receiver's window.
    Everything else is held a random 0 to MAX_HOLD (seeded)."""

    def __init__(self, page, avatar) -> None:
        super().__init__(page, avatar)
        self._rng = random.Random("uneven")
        self._held: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self._last_seen = float("-inf")
        self._last_due = float("-inf")
        self.bursts = 0
        self.holds: list[float] = []  # how long each frame waited here, in seconds

    async def __aenter__(self) -> UnevenNetwork:
        await super().__aenter__()
        self._tasks.append(asyncio.create_task(self._forward()))
        return self

    def _hold(self, frame: str, now: float) -> float:
        burst_head = now - self._last_seen > BURST_GAP
        self._last_seen = now
        if burst_head:
            self.bursts += 1
        message = parse(frame)
        if not isinstance(message, ChatMessage) or not message.idx:
            return MAX_HOLD  # the first (or only) frame of a message
        if burst_head:
            return MAX_HOLD if self.bursts % 2 else 0.0
        return self._rng.uniform(0.0, MAX_HOLD)

    async def _pump_page(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = json.loads(await self.page.receive_from(timeout=3600))
            if message["type"] == "rtc_send":
                now = loop.time()
                # In order: a frame never overtakes the one held before it.
                self._last_due = max(self._last_due, now + self._hold(message["frame"], now))
                self.holds.append(self._last_due - now)
                self._held.put_nowait((self._last_due, message["frame"]))
            else:
                self.received.append(message)
            self._changed.set()

    async def _forward(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, frame = await self._held.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.sent_frames.append(frame)
            await self.avatar.send_to(text_data=frame)
            self._changed.set()


def long_text(length: int = 12_000) -> str:
    """ASCII with quotes and backslashes, CJK runs, emoji (ZWJ sequences, flags, skin
    tones, variation selectors) and typographic quotes, in turns."""
    rng = random.Random("jitter")
    ascii_words = ['She said "wait" and left.', "It's a \\ 'quoted' path:", "plain words,"]
    quotes = ["“curly”", "‘single’", "«guillemets»", '"', "'"]
    emoji = ["🎉", "🚀", "😀", "👩‍💻", "❤️", "🇫🇷", "👍🏽"]
    parts: list[str] = []
    size = 0
    while size < length:
        kind = size // 40 % 4
        if kind == 0:
            part = rng.choice(ascii_words)
        elif kind == 1:
            part = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(8, 30)))
        elif kind == 2:
            part = "".join(rng.choice(emoji) for _ in range(rng.randint(1, 4)))
        else:
            part = rng.choice(quotes)
        parts.append(part)
        size += len(part) + 1
    return " ".join(parts)[:length]


def spoken_by_the_avatar(frames: list[str]) -> list[str]:
    """The avatar's answers, each joined from its pieces in idx order."""
    pieces: dict[str | None, dict[int, str]] = {}
    for frame in frames:
        message = parse(frame)
        if isinstance(message, ChatMessage) and message.sender == "bot":
            pieces.setdefault(message.mid, {})[message.idx or 0] = message.text
    return ["".join(parts[i] for i in sorted(parts)) for parts in pieces.values()]


def is_final_avatar(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


def allow_long_texts(settings) -> None:
    settings.SANDBOX_WORDS_PER_SECOND = 2000.0
    settings.CHAT_MAX_CHARS = 12_000
    settings.WS_MAX_MESSAGE_BYTES = DAPHNE_MAX_MESSAGE
    # The page forwards every piece the avatar speaks; spoken this fast, 12,000
    # characters are far more pieces in 10 s than speech at a human pace would be.
    settings.WS_MESSAGES_PER_10S = 5000
    # And they wait to be recorded in far greater numbers than at a human pace.
    settings.AVATAR_FEED_BACKLOG = 5000


async def send_chat(page, text: str) -> None:
    # As the page's JSON.stringify sends it: UTF-8, non-ASCII unescaped.
    message = json.dumps({"type": "chat", "text": text}, ensure_ascii=False)
    assert len(message.encode()) <= DAPHNE_MAX_MESSAGE
    await page.send_to(text_data=message)


async def test_a_long_mixed_text_through_an_uneven_network_is_spoken_whole(world, settings):
    allow_long_texts(settings)
    text = long_text()
    assert len(text) == 12_000
    session = await create_session(world.alice_token, preset="cleo")  # mode 1: reads it out
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with UnevenNetwork(page, avatar) as talk:
        await send_chat(page, text)
        await talk.wait_for(is_final_avatar, timeout=60)
    await page.disconnect()
    await avatar.disconnect()

    assert talk.violations() == []
    assert [m for m in talk.of_type("error")] == []
    # The network did hold frames back, unevenly, by up to 100 ms, over several bursts.
    assert len(talk.sent_frames) > 20 and talk.bursts >= 4
    assert max(talk.holds) <= MAX_HOLD + 1e-9 and min(talk.holds) < MAX_HOLD / 2
    assert all(len(f.encode()) <= 950 for f in talk.sent_frames)
    # The avatar heard the whole text and spoke it back exactly; the transcript has it.
    assert spoken_by_the_avatar(talk.avatar_frames) == [text]
    lines = list(talk.avatar_text().values())
    assert len(lines) == 1 and lines[0].split() == text.split()


async def test_without_the_allowance_the_same_network_breaks_the_limit(
    world, settings, monkeypatch
):
    # The control: paced at exactly 1 s, the network above makes the avatar drop frames.
    allow_long_texts(settings)
    settings.STREAM_JITTER_ALLOWANCE = 0.0
    monkeypatch.setattr(consumers, "Pacer", lambda *a, **kw: Pacer(*a, **{**kw, "allowance": 0}))
    session = await create_session(world.alice_token, preset="cleo")
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with UnevenNetwork(page, avatar) as talk:
        await send_chat(page, "word " * 2_000)  # 10,000 bytes: two bursts
        error = await talk.wait_for(lambda m: m["type"] == "error", timeout=10)
    await page.disconnect()
    await avatar.disconnect()

    assert error["code"] == "stream_violation"
    assert any("rate_exceeded" in f for f in talk.violations())
