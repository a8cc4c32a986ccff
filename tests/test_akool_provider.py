"""AkoolProvider against a fake AKool server over real loopback sockets and real httpx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sessions.providers.akool import AkoolProvider
from sessions.providers.base import (
    ProviderError,
    SessionRequest,
    UpstreamProtocolError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.fakes.akool_server import FakeAkool

# Small timeouts and backoff keep the failure tests fast; 0.3 s is still far above what a
# loopback answer takes, so the success tests do not flake on a busy machine.
# A wrong credential is a credential too: it must not leak either.
WRONG = "wrong-DO-NOT-LEAK"
FAST = {"connect_timeout": 0.3, "read_timeout": 0.3, "retries": 2, "backoff": 0.01}


@pytest.fixture
def fake() -> Iterator[FakeAkool]:
    with FakeAkool() as server:
        yield server


def key_provider(fake: FakeAkool, **options: Any) -> AkoolProvider:
    return AkoolProvider(**{"base_url": fake.base_url, "api_key": fake.api_key, **FAST, **options})


def token_provider(fake: FakeAkool, **options: Any) -> AkoolProvider:
    return AkoolProvider(
        **{
            "base_url": fake.base_url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            **FAST,
            **options,
        }
    )


def request(**fields: Any) -> SessionRequest:
    return SessionRequest(**{"avatar_id": "fake_avatar_001", "duration": 600, **fields})


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- sessions -----------------------------------------------------------------------------------


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
    # Mode 2 is SessionRequest's default; the empty optional fields are left out.
    assert sent.json == {"avatar_id": "fake_avatar_001", "duration": 600, "mode_type": 2}


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


# -- catalog ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_avatars_are_mapped(fake: FakeAkool) -> None:
    fake.avatars[1].pop("thumbnailUrl")
    fake.avatars[2]["available"] = False

    avatars = await key_provider(fake).list_avatars()

    assert [a.avatar_id for a in avatars] == [
        "fake_avatar_001",
        "fake_avatar_002",
        "fake_avatar_003",
    ]
    first = avatars[0]
    assert first.name == "Fake Avatar 1"
    assert first.thumbnail_url == "https://fake.akool.test/avatars/1.jpg"
    assert (first.voice_id, first.gender, first.available) == ("fake_voice_001", "female", True)
    # Without a thumbnail the avatar's own url stands in.
    assert avatars[1].thumbnail_url == "https://fake.akool.test/avatars/2.mp4"
    assert avatars[2].available is False


@pytest.mark.asyncio
async def test_avatars_are_paginated(fake: FakeAkool) -> None:
    fake.set_avatar_count(150)

    avatars = await key_provider(fake).list_avatars()

    assert len(avatars) == 150
    assert avatars[-1].avatar_id == "fake_avatar_150"
    assert [r.query["page"] for r in fake.requests_to("avatars")] == ["1", "2"]


@pytest.mark.asyncio
async def test_avatars_page_count_is_bounded(fake: FakeAkool) -> None:
    # An upstream that always answers a full page of new items would never end on its own.
    fake.set_avatar_count(6000)

    avatars = await key_provider(fake).list_avatars()

    assert len(avatars) == 5000
    assert fake.count("avatars") == 50


@pytest.mark.asyncio
async def test_voices_are_mapped(fake: FakeAkool) -> None:
    voices = await key_provider(fake).list_voices()

    assert [v.voice_id for v in voices] == ["fake_voice_001", "fake_voice_002", "fake_voice_003"]
    assert voices[0].name == "Fake Voice 1"
    assert voices[0].language == "English"
    assert voices[0].gender == "female"
    assert voices[0].preview_url == "https://fake.akool.test/voices/1.mp3"
    [sent] = fake.requests_to("voices")
    assert sent.query == {"support_stream": "1", "type": "2", "page": "1", "size": "100"}


@pytest.mark.asyncio
async def test_voices_are_paginated(fake: FakeAkool) -> None:
    fake.set_voice_count(230)

    voices = await key_provider(fake).list_voices()

    assert len(voices) == 230
    assert fake.count("voices") == 3


@pytest.mark.asyncio
async def test_voices_stop_when_the_upstream_ignores_pages(fake: FakeAkool) -> None:
    fake.set_voice_count(100)
    fake.voices_paginated = False

    voices = await key_provider(fake).list_voices()

    assert len(voices) == 100
    # The second page repeats the first: that is the end, not a reason to go on.
    assert fake.count("voices") == 2


@pytest.mark.asyncio
async def test_languages_are_mapped(fake: FakeAkool) -> None:
    languages = await key_provider(fake).list_languages()

    assert [(lang.code, lang.name) for lang in languages][:2] == [
        ("en", "English"),
        ("fr", "French"),
    ]
    assert len(languages) == len(fake.languages)


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_client_credentials_fetch_one_token_for_many_calls(fake: FakeAkool) -> None:
    provider = token_provider(fake)

    session = await provider.create_session(request())
    await provider.session_detail(session.id)
    await provider.list_avatars()
    await provider.list_languages()
    await provider.close_session(session.id)

    assert fake.count("token") == 1
    assert fake.requests_to("token")[0].json == {
        "clientId": fake.client_id,
        "clientSecret": fake.client_secret,
    }
    [token] = fake.issued_tokens
    for sent in fake.requests:
        if sent.endpoint != "token":
            assert sent.headers["authorization"] == f"Bearer {token}"
            assert "x-api-key" not in sent.headers


@pytest.mark.asyncio
async def test_concurrent_calls_share_one_token_fetch(fake: FakeAkool) -> None:
    provider = token_provider(fake)

    await asyncio.gather(*(provider.list_languages() for _ in range(10)))

    assert fake.count("token") == 1


def test_the_provider_outlives_its_event_loop(fake: FakeAkool) -> None:
    # Django runs async code on whatever loop async_to_sync gives it: nothing may stay bound.
    provider = token_provider(fake)

    asyncio.run(provider.list_languages())
    asyncio.run(provider.list_languages())
    fake.revoke_tokens()
    asyncio.run(provider.list_languages())

    assert fake.count("token") == 2


@pytest.mark.asyncio
async def test_an_expired_token_is_replaced_once(fake: FakeAkool) -> None:
    provider = token_provider(fake)
    await provider.list_languages()
    fake.revoke_tokens()

    session = await provider.create_session(request())

    assert session.id in fake.sessions
    assert fake.count("token") == 2
    # The refused create plus the one with the new token: one session, no more.
    assert fake.count("create") == 2
    assert len(fake.sessions) == 1
    assert fake.requests_to("create")[-1].headers["authorization"] == (
        f"Bearer {fake.issued_tokens[-1]}"
    )


@pytest.mark.asyncio
async def test_a_token_refused_twice_is_not_refetched_forever(fake: FakeAkool) -> None:
    provider = token_provider(fake)
    fake.fail("detail", "code", code=1101, msg="invalid or expired token")

    with pytest.raises(UpstreamRefused) as caught:
        await provider.session_detail("any")

    assert caught.value.upstream_code == 1101
    assert caught.value.code == "upstream_auth_failed"
    assert fake.count("token") == 2
    assert fake.count("detail") == 2


@pytest.mark.asyncio
async def test_a_rejected_api_key_is_not_retried(fake: FakeAkool) -> None:
    provider = key_provider(fake, api_key="wrong-key")

    with pytest.raises(UpstreamRefused) as caught:
        await provider.list_languages()

    assert caught.value.upstream_code == 1101
    assert caught.value.message == "AKool refused the request: invalid api key (code 1101)"
    assert (fake.count("languages"), fake.count("token")) == (1, 0)


@pytest.mark.asyncio
async def test_missing_credentials_are_refused_with_akools_words(fake: FakeAkool) -> None:
    provider = AkoolProvider(base_url=fake.base_url, **FAST)

    with pytest.raises(UpstreamRefused) as caught:
        await provider.list_languages()

    assert caught.value.upstream_code == 1102
    assert caught.value.code == "upstream_auth_failed"
    assert caught.value.status == 502
    assert "authorization missing" in caught.value.message


@pytest.mark.asyncio
async def test_wrong_client_secret_is_refused(fake: FakeAkool) -> None:
    provider = token_provider(fake, client_secret=WRONG)

    with pytest.raises(UpstreamRefused) as caught:
        await provider.create_session(request())

    assert caught.value.upstream_code == 1101
    assert fake.count("create") == 0


@pytest.mark.asyncio
async def test_a_token_answer_without_token_is_a_protocol_error(fake: FakeAkool) -> None:
    fake.fail("token", "json", body={"code": 1000, "msg": "OK"})

    with pytest.raises(UpstreamProtocolError):
        await token_provider(fake).list_languages()


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_refused_create_carries_akools_message(fake: FakeAkool) -> None:
    fake.max_live_sessions = 1
    provider = key_provider(fake)
    await provider.create_session(request())

    with pytest.raises(UpstreamRefused) as caught:
        await provider.create_session(request())

    error = caught.value
    assert (
        error.message == "AKool refused the request: concurrent session limit reached (code 1005)"
    )
    assert str(error) == error.message
    assert (error.code, error.status, error.upstream_code) == ("upstream_refused", 502, 1005)


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [1101, 1102, 1200, 1003, 9999])
async def test_every_non_success_code_is_a_refusal_and_never_retried(
    fake: FakeAkool, code: int
) -> None:
    fake.fail("avatars", "code", code=code, msg=f"nope {code}")

    with pytest.raises(UpstreamRefused) as caught:
        await key_provider(fake).list_avatars()

    assert caught.value.upstream_code == code
    assert f"nope {code}" in caught.value.message
    expected = "upstream_auth_failed" if code in (1101, 1102, 1200) else "upstream_refused"
    assert caught.value.code == expected
    assert fake.count("avatars") == 1


@pytest.mark.asyncio
async def test_a_refusal_without_msg_still_says_its_code(fake: FakeAkool) -> None:
    fake.fail("languages", "json", body={"code": 1234})

    with pytest.raises(UpstreamRefused) as caught:
        await key_provider(fake).list_languages()

    assert caught.value.message == "AKool refused the request (code 1234)"


@pytest.mark.asyncio
async def test_a_json_code_on_an_http_error_is_mapped_by_its_code(fake: FakeAkool) -> None:
    fake.fail("detail", "code", code=1200, msg="account banned", http_status=503)

    with pytest.raises(UpstreamRefused) as caught:
        await key_provider(fake).session_detail("any")

    assert caught.value.upstream_code == 1200
    assert fake.count("detail") == 1


# -- HTTP errors and broken answers -------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_idempotent_call_is_retried_through_5xx(fake: FakeAkool) -> None:
    fake.fail("languages", "http500", times=2)

    languages = await key_provider(fake).list_languages()

    assert languages
    assert fake.count("languages") == 3


@pytest.mark.asyncio
async def test_close_is_retried_through_429(fake: FakeAkool) -> None:
    provider = key_provider(fake)
    session = await provider.create_session(request())
    fake.fail("close", "http500", times=1, http_status=429)

    await provider.close_session(session.id)

    assert fake.count("close") == 2
    assert fake.live_ids() == set()


@pytest.mark.asyncio
async def test_a_lasting_5xx_becomes_an_upstream_error(fake: FakeAkool) -> None:
    fake.fail("detail", "http500", http_status=502)

    with pytest.raises(ProviderError) as caught:
        await key_provider(fake).session_detail("any")

    error = caught.value
    assert type(error) is ProviderError
    assert (error.code, error.status) == ("upstream_error", 502)
    assert "HTTP 502" in error.message
    assert fake.count("detail") == 3  # 1 + retries=2


@pytest.mark.asyncio
async def test_create_is_never_retried(fake: FakeAkool) -> None:
    fake.fail("create", "http500")

    with pytest.raises(ProviderError) as caught:
        await key_provider(fake, retries=5).create_session(request())

    assert "HTTP 500" in caught.value.message
    assert fake.count("create") == 1


@pytest.mark.asyncio
async def test_an_unexpected_4xx_is_an_upstream_error(fake: FakeAkool) -> None:
    fake.fail("languages", "http500", http_status=404)

    with pytest.raises(ProviderError) as caught:
        await key_provider(fake).list_languages()

    assert caught.value.code == "upstream_error"
    assert "HTTP 404" in caught.value.message
    assert fake.count("languages") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["malformed", "empty", "nocode"])
async def test_a_broken_answer_is_a_protocol_error(fake: FakeAkool, mode: str) -> None:
    fake.fail("detail", mode)

    with pytest.raises(UpstreamProtocolError) as caught:
        await key_provider(fake).session_detail("any")

    assert (caught.value.code, caught.value.status) == ("upstream_bad_response", 502)
    assert fake.count("detail") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        {"code": "1000", "data": {}},
        {"code": True, "data": {}},
        {"code": 1000, "msg": "OK"},
        {"code": 1000, "data": {"status": 2}},
        {"code": 1000, "data": {"_id": "s1", "status": "live"}},
    ],
)
async def test_answers_that_break_the_protocol(fake: FakeAkool, body: Any) -> None:
    fake.fail("detail", "json", body=body)

    with pytest.raises(UpstreamProtocolError):
        await key_provider(fake).session_detail("s1")


@pytest.mark.asyncio
async def test_a_created_session_without_credentials_is_closed_and_reported(
    fake: FakeAkool,
) -> None:
    fake.fail("create", "json", body={"code": 1000, "data": {"_id": "orphan", "status": 2}})
    fake.sessions["orphan"] = {"_id": "orphan", "status": 2, "_expires_at": time.time() + 60}

    with pytest.raises(UpstreamProtocolError) as caught:
        await key_provider(fake).create_session(request())

    assert "credentials" in caught.value.message
    # Left open it would bill until its duration ends.
    assert fake.requests_to("close")[0].json["id"] == "orphan"
    assert fake.live_ids() == set()


# -- network failures ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connection_refused_is_unavailable(fake: FakeAkool) -> None:
    provider = AkoolProvider(base_url=f"http://127.0.0.1:{closed_port()}", api_key="k", **FAST)

    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as caught:
        await provider.list_languages()
    with pytest.raises(UpstreamUnavailable):
        await provider.create_session(request())

    assert (caught.value.code, caught.value.status) == ("upstream_unavailable", 503)
    assert time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_a_dropped_connection_is_retried(fake: FakeAkool) -> None:
    fake.fail("languages", "drop", times=1)

    assert await key_provider(fake).list_languages()
    assert fake.count("languages") == 2


@pytest.mark.asyncio
async def test_a_lasting_drop_is_unavailable(fake: FakeAkool) -> None:
    fake.fail("languages", "drop")

    with pytest.raises(UpstreamUnavailable):
        await key_provider(fake).list_languages()
    assert fake.count("languages") == 3


@pytest.mark.asyncio
async def test_a_hung_upstream_times_out_after_the_retries(fake: FakeAkool) -> None:
    fake.fail("detail", "hang")

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        await key_provider(fake).session_detail("any")
    elapsed = time.monotonic() - started

    assert (caught.value.code, caught.value.status) == ("upstream_timeout", 504)
    assert fake.count("detail") == 3
    assert 0.9 <= elapsed < 3


@pytest.mark.asyncio
async def test_a_hung_create_times_out_without_retry(fake: FakeAkool) -> None:
    fake.fail("create", "hang")

    with pytest.raises(UpstreamTimeout):
        await key_provider(fake).create_session(request())

    assert fake.count("create") == 1


@pytest.mark.asyncio
async def test_a_timeout_is_retried(fake: FakeAkool) -> None:
    fake.fail("languages", "hang", times=1)

    assert await key_provider(fake).list_languages()
    assert fake.count("languages") == 2


@pytest.mark.asyncio
async def test_a_hung_token_fetch_times_out(fake: FakeAkool) -> None:
    fake.fail("token", "hang")

    with pytest.raises(UpstreamTimeout):
        await token_provider(fake, retries=0).create_session(request())

    assert fake.count("create") == 0


# -- secrets and logs ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_credentials_never_reach_a_message_or_a_log(
    fake: FakeAkool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []

    async def collect(call: Any) -> None:
        try:
            await call
        except ProviderError as exc:
            errors.append(exc)

    # No retries: they would only repeat the same messages, and slowly for "hang".
    quick = {"retries": 0, "read_timeout": 0.2}
    for provider in (key_provider(fake, **quick), token_provider(fake, **quick)):
        session = await provider.create_session(request())
        await provider.close_session(session.id)
        fake.revoke_tokens()
        for endpoint, mode, kwargs in [
            ("detail", "code", {"code": 1101, "msg": "invalid or expired token"}),
            ("detail", "http500", {}),
            ("detail", "malformed", {}),
            ("detail", "empty", {}),
            ("detail", "nocode", {}),
            ("detail", "drop", {}),
            ("detail", "hang", {}),
            ("create", "code", {"code": 1003, "msg": "bad request"}),
            ("create", "hang", {}),
        ]:
            fake.fail(endpoint, mode, **kwargs)
            await collect(provider.session_detail(session.id))
            await collect(provider.create_session(request()))
            fake.heal()
    await collect(key_provider(fake, api_key=WRONG).list_avatars())
    await collect(token_provider(fake, client_secret=WRONG).list_avatars())
    await collect(
        AkoolProvider(
            base_url=f"http://127.0.0.1:{closed_port()}", api_key=fake.api_key, **FAST
        ).list_avatars()
    )

    secrets = [fake.api_key, fake.client_secret, WRONG, *fake.issued_tokens]
    assert len(fake.issued_tokens) >= 2
    texts = [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    for error in errors:
        # The whole chain: a traceback shows every cause and context.
        link: BaseException | None = error
        while link is not None:
            texts += [str(link), repr(link), str(getattr(link, "message", ""))]
            link = link.__cause__ or link.__context__
    texts += [repr(key_provider(fake)), repr(token_provider(fake))]
    assert len(errors) >= 20
    assert any("AKool" in record.getMessage() for record in caplog.records)
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.mark.asyncio
async def test_each_call_is_logged_with_its_outcome(
    fake: FakeAkool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="avatarsite.akool")
    fake.fail("languages", "http500", times=1)

    await key_provider(fake).list_languages()

    lines = [r.getMessage() for r in caplog.records if r.name == "avatarsite.akool"]
    assert len(lines) == 2
    assert lines[0].startswith("AKool GET /api/open/v3/language/list -> AKool failed with HTTP 500")
    assert "attempt 1/3" in lines[0]
    assert lines[1].startswith("AKool GET /api/open/v3/language/list -> ok (")
    assert [r.levelno for r in caplog.records if r.name == "avatarsite.akool"] == [
        logging.WARNING,
        logging.INFO,
    ]


# -- the fake itself ----------------------------------------------------------------------------


def test_the_fake_stops_promptly_with_a_hung_request() -> None:
    fake = FakeAkool().start()
    fake.fail("languages", "hang")
    url = fake.base_url + "/api/open/v3/language/list"

    def hang() -> None:
        # Any ending is fine (the server closes the socket): only stop()'s speed matters.
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=10)

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()
    while fake.count("languages") == 0:
        time.sleep(0.01)

    started = time.monotonic()
    fake.stop()

    assert time.monotonic() - started < 1
    thread.join(timeout=2)
    assert not thread.is_alive()


def test_the_fake_fails_only_as_often_as_told(fake: FakeAkool) -> None:
    url = fake.base_url + "/api/open/v3/language/list"
    fake.fail("languages", "code", times=1, code=1003)

    def code() -> Any:
        return httpx.get(url, headers={"x-api-key": fake.api_key}, timeout=2).json()["code"]

    assert [code(), code()] == [1003, 1000]


@pytest.mark.asyncio
async def test_a_credential_echoed_by_akool_is_redacted(fake: FakeAkool) -> None:
    fake.fail("languages", "code", code=1101, msg=f"key {fake.api_key} is not valid")

    with pytest.raises(UpstreamRefused) as caught:
        await key_provider(fake).list_languages()

    assert (
        caught.value.message == "AKool refused the request: key [redacted] is not valid (code 1101)"
    )
