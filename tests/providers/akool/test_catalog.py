"""AkoolProvider's catalog against the fake AKool: avatars, voices and languages, paged."""

from __future__ import annotations

import pytest

from tests.providers.akool.helpers import key_provider
from tests.support.fakes.akool_server import FakeAkool


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
