"""Extend (issue 16): POST /sessions/{id}/extend opens a follow-on session that continues
the old one, and closes the old one; every refusal is a clear error and leaves the old
session running to its end."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from sessions.llm.conversation import Conversation
from sessions.models import AvatarSession, TranscriptEntry
from sessions.providers import get_provider
from sessions.services import transcript
from sessions.services.answers import Answerer
from tests.api.helpers import create
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def extendable(world):
    world.preset.extend_allowed = True
    world.preset.save()
    return world.preset


def _upstream_live(upstream_id: str) -> bool:
    return async_to_sync(get_provider("sandbox").session_detail)(upstream_id).is_live


def test_extend_opens_a_follow_on_that_continues_the_old_one(alice_api, world, extendable):
    old = create(alice_api, voice="lyon", language="fr", mode=1, duration=300)
    AvatarSession.objects.filter(pk=old["id"]).update(background_url="https://example.com/b.png")

    response = alice_api.post(f"/sessions/{old['id']}/extend")

    assert response.status_code == 201, response.content
    new = response.json()
    assert new["id"] != old["id"] and new["status"] == "active" and new["rtc"]
    was = AvatarSession.objects.get(pk=old["id"])
    row = AvatarSession.objects.get(pk=new["id"])
    assert row.continues_id == was.pk
    assert (was.status, was.close_reason) == ("closed", "extended")
    same = ("preset_id", "voice_id", "language", "mode", "duration", "owner_id", "principal")
    assert [getattr(row, f) for f in same] == [getattr(was, f) for f in same]
    assert row.background_url == "https://example.com/b.png"
    # Two upstream sessions: the old one closed there too, the new one live.
    assert row.upstream_id != was.upstream_id
    assert not _upstream_live(was.upstream_id)
    assert _upstream_live(row.upstream_id)
    assert alice_api.get(f"/sessions/{old['id']}").json()["close_reason"] == "extended"


def test_the_owner_may_extend_from_another_sign_in_which_it_counts_against(world, extendable):
    token_api = Api(token=world.alice_token)
    old = create(token_api)
    response = Api(user=world.alice).post(f"/sessions/{old['id']}/extend")
    assert response.status_code == 201, response.content
    new = AvatarSession.objects.get(pk=response.json()["id"])
    assert new.principal == f"user:{world.alice.pk}"


def test_extend_never_carries_on_a_revoked_token(world, extendable):
    """F8: the old session's token, revoked since, is not copied to the follow-on."""
    old = create(Api(token=world.alice_token))
    world.alice_token_obj.revoked_at = timezone.now()
    world.alice_token_obj.save(update_fields=["revoked_at"])

    response = Api(user=world.alice).post(f"/sessions/{old['id']}/extend")

    assert response.status_code == 201, response.content
    new = AvatarSession.objects.get(pk=response.json()["id"])
    assert new.principal == f"user:{world.alice.pk}"
    assert "token:" not in new.principal


def test_a_tick_required_since_the_start_is_asked_for_on_extend(alice_api, world, extendable):
    """F6: the preset turned the recording notice's tick on after the session started."""
    old = create(alice_api)
    extendable.consent_required = True
    extendable.save()

    refused = alice_api.post(f"/sessions/{old['id']}/extend")

    assert_error(refused, 400, "consent_required")
    assert AvatarSession.objects.get(pk=old["id"]).status == "active"
    assert AvatarSession.objects.count() == 1
    assert_error(alice_api.post(f"/sessions/{old['id']}/extend", {"consent": "yes"}), 422)
    ticked = alice_api.post(f"/sessions/{old['id']}/extend", {"consent": True})
    assert ticked.status_code == 201, ticked.content


def test_a_preset_that_does_not_allow_it_is_refused_and_the_session_goes_on(alice_api, world):
    old = create(alice_api)
    assert_error(alice_api.post(f"/sessions/{old['id']}/extend"), 403, "extend_not_allowed")
    assert AvatarSession.objects.get(pk=old["id"]).status == "active"
    assert AvatarSession.objects.count() == 1


def test_a_session_that_is_not_live_is_refused(alice_api, extendable):
    old = create(alice_api)
    alice_api.post(f"/sessions/{old['id']}/close")
    assert_error(alice_api.post(f"/sessions/{old['id']}/extend"), 409, "session_not_live")
    assert AvatarSession.objects.count() == 1


def test_another_user_cannot_extend_and_learns_nothing(alice_api, bob_api, extendable):
    old = create(alice_api)
    assert_error(bob_api.post(f"/sessions/{old['id']}/extend"), 404, "session_not_found")
    assert AvatarSession.objects.get(pk=old["id"]).status == "active"
    assert AvatarSession.objects.count() == 1


def test_staff_who_may_watch_a_session_cannot_extend_it(alice_api, auditor, extendable):
    old = create(alice_api)
    assert_error(Api(user=auditor).post(f"/sessions/{old['id']}/extend"), 403, "forbidden")
    assert AvatarSession.objects.get(pk=old["id"]).status == "active"


def test_a_limit_refuses_it_the_session_goes_on_and_a_later_try_may_pass(
    alice_api, settings, extendable
):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    old = create(alice_api)
    refused = alice_api.post(f"/sessions/{old['id']}/extend")
    assert_error(refused, 429)
    assert refused["Retry-After"]
    assert AvatarSession.objects.get(pk=old["id"]).status == "active"
    assert not AvatarSession.objects.filter(continues_id=old["id"], status="active").exists()

    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 2
    assert alice_api.post(f"/sessions/{old['id']}/extend").status_code == 201


def test_our_llm_remembers_the_old_sessions_conversation(alice_api, extendable):
    old = create(alice_api)
    said = TranscriptEntry.objects.create
    said(session_id=old["id"], role="user", mid="u1", text="I am Ada's friend Tom.")
    said(session_id=old["id"], role="avatar", mid="a1", text="Hello Tom!", final=True)
    new = alice_api.post(f"/sessions/{old['id']}/extend").json()
    said(session_id=new["id"], role="user", mid="u2", text="Who am I?")

    async def history() -> list[dict]:
        answerer = Answerer.__new__(Answerer)  # only its history: no pacer, no page
        answerer.session_id = new["id"]
        answerer.conversation = Conversation("You are Ada.")
        await answerer.load_history()
        return answerer.conversation.messages()

    messages = async_to_sync(history)()
    assert [m["content"] for m in messages if m["role"] != "system"] == [
        "I am Ada's friend Tom.",
        "Hello Tom!",
        "Who am I?",
    ]
    # The old session's own transcript stays its own: nothing was copied into the new one.
    assert TranscriptEntry.objects.filter(session_id=new["id"]).count() == 1


def test_a_chain_of_extends_is_one_conversation(alice_api, extendable):
    first = create(alice_api)
    second = alice_api.post(f"/sessions/{first['id']}/extend").json()
    third = alice_api.post(f"/sessions/{second['id']}/extend").json()
    ids = async_to_sync(transcript.conversation_ids)(third["id"])
    assert [str(i) for i in ids] == [first["id"], second["id"], third["id"]]
