"""AkoolProvider on each RTC network: the `stream_type` it sends, each network's credentials
mapped to the page's `rtc` (both TRTC spellings), and the refusal of an answer that cannot
be joined on the network asked for (the upstream session closed, a clear message)."""

from __future__ import annotations

import pytest

from sessions.providers.base import (
    AgoraRtc,
    LiveKitRtc,
    TrtcRtc,
    UpstreamProtocolError,
    rtc_dict,
)
from tests.providers.akool.helpers import key_provider, request
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.asyncio


async def test_agora_credentials_map_to_agoras_join_fields(fake: FakeAkool) -> None:
    session = await key_provider(fake).create_session(request(stream_type="agora"))

    credentials = fake.sessions[session.id]["credentials"]
    assert isinstance(session.rtc, AgoraRtc)
    assert rtc_dict(session.rtc) == {
        "provider": "agora",
        "app_id": credentials["agora_app_id"],
        "channel": credentials["agora_channel"],
        "token": credentials["agora_token"],
        "uid": credentials["agora_uid"],
    }
    assert fake.requests_to("create")[0].json["stream_type"] == "agora"


async def test_livekit_credentials_map_to_livekits_join_fields(fake: FakeAkool) -> None:
    session = await key_provider(fake).create_session(request(stream_type="livekit"))

    credentials = fake.sessions[session.id]["credentials"]
    assert isinstance(session.rtc, LiveKitRtc)
    assert rtc_dict(session.rtc) == {
        "provider": "livekit",
        "url": credentials["livekit_url"],
        "token": credentials["livekit_token"],
        "room": credentials["livekit_room_name"],
        "identity": credentials["livekit_client_identity"],
        "avatar_identity": credentials["livekit_server_identity"],
    }
    assert fake.requests_to("create")[0].json["stream_type"] == "livekit"


@pytest.mark.parametrize(("spelling", "prefix"), [("docs", "trtc_sdk_"), ("demo", "trtc_")])
async def test_trtc_credentials_map_to_trtcs_join_fields_in_either_spelling(
    fake: FakeAkool, spelling: str, prefix: str
) -> None:
    fake.trtc_spelling = spelling
    session = await key_provider(fake).create_session(request(stream_type="trtc"))

    credentials = fake.sessions[session.id]["credentials"]
    assert set(credentials) == {
        f"{prefix}{k}" for k in ("app_id", "room_id", "user_id", "user_sig")
    }
    assert isinstance(session.rtc, TrtcRtc)
    assert rtc_dict(session.rtc) == {
        "provider": "trtc",
        "app_id": credentials[f"{prefix}app_id"],
        "room": credentials[f"{prefix}room_id"],
        "user_id": credentials[f"{prefix}user_id"],
        "user_sig": credentials[f"{prefix}user_sig"],
    }
    assert fake.requests_to("create")[0].json["stream_type"] == "trtc"


async def test_an_answer_without_stream_type_is_read_as_the_network_asked_for(
    fake: FakeAkool,
) -> None:
    fake.answer_stream_type = ""  # AKool's answer leaves it out (or empty)
    session = await key_provider(fake).create_session(request(stream_type="trtc"))

    assert isinstance(session.rtc, TrtcRtc)


async def refused(fake: FakeAkool, stream_type: str) -> str:
    with pytest.raises(UpstreamProtocolError) as caught:
        await key_provider(fake).create_session(request(stream_type=stream_type))
    # The session it made cannot be joined: closed at once, or it bills until its end.
    assert fake.count("create") == 1 and len(fake.sessions) == 1 and fake.live_ids() == set()
    [close] = fake.requests_to("close")
    assert close.json["id"] == next(iter(fake.sessions))
    assert caught.value.status == 502 and caught.value.code == "upstream_bad_response"
    return caught.value.message


async def test_an_unknown_network_in_the_answer_is_refused_and_closed(fake: FakeAkool) -> None:
    fake.answer_stream_type = "webrtc"

    message = await refused(fake, "agora")

    assert message == "AKool created the session on a network we do not know ('webrtc')."


async def test_an_answer_on_another_network_than_asked_is_refused_and_closed(
    fake: FakeAkool,
) -> None:
    fake.answer_stream_type = "agora"

    message = await refused(fake, "livekit")

    assert message == "AKool created the session on Agora, not on the LiveKit it was asked for."


@pytest.mark.parametrize(
    ("stream_type", "missing", "name"),
    [
        ("agora", "agora_token", "Agora"),
        ("livekit", "livekit_token", "LiveKit"),
        ("livekit", "livekit_url", "LiveKit"),
        ("trtc", "trtc_sdk_user_sig", "TRTC"),
        ("trtc", "trtc_sdk_room_id", "TRTC"),
    ],
)
async def test_credentials_that_do_not_fit_the_network_are_refused_and_closed(
    fake: FakeAkool, stream_type: str, missing: str, name: str
) -> None:
    fake.omit_credentials = (missing,)

    message = await refused(fake, stream_type)

    assert message == f"AKool created the session but sent no usable {name} credentials to join it."


async def test_a_livekit_url_that_is_no_secure_websocket_is_refused(fake: FakeAkool) -> None:
    # The page connects wherever this points: only wss:// (or https://) servers.
    original = fake._credentials

    def insecure(*args):
        return {**original(*args), "livekit_url": "ws://fake-livekit.invalid"}

    fake._credentials = insecure  # type: ignore[method-assign]

    assert "no usable LiveKit credentials" in await refused(fake, "livekit")


async def test_agora_credentials_are_no_trtc_credentials(fake: FakeAkool) -> None:
    # Asked for TRTC, answered "trtc" with Agora's keys: nothing to join TRTC with.
    original = fake._credentials
    fake._credentials = lambda _type, *rest: original("agora", *rest)  # type: ignore[method-assign]

    assert "no usable TRTC credentials" in await refused(fake, "trtc")
