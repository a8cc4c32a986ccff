"""AkoolProvider when AKool says no or breaks: refusals with AKool's words, HTTP errors and
broken answers, and network failures, each retried only where that is safe."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sessions.providers.akool import AkoolProvider
from sessions.providers.base import (
    ProviderError,
    UpstreamProtocolError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.providers.akool.helpers import FAST, closed_port, key_provider, request, token_provider
from tests.support.fakes.akool_server import FakeAkool

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
