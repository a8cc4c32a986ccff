"""The avatar feed's inbox (issue 15: unbounded): what the page forwards beyond
AVATAR_FEED_BACKLOG messages waiting to be recorded is refused, and changes nothing."""

from __future__ import annotations

import json

import pytest

from sessions import errors
from sessions.services.avatar_feed import AvatarFeed
from sessions.services.commands import Commands, SessionSettings

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class Listener:
    def __init__(self) -> None:
        self.speaking_seen: list[bool] = []

    async def shown(self, update) -> None: ...
    async def acknowledged(self, ack) -> None: ...
    async def violation(self, reason) -> None: ...
    async def failed(self) -> None: ...
    async def refused(self, refusal) -> None: ...

    async def speaking(self, speaking: bool) -> None:
        self.speaking_seen.append(speaking)


def event(name: str) -> str:
    return json.dumps({"v": 2, "type": "event", "pld": {"event": name}})


async def test_beyond_the_backlog_a_forwarded_message_is_refused_and_changes_nothing(settings):
    settings.AVATAR_FEED_BACKLOG = 3
    listener = Listener()
    session = SessionSettings("voice", "en", 2, "", use_llm=False)
    feed = AvatarFeed("00000000-0000-0000-0000-000000000000", Commands("s", session), listener)
    for _ in range(3):  # the recording task has not run yet: all three wait
        feed.forward(event("audio_start"))
    feed.interrupted = True
    with pytest.raises(errors.LimitExceeded) as refused:
        feed.forward(event("audio_end"))
    assert refused.value.code == "feed_backlog" and refused.value.retry_after == 1
    assert feed.interrupted  # the refused audio_end did not take the interrupt's mark
    await feed.aclose()
    assert listener.speaking_seen == [True, True, True]
