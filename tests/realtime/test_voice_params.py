"""Voice parameters over the session socket: set_params' `voice_params` checked field by
field (the same schema as a preset's), and the set-params frame that carries them
(`vparams`, with the voice's id in `vparams.vid` and in `vid` beside it)."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from sessions.models import AvatarPreset, SessionEvent, VoicePreset
from sessions.services.commands import Commands, SessionSettings
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TURN = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
}
EVERY_FIELD = {
    "speed": 1.2,
    "pron_map": {"akool": "ai ku er"},
    "stt_type": "openai_realtime",
    "turn_detection": TURN,
}

# A bad voice_params, and a word its error must name (the field at fault).
BAD = [
    ({"speed": 2.5}, "speed"),
    ({"speed": 0.1}, "speed"),
    ({"speed": "1.2"}, "speed"),
    ({"speed": True}, "speed"),
    ({"speed": None}, "speed"),
    ({"pron_map": ["akool"]}, "pron_map"),
    ({"pron_map": {"akool": 12}}, "pron_map"),
    ({"pron_map": {"akool": "  "}}, "pron_map"),
    ({"pron_map": {"w" * 41: "x"}}, "pron_map"),
    ({"pron_map": {"akool": "x" * 81}}, "pron_map"),
    ({"pron_map": {f"w{i}": "x" for i in range(21)}}, "pron_map"),
    ({"stt_type": "openai realtime"}, "stt_type"),
    ({"stt_type": "x" * 41}, "stt_type"),
    ({"stt_type": 3}, "stt_type"),
    ({"turn_detection": {"type": "client_vad"}}, "turn_detection.type"),
    ({"turn_detection": {"threshold": 1.5}}, "turn_detection.threshold"),
    ({"turn_detection": {"prefix_padding_ms": -1}}, "turn_detection.prefix_padding_ms"),
    ({"turn_detection": {"prefix_padding_ms": 2.5}}, "turn_detection.prefix_padding_ms"),
    ({"turn_detection": {"silence_duration_ms": 60_000}}, "turn_detection.silence_duration_ms"),
    ({"turn_detection": {"eagerness": "high"}}, "turn_detection.eagerness"),
    ({"turn_detection": "server_vad"}, "turn_detection"),
    # Never from a page: it can carry an ElevenLabs key.
    ({"elevenlabs_settings": {"api_key": "k"}}, "elevenlabs_settings"),
    ({"colour": "red"}, "colour"),
    ({"pron_map": {f"word{i}": "p" * 70 for i in range(8)}}, "bytes"),
    ({}, "at least one"),
    ("fast", "voice_params"),
    (None, "voice_params"),
]


async def next_message(ws) -> dict:
    return json.loads(await ws.receive_from(timeout=3))


@pytest_asyncio.fixture
async def page(world):
    session = await create_session(world.alice_token)
    ws = await open_page(session, world.alice_token)
    assert (await next_message(ws))["type"] == "session"
    ws.session = session
    yield ws
    await ws.disconnect()


async def test_each_bad_voice_param_is_refused_by_name(page):
    for voice_params, named in BAD:
        await page.send_json_to({"type": "set_params", "params": {"voice_params": voice_params}})
        error = await next_message(page)
        assert error["type"] == "error", voice_params
        assert error["code"] == "invalid_voice_params", (voice_params, error)
        assert named in error["message"], (voice_params, error)
    # Nothing was sent or recorded, and the socket still works.
    assert not await SessionEvent.objects.filter(
        session_id=page.session["id"], message="set-params"
    ).aexists()
    await page.send_json_to({"type": "set_params", "params": {"voice_params": {"speed": 1.0}}})
    assert (await next_message(page))["type"] == "rtc_send"


async def test_an_error_never_quotes_a_pron_map_word(page):
    secret_word = "hunter2-" + "x" * 40
    await page.send_json_to(
        {"type": "set_params", "params": {"voice_params": {"pron_map": {secret_word: "y"}}}}
    )
    error = await next_message(page)
    assert error["code"] == "invalid_voice_params"
    assert "a word" in error["message"] and "hunter2" not in error["message"]


async def talk_through(world, *messages: dict, preset: str = "ada"):
    """Send set_params messages one by one (each acknowledged); returns what the page
    received and the frames the avatar got."""
    session = await create_session(world.alice_token, preset=preset)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    results = []
    async with Conversation(page, avatar) as talk:
        for message in messages:
            talk.received.clear()
            await page.send_json_to({"type": "set_params", "params": message})
            results.append(await talk.wait_for(lambda m: m["type"] in ("command_result", "error")))
    await page.disconnect()
    await avatar.disconnect()
    data = [json.loads(frame)["pld"]["data"] for frame in talk.sent_frames]
    return session, results, data


async def test_voice_params_go_in_vparams_with_the_voice(world):
    session, (result,), (data,) = await talk_through(world, {"voice_params": EVERY_FIELD})

    assert result["ok"] is True
    assert result["params"] == {"voice_params": EVERY_FIELD}
    # The voice (the preset's default here) goes along: in vparams.vid and in vid.
    assert data == {
        "vid": "sandbox_voice_warm",
        "vparams": {**EVERY_FIELD, "vid": "sandbox_voice_warm"},
    }
    acked = await SessionEvent.objects.filter(session_id=session["id"], data__has_key="ack").alast()
    assert acked.data["voice_params"] == EVERY_FIELD


async def test_a_voice_change_sends_vid_and_vparams_vid(world):
    _, (result,), (data,) = await talk_through(world, {"voice": "lyon", "mode": 1})

    assert result["ok"] is True
    assert data == {
        "vid": "sandbox_voice_lyon",
        "vparams": {"vid": "sandbox_voice_lyon"},
        "mode": 1,
    }


async def test_settings_without_a_voice_send_no_vparams(world):
    _, _, (data,) = await talk_through(world, {"language": "fr"})
    assert data == {"lang": "fr"}


async def test_a_change_merges_field_by_field_and_each_frame_carries_the_whole_set(world):
    _, results, data = await talk_through(
        world,
        {"voice_params": {"speed": 1.3, "pron_map": {"akool": "ai ku er"}}},
        {"voice_params": {"pron_map": {"gif": "jif"}}},  # replaces the map, keeps the speed
        {"voice": "lyon"},
    )

    assert [r["ok"] for r in results] == [True, True, True]
    whole = {"speed": 1.3, "pron_map": {"gif": "jif"}}
    assert data[1]["vparams"] == {**whole, "vid": "sandbox_voice_warm"}
    assert data[2] == {
        "vid": "sandbox_voice_lyon",
        "vparams": {**whole, "vid": "sandbox_voice_lyon"},
    }


async def test_the_presets_voice_params_are_the_start(world):
    await AvatarPreset.objects.filter(slug="ada").aupdate(
        voice_params={"speed": 0.9, "turn_detection": {"silence_duration_ms": 800}}
    )
    _, _, (data,) = await talk_through(world, {"voice": "lyon"})

    assert data["vparams"] == {
        "vid": "sandbox_voice_lyon",
        "speed": 0.9,
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},  # the type added
    }


async def test_a_presets_invalid_voice_params_are_not_sent_on(world):
    # Saved before they were checked (or around the model): never passed to the page.
    await AvatarPreset.objects.filter(slug="ada").aupdate(
        voice_params={"speed": 1.1, "elevenlabs_settings": {"api_key": "sk-live"}}
    )
    _, _, (data,) = await talk_through(world, {"voice": "lyon"})
    assert data["vparams"] == {"vid": "sandbox_voice_lyon"}


async def test_a_reconnecting_page_keeps_the_confirmed_voice_params(world):
    session, _, _ = await talk_through(world, {"voice_params": {"speed": 1.5}})

    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "set_params", "params": {"voice": "lyon"}})
        await talk.wait_for(lambda m: m["type"] == "command_result" and not m.get("replay"))
    await page.disconnect()
    await avatar.disconnect()
    sent = json.loads(talk.sent_frames[-1])["pld"]["data"]
    assert sent["vparams"] == {"vid": "sandbox_voice_lyon", "speed": 1.5}


async def test_parts_that_fit_alone_but_not_together_are_refused(world):
    words = {f"word{i}": "p" * 80 for i in range(5)}  # about 490 bytes
    await AvatarPreset.objects.filter(slug="ada").aupdate(voice_params={"pron_map": words})
    change = {"stt_type": "s" * 40, "turn_detection": TURN}  # about 150 bytes
    _, results, data = await talk_through(
        world, {"voice_params": change}, {"voice_params": {**change, "pron_map": {"a": "b"}}}
    )

    assert results[0]["code"] == "invalid_voice_params"
    assert "bytes" in results[0]["message"]
    assert results[1]["ok"] is True  # with a shorter map instead, the whole set fits
    assert len(data) == 1


async def test_a_frame_over_1_kb_is_refused_with_invalid_params(world):
    await VoicePreset.objects.acreate(slug="long", name="Long", voice_id="v" * 200)
    await AvatarPreset.objects.filter(slug="ada").aupdate(
        voice_params={"pron_map": {f"word{i}": "p" * 60 for i in range(7)}}
    )
    _, (result,), data = await talk_through(world, {"voice": "long"})

    assert result["type"] == "error" and result["code"] == "invalid_params"
    assert "1024" in result["message"]
    assert data == []


async def send(commands: Commands, params: dict) -> dict:
    """A set-params as the socket sends it: built, then recorded as sent."""
    mid, frame = await commands.set_params(params)
    await commands.sent(mid)
    return json.loads(frame)


async def test_a_refused_ack_changes_nothing(world):
    session = await create_session(world.alice_token)
    settings = SessionSettings("v1", "en", 2, "", False, preset_id=None)
    commands = Commands(session["id"], settings)
    mid = (await send(commands, {"voice_params": {"speed": 1.4}}))["mid"]

    await commands.on_ack("set-params", mid, 1001, "no")

    assert settings.voice_params == {}
    again = await send(commands, {"voice_params": {"pron_map": {"a": "b"}}})
    assert again["pld"]["data"]["vparams"] == {"vid": "v1", "pron_map": {"a": "b"}}


async def test_a_change_sent_before_the_last_ack_keeps_the_last_one(world):
    session = await create_session(world.alice_token)
    settings = SessionSettings("v1", "en", 2, "", False, preset_id=None)
    commands = Commands(session["id"], settings)
    first = await send(commands, {"voice_params": {"speed": 1.4}})
    second = await send(commands, {"voice_params": {"stt_type": "x"}})

    assert second["pld"]["data"]["vparams"] == {"vid": "v1", "speed": 1.4, "stt_type": "x"}
    await commands.on_ack("set-params", first["mid"], 1001, "busy")
    await commands.on_ack("set-params", second["mid"], 1000, "ok")
    assert settings.voice_params == {"speed": 1.4, "stt_type": "x"}  # what the avatar holds
