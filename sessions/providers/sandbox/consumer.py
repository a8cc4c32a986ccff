"""The sandbox avatar's socket, /ws/sandbox/<channel>/?token=...

Stands where Agora's data stream would: each text frame in is one stream message as
the page would pass it to `sendStreamMessage`, each frame out is one stream message
as the avatar would send it. The avatar itself is `sandbox_avatar.SandboxAvatar`.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from django.conf import settings

from sessions import keys
from sessions.llm.client import LlmError, stream_chat
from sessions.llm.conversation import Conversation
from sessions.providers.sandbox.avatar import SandboxAvatar
from sessions.providers.sandbox.provider import channel_for_token, live_channel
from sessions.services.answers import DEFAULT_SYSTEM_PROMPT, llm_config, llm_enabled
from sessions.sockets import SocketConsumer

log = logging.getLogger("avatarsite.sandbox")

CLOSE_FORBIDDEN = 4403
CLOSE_ENDED = 4410


def _llm_answer():
    """The sandbox's stand-in for AKool's own dialogue LLM: the operator's LLM, asked for
    the whole answer (as the real avatar's LLM answers inside the avatar)."""
    conversation = Conversation(DEFAULT_SYSTEM_PROMPT)

    async def answer(question: str) -> str:
        conversation.add_user(question)
        try:
            reply = "".join(
                [piece async for piece in stream_chat(llm_config(), conversation.messages())]
            )
        except LlmError as exc:
            log.warning("sandbox: the LLM failed (%s); answering with an apology", exc.code)
            reply = "Sorry, I could not think of an answer just now. Please ask me again."
        conversation.add_assistant(reply)
        return reply

    return answer


class SandboxAvatarConsumer(SocketConsumer):
    avatar: SandboxAvatar | None = None

    async def connect(self) -> None:
        self.channel = self.scope["url_route"]["kwargs"]["channel"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        token = (query.get("token") or [""])[0]
        # The token is the only credential, as with Agora: it must be ours, unexpired,
        # for this very channel, and the session must still be live.
        info = (
            await live_channel(self.channel) if channel_for_token(token) == self.channel else None
        )
        if info is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = keys.sandbox_group(self.channel)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.avatar = SandboxAvatar(
            self._send_frame,
            mode=info.get("mode", 2),
            answer=_llm_answer() if llm_enabled() else None,  # else its built-in responder
            words_per_second=settings.SANDBOX_WORDS_PER_SECOND,
        )

    async def disconnect(self, code: int) -> None:
        if self.avatar is not None:
            await self.avatar.aclose()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.avatar is not None:
            await self.avatar.receive(text_data if text_data is not None else bytes_data or b"")

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def sandbox_closed(self, event: dict) -> None:
        """The session was closed: the avatar leaves the channel."""
        if self.avatar is not None:
            await self.avatar.aclose()
        await self.close(code=CLOSE_ENDED)
