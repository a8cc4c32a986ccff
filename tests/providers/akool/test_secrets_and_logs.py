"""AkoolProvider keeps credentials out of every message and log and logs each call with
its outcome; and the fake AKool itself behaves as the other tests assume."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import httpx
import pytest

from sessions.providers.akool import AkoolProvider
from sessions.providers.base import ProviderError, UpstreamRefused
from tests.providers.akool.helpers import (
    FAST,
    WRONG,
    closed_port,
    key_provider,
    request,
    token_provider,
)
from tests.support.fakes.akool_server import FakeAkool

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
