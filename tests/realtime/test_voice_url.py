"""A voice change to a cloned voice over the session socket: the page names the voice by
its slug, the server sends the avatar `vurl` (never the previous voice's `vid` beside it),
and the sandbox avatar accepts it as it accepts `vid`."""

from __future__ import annotations

import pytest

from sessions.models import AvatarSession, VoicePreset
from tests.realtime.test_voice_params import talk_through

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

CLONE = "https://example.org/voices/clone.wav"


async def test_a_voice_by_url_goes_as_vurl(world):
    await VoicePreset.objects.acreate(slug="clone", name="Clone", voice_url=CLONE)

    session, (result,), (data,) = await talk_through(world, {"voice": "clone"})

    assert result["ok"] is True  # the sandbox avatar acknowledged it
    assert data == {"vurl": CLONE}
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.voice_id == ""  # a cloned voice has no voice id


async def test_voice_params_with_a_voice_by_url_carry_no_old_voice_id(world):
    await VoicePreset.objects.acreate(slug="clone", name="Clone", voice_url=CLONE)

    _, _, (data,) = await talk_through(world, {"voice": "clone", "voice_params": {"speed": 1.2}})

    assert data == {"vurl": CLONE, "vparams": {"speed": 1.2}}


async def test_back_to_a_voice_by_id_sends_vid(world):
    await VoicePreset.objects.acreate(slug="clone", name="Clone", voice_url=CLONE)

    _, results, data = await talk_through(world, {"voice": "clone"}, {"voice": "lyon"})

    assert [r["ok"] for r in results] == [True, True]
    assert data[1] == {"vid": "sandbox_voice_lyon", "vparams": {"vid": "sandbox_voice_lyon"}}
