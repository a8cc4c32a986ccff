"""The staff admin: presets, tokens, and the read-only session audit."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from sessions.access import user_principal
from sessions.models import ApiToken, AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import lifecycle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(world) -> Client:
    world.staff.is_superuser = True
    world.staff.save()
    client = Client()
    client.force_login(world.staff)
    return client


def open_session(world) -> AvatarSession:
    return async_to_sync(lifecycle.open_session)(
        user_principal(world.alice),
        preset=world.preset,
        voice_id="sandbox_voice_warm",
        language="en",
        mode=2,
        duration=600,
    )


def test_every_admin_list_and_form_renders(admin_client, world):
    session = open_session(world)
    TranscriptEntry.objects.create(session=session, role="user", mid="m1", text="hello there")
    for path in (
        "/admin/avatar_sessions/avatarpreset/",
        f"/admin/avatar_sessions/avatarpreset/{world.preset.pk}/change/",
        "/admin/avatar_sessions/voicepreset/",
        "/admin/avatar_sessions/apitoken/",
        "/admin/avatar_sessions/apitoken/add/",
        "/admin/avatar_sessions/avatarsession/",
        "/admin/avatar_sessions/avatarsession/?status__exact=active",
    ):
        assert admin_client.get(path).status_code == 200, path
    page = admin_client.get(f"/admin/avatar_sessions/avatarsession/{session.pk}/change/")
    assert page.status_code == 200
    assert b"hello there" in page.content  # transcript inline
    assert b"starting" in page.content  # event log inline
    assert session.rtc["token"].encode() not in page.content  # credentials stay out


def test_sessions_are_read_only_in_the_admin(admin_client, world):
    session = open_session(world)
    assert admin_client.get("/admin/avatar_sessions/avatarsession/add/").status_code == 403
    admin_client.post(
        f"/admin/avatar_sessions/avatarsession/{session.pk}/change/", {"status": "closed"}
    )
    session.refresh_from_db()
    assert session.status == "active"


def test_the_close_action_closes_live_sessions_with_reason_admin(admin_client, world):
    session = open_session(world)
    response = admin_client.post(
        "/admin/avatar_sessions/avatarsession/",
        {"action": "close_live", "_selected_action": [str(session.pk)]},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.status, session.close_reason) == ("closed", "admin")
    assert SessionEvent.objects.filter(session=session, message="closed").exists()


def test_a_token_created_in_the_admin_is_shown_once_and_stored_hashed(admin_client, world):
    response = admin_client.post(
        "/admin/avatar_sessions/apitoken/add/",
        {"owner": world.bob.pk, "name": "from admin"},
        follow=True,
    )
    token = ApiToken.objects.get(name="from admin")
    text = response.content.decode()
    assert "The new token is avs_" in text
    raw = text.split("The new token is ")[1].split(" ")[0]
    from sessions.models import hash_token

    assert hash_token(raw) == token.digest


def test_the_revoke_action_revokes(admin_client, world):
    admin_client.post(
        "/admin/avatar_sessions/apitoken/",
        {"action": "revoke", "_selected_action": [str(world.alice_token_obj.pk)]},
    )
    world.alice_token_obj.refresh_from_db()
    assert world.alice_token_obj.revoked


def test_ordinary_users_never_reach_the_admin(world):
    client = Client()
    client.force_login(world.alice)
    response = client.get("/admin/avatar_sessions/avatarsession/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
