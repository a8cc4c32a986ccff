"""The page's side of the sandbox avatar, for its tests: a client that collects what the
avatar sends (on a clock the test moves), and ways to make an avatar and talk to it."""

from __future__ import annotations

import asyncio

from sessions.providers.sandbox.avatar import SandboxAvatar
from sessions.stream.chunker import chat_frames
from sessions.stream.parser import ChatMessage, CommandMessage, EventMessage, parse

FAST = 1e6  # words per second: speech without waiting


class Client:
    """The page's side of the sandbox socket: collects what the avatar sends."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.now = 0.0

    async def send(self, frame: str) -> None:
        self.frames.append(frame)

    def clock(self) -> float:
        return self.now

    @property
    def messages(self):
        return [parse(f) for f in self.frames]

    def events(self) -> list[str]:
        return [m.event for m in self.messages if isinstance(m, EventMessage)]

    def acks(self) -> list[CommandMessage]:
        return [m for m in self.messages if isinstance(m, CommandMessage)]

    def bot_pieces(self) -> list[ChatMessage]:
        return [m for m in self.messages if isinstance(m, ChatMessage)]

    def answers(self) -> list[str]:
        """Complete bot answers, in order, joined by mid."""
        texts: dict[str, list[str]] = {}
        for m in self.bot_pieces():
            texts.setdefault(m.mid, []).append(m.text)
        return ["".join(parts) for parts in texts.values()]

    async def until(self, predicate, timeout: float = 10.0) -> None:
        async def poll():
            while not predicate():
                await asyncio.sleep(0.001)

        await asyncio.wait_for(poll(), timeout)


def make(client: Client, **kwargs) -> SandboxAvatar:
    kwargs.setdefault("words_per_second", FAST)
    return SandboxAvatar(client.send, clock=client.clock, **kwargs)


async def say(avatar: SandboxAvatar, text: str, **kwargs) -> None:
    for frame in chat_frames(text, **kwargs):
        await avatar.receive(frame)


def ends(client: Client, n: int):
    return lambda: client.events().count("audio_end") >= n
