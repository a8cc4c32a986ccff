"""Issue 15 item 11, against a fake AKool that echoes the key: its refusal message is
redacted before it is cut, and a key split by whitespace is caught too."""

from __future__ import annotations

import pytest

from sessions.providers.akool.http import MAX_MSG_CHARS
from sessions.providers.base import UpstreamRefused
from tests.providers.akool.helpers import key_provider, request
from tests.support.fakes.akool_server import FakeAkool
from tools.secret_scan.scanner import leak_pattern


async def refusal(fake: FakeAkool, msg: str) -> str:
    fake.fail("create", "code", code=1003, msg=msg)
    with pytest.raises(UpstreamRefused) as info:
        await key_provider(fake).create_session(request())
    return str(info.value)


@pytest.mark.asyncio
async def test_a_key_across_the_cut_leaves_no_prefix(fake: FakeAkool):
    # The key starts 22 characters before the 300th: cutting first left its first 22.
    msg = "x" * (MAX_MSG_CHARS - 22) + fake.api_key + " trailing words"
    text = await refusal(fake, msg)
    assert leak_pattern(fake.api_key).search(text) is None
    assert fake.api_key[:10] not in text
    assert "[redacted]" in text


@pytest.mark.asyncio
async def test_a_key_split_by_whitespace_is_redacted(fake: FakeAkool):
    key = fake.api_key
    text = await refusal(fake, f"invalid api key {key[:6]} {key[6:14]}\n{key[14:]} given")
    assert leak_pattern(key).search(text) is None
    assert "invalid api key [redacted] given" in text
