"""The sandbox avatar's socket, /ws/sandbox/<channel>/?token=...

Stands where Agora's data stream would: each text frame in is one stream message as
the page would pass it to `sendStreamMessage`, each frame out is one stream message
as the avatar would send it. The avatar itself is `sandbox_avatar.SandboxAvatar`; the
session behind the channel (its limits, its transcript) is `session_side.SessionSide`.
One avatar socket per channel: the newest wins (a page reconnecting its transport is
never locked out), the one before it is closed with CLOSE_TAKEN_OVER.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from django.conf import settings

from sessions import keys, shared_cache
from sessions.providers.sandbox.avatar import SandboxAvatar
from sessions.providers.sandbox.provider import channel_for_token
from sessions.providers.sandbox.session_side import SessionSide
from sessions.sockets import SocketConsumer

log = logging.getLogger("avatarsite.sandbox")

CLOSE_FORBIDDEN = 4403
CLOSE_TAKEN_OVER = 4409
CLOSE_ENDED = 4410
# The session plays a network listed in SANDBOX_UNREACHABLE_NETWORKS: as a join that failed.
CLOSE_UNREACHABLE = 4503
# How long a channel's socket count is kept: longer than any session (and its token) lives.
SOCKET_COUNT_SECONDS = 2 * 3600


class SandboxAvatarConsumer(SocketConsumer):
    avatar: SandboxAvatar | None = None
    number = 0  # this socket's place among the channel's sockets: the highest one stays
    side: SessionSide | None = None

    async def connect(self) -> None:
        self.channel = self.scope["url_route"]["kwargs"]["channel"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        token = (query.get("token") or [""])[0]
        # The token is the only credential, as with Agora: it must be ours, unexpired,
        # for this very channel, and the session must still be live.
        side = (
            await SessionSide.of_channel(self.channel)
            if channel_for_token(token) == self.channel
            else None
        )
        if side is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if side.network in settings.SANDBOX_UNREACHABLE_NETWORKS:
            # Accepted first, so the page sees this code (a refused handshake shows none):
            # its join fails as on a network a firewall blocks, and the fallback can be
            # seen and tested offline.
            await self.accept()
            await self.close(code=CLOSE_UNREACHABLE, reason="network unreachable")
            return
        self.group = keys.sandbox_group(self.channel)
        self.number = await shared_cache.counter_add(
            keys.sandbox_sockets(self.channel), 1, timeout=SOCKET_COUNT_SECONDS
        )
        await self.channel_layer.group_add(self.group, self.channel_name)
        # The channel's older sockets (in any process) make way for this one.
        await self.channel_layer.group_send(
            self.group, {"type": keys.SANDBOX_TAKEN_OVER, "number": self.number}
        )
        self.side = side
        self.avatar = SandboxAvatar(
            self._send_frame,
            mode=side.settings.mode,
            # The avatar answers in the session's language from the first word: the page
            # sends no set-params on arriving in the sandbox.
            language=side.settings.language,
            answer=side.llm_answer(),  # None: its built-in responder
            instructions=side.instructions,
            admit=side.admit,
            allow=side.sent_by_server,
            max_queued=settings.SANDBOX_QUEUE_MAX,
            said=side.said,
            cut=side.cut,
            words_per_second=settings.SANDBOX_WORDS_PER_SECOND,
        )
        await self.accept()
        if await side.greets():
            self.avatar.greet(side.greeting)

    async def disconnect(self, code: int) -> None:
        if self.avatar is not None:
            await self._leave()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _leave(self) -> None:
        """The avatar stops (a line it was saying ends cut short) and what it said is all
        written (its session side keeps the line being said in memory)."""
        if self.avatar is not None:
            await self.avatar.aclose()
        if self.side is not None:
            await self.side.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.avatar is not None:
            await self.avatar.receive(text_data if text_data is not None else bytes_data or b"")

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def sandbox_closed(self, event: dict) -> None:
        """The session was closed: the avatar leaves the channel."""
        await self._leave()
        await self.close(code=CLOSE_ENDED)

    async def sandbox_taken_over(self, event: dict) -> None:
        """A newer socket joined the channel: this one goes."""
        if event["number"] > self.number and self.avatar is not None:
            await self._leave()
            await self.close(code=CLOSE_TAKEN_OVER)
