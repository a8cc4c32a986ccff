"""AkoolProvider's sessions against a fake AKool over real loopback sockets and real httpx:
create, close, detail and the paged list."""

from __future__ import annotations

import pytest

from sessions.providers.base import UpstreamProtocolError, UpstreamRefused
from tests.providers.akool.helpers import key_provider, request
from tests.support.fakes.akool_server import FakeAkool


@pytest.mark.asyncio
async def test_create_returns_the_session_and_its_agora_credentials(fake: FakeAkool) -> None:
    session = await key_provider(fake).create_session(request())

    stored = fake.sessions[session.id]
    assert session.status == 2 and session.is_live
    assert session.rtc is not None
    assert session.rtc.provider == "agora"
    assert session.rtc.app_id == stored["credentials"]["agora_app_id"]
    assert session.rtc.channel == stored["credentials"]["agora_channel"]
    assert session.rtc.token == stored["credentials"]["agora_token"]
    assert session.rtc.uid == stored["credentials"]["agora_uid"]
    [sent] = fake.requests_to("create")
    assert sent.headers["x-api-key"] == fake.api_key
    assert "authorization" not in sent.headers
    # Mode 2 and Agora are SessionRequest's defaults; the empty optional fields are left out.
    assert sent.json == {
        "avatar_id": "fake_avatar_001",
        "duration": 600,
        "mode_type": 2,
        "stream_type": "agora",
    }


@pytest.mark.asyncio
async def test_create_sends_every_given_option(fake: FakeAkool) -> None:
    voice_params = {"speed": 1.1, "turn_detection": {"type": "server_vad"}}
    await key_provider(fake).create_session(
        request(
            voice_id="fake_voice_002",
            language="fr",
            mode=1,
            background_url="https://example.test/bg.png",
            knowledge_id="kb1",
            voice_params=voice_params,
            stream_type="trtc",
        )
    )

    [sent] = fake.requests_to("create")
    assert sent.json == {
        "avatar_id": "fake_avatar_001",
        "duration": 600,
        "voice_id": "fake_voice_002",
        "language": "fr",
        "mode_type": 1,
        "background_url": "https://example.test/bg.png",
        "knowledge_id": "kb1",
        "voice_params": voice_params,
        "stream_type": "trtc",
    }


@pytest.mark.asyncio
async def test_close_sends_both_id_keys_and_ends_the_session(fake: FakeAkool) -> None:
    provider = key_provider(fake)
    session = await provider.create_session(request())

    await provider.close_session(session.id)

    assert fake.requests_to("close")[0].json == {"id": session.id, "session_id": session.id}
    assert fake.sessions[session.id]["status"] == 3
    assert fake.live_ids() == set()
    # Closing twice is fine: a retried close must not turn into an error.
    await provider.close_session(session.id)


@pytest.mark.asyncio
async def test_detail_follows_the_session_status(fake: FakeAkool) -> None:
    provider = key_provider(fake)
    session = await provider.create_session(request())

    live = await provider.session_detail(session.id)
    await provider.close_session(session.id)
    ended = await provider.session_detail(session.id)

    assert fake.requests_to("detail")[0].query == {"id": session.id}
    assert (live.id, live.status, live.is_live) == (session.id, 2, True)
    assert (ended.status, ended.is_live) == (3, False)


@pytest.mark.asyncio
async def test_detail_of_an_unknown_session_is_refused(fake: FakeAkool) -> None:
    with pytest.raises(UpstreamRefused) as caught:
        await key_provider(fake).session_detail("nope")

    assert caught.value.upstream_code == 1003
    assert "session not found" in caught.value.message


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["²", "9" * 5000, None, "live", 2.5])
async def test_a_garbled_status_is_a_protocol_error_and_the_list_keeps_the_rest(
    fake: FakeAkool, status
) -> None:
    provider = key_provider(fake)
    fine = await provider.create_session(request(duration=60))
    garbled = await provider.create_session(request(duration=60))
    fake.sessions[garbled.id]["status"] = status

    with pytest.raises(UpstreamProtocolError):
        await provider.session_detail(garbled.id)
    listed = await provider.list_sessions()

    assert [s.id for s in listed] == [fine.id]


@pytest.mark.asyncio
async def test_list_walks_every_page_and_filters_by_status(fake: FakeAkool) -> None:
    provider = key_provider(fake)
    created = [await provider.create_session(request(duration=60)) for _ in range(130)]
    for session in created[:5]:
        fake.set_status(session.id, 3)

    everything = await provider.list_sessions()
    live = await provider.list_sessions(status=2)

    assert [s.id for s in everything] == [s.id for s in created]
    assert {s.id for s in live} == fake.live_ids() == {s.id for s in created[5:]}
    assert all(s.status == 2 for s in live)
    queries = [r.query for r in fake.requests_to("list")]
    assert queries == [
        {"page": "1", "size": "100"},
        {"page": "2", "size": "100"},
        {"page": "1", "size": "100", "status": "2"},
        {"page": "2", "size": "100", "status": "2"},
    ]


@pytest.mark.asyncio
async def test_list_of_an_empty_account_is_one_request(fake: FakeAkool) -> None:
    assert await key_provider(fake).list_sessions() == []
    assert fake.count("list") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", ["list", None])
async def test_list_tolerates_other_page_shapes(fake: FakeAkool, shape: str | None) -> None:
    provider = key_provider(fake)
    session = await provider.create_session(request())
    fake.session_list_key = shape

    [listed] = await provider.list_sessions()

    assert (listed.id, listed.status) == (session.id, 2)


@pytest.mark.asyncio
async def test_list_reads_ids_under_id_too(fake: FakeAkool) -> None:
    page = {"result": [{"id": "s1", "status": 2}, {"_id": "s2", "status": 3}, {"status": 2}]}
    fake.fail("list", "json", body={"code": 1000, "msg": "OK", "data": page})

    listed = await key_provider(fake).list_sessions()

    # The item without any id is of no use to anyone and is left out.
    assert [(s.id, s.status) for s in listed] == [("s1", 2), ("s2", 3)]


@pytest.mark.asyncio
async def test_a_page_without_any_list_is_a_protocol_error(fake: FakeAkool) -> None:
    fake.fail("list", "json", body={"code": 1000, "msg": "OK", "data": {"count": 4}})

    with pytest.raises(UpstreamProtocolError):
        await key_provider(fake).list_sessions()
