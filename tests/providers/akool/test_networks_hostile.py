"""A create answer whose join credentials are no text a database stores or a page can use
(a NUL, which PostgreSQL refuses; other control characters; a lone surrogate; a 5 MB token;
an id JavaScript cannot hold) is refused like one without credentials: the upstream session
closed, upstream_bad_response. Read here without any database, so the refusal holds on
SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest

from sessions.providers.akool.parsing import (
    CREDENTIAL_MAX_CHARS,
    CREDENTIAL_URL_MAX_CHARS,
    parse_rtc,
)
from sessions.providers.base import LiveKitRtc
from tests.providers.akool.helpers import key_provider, request
from tests.providers.akool.test_networks import refused
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.asyncio

LONG_URL = "wss://fake-livekit.invalid/" + "a" * CREDENTIAL_URL_MAX_CHARS


@pytest.mark.parametrize(
    ("stream_type", "key", "value", "name"),
    [
        ("livekit", "livekit_token", "tok\u0000en", "LiveKit"),
        ("livekit", "livekit_token", "t" * 5_000_000, "LiveKit"),
        ("livekit", "livekit_token", "t" * (CREDENTIAL_MAX_CHARS + 1), "LiveKit"),
        ("livekit", "livekit_url", LONG_URL, "LiveKit"),
        ("livekit", "livekit_url", "wss://fake-livekit.invalid/\u0000", "LiveKit"),
        ("livekit", "livekit_room_name", "room\u0000", "LiveKit"),
        ("livekit", "livekit_client_identity", "me\u001b[2J", "LiveKit"),
        ("agora", "agora_token", "tok\u0085en", "Agora"),  # a C1 control (NEXT LINE)
        ("agora", "agora_channel", "chan\ud800", "Agora"),  # a lone surrogate
        ("agora", "agora_uid", 2**60, "Agora"),
        ("agora", "agora_uid", -1, "Agora"),
        ("trtc", "trtc_sdk_user_sig", "sig\u0000", "TRTC"),
        ("trtc", "trtc_sdk_room_id", "room\u007f", "TRTC"),
    ],
)
async def test_unusable_credential_values_are_refused_and_closed(
    fake: FakeAkool, stream_type: str, key: str, value: object, name: str
) -> None:
    fake.credential_values = {key: value}

    message = await refused(fake, stream_type)

    assert message == f"AKool created the session but sent no usable {name} credentials to join it."


async def test_credentials_at_the_bounds_are_joined(fake: FakeAkool) -> None:
    token = "t" * CREDENTIAL_MAX_CHARS
    url = "wss://fake-livekit.invalid/" + "a" * (CREDENTIAL_URL_MAX_CHARS - 27)
    fake.credential_values = {"livekit_token": token, "livekit_url": url}

    session = await key_provider(fake).create_session(request(stream_type="livekit"))

    assert isinstance(session.rtc, LiveKitRtc)
    assert (session.rtc.token, session.rtc.url) == (token, url)
    assert fake.live_ids() == {session.id}


async def test_the_refusal_is_the_parsers_with_no_upstream_at_all() -> None:
    # One home: the same rule reads a session detail or list entry (no join fields then).
    answer = {"credentials": {"livekit_url": "wss://x.invalid", "livekit_token": "a\u0000b"}}
    assert parse_rtc(answer, "livekit") is None
    answer["credentials"]["livekit_token"] = "ab"
    assert isinstance(parse_rtc(answer, "livekit"), LiveKitRtc)
