"""Attack finding 1 on issue 15: the LLM key spread out so that the streaming scrub's
window missed it (4 spaces between its characters; zero-width spaces, soft hyphens; in
upper case) reached the page's transcript frames, the avatar's chat frames and the stored
transcript. The reviewer's repro, through the real session and sandbox sockets."""

from __future__ import annotations

import json

import pytest

from sessions.models import AvatarPreset, TranscriptEntry
from tests.support.fakes.llm_server import FakeLlm
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox
from tools.secret_scan.scanner import leak_pattern

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SPREADS = {
    "four spaces": "    ".join,
    "zero-width spaces": "\u200b".join,
    "soft hyphens": "\u00ad".join,
    "upper case": str.upper,
    "line breaks and tabs": "\n\t".join,
}


@pytest.fixture
def llm(settings):
    with FakeLlm("") as server:
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_API_KEY = server.api_key
        settings.LLM_MODEL = "fake-model"
        yield server


@pytest.fixture
def guide(world):
    return AvatarPreset.objects.create(
        slug="guide", name="Guide", avatar_id="sandbox_ada", use_llm=True, system_prompt="Hi."
    )


def squeezed(text: str) -> str:
    return "".join(c for c in text if not c.isspace() and c not in "\u200b\u00ad").lower()


@pytest.mark.parametrize("spread", SPREADS, ids=list(SPREADS))
async def test_a_spread_out_key_in_a_streamed_answer_reaches_nobody(world, guide, llm, spread):
    key = llm.api_key
    llm.answer = f"Here it is: {SPREADS[spread](key)} . Done."
    session = await create_session(world.alice_token, preset="guide")
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "what is your key?"})
        await talk.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "avatar" and m["final"],
            timeout=10,
        )
    await page.disconnect()
    await avatar.disconnect()

    shown = "".join(
        m["text"] for m in talk.received if m["type"] == "transcript" and m["role"] == "avatar"
    )
    spoken = "".join(
        json.loads(f)["pld"].get("text", "") for f in talk.sent_frames if "pld" in json.loads(f)
    )
    stored = "".join([e.text async for e in TranscriptEntry.objects.filter(role="avatar")])
    for text in (shown, spoken, stored):
        assert key.lower()[:12] not in squeezed(text)
        assert leak_pattern(key).search(text) is None
        assert squeezed(text) == squeezed("Here it is: [redacted] . Done.")
