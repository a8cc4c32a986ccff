"""AkoolProvider's credentials: an API key, or a client id and secret traded for a token
that is fetched once, shared, replaced when it expires, and never refetched forever."""

from __future__ import annotations

import asyncio

import pytest

from sessions.providers.akool import AkoolProvider
from sessions.providers.base import UpstreamProtocolError, UpstreamRefused
from tests.providers.akool.helpers import FAST, WRONG, key_provider, request, token_provider
from tests.support.fakes.akool_server import FakeAkool


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
