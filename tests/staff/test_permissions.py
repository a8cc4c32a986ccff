"""Who reaches the staff tools: ordinary users never; staff only within their Django
permissions (view/change on sessions, view_usage, the preset and token permissions)."""

from __future__ import annotations

import pytest
from django.test import Client

from sessions.models import AvatarSession
from tests.staff.helpers import SESSIONS, client_for, grant, open_session, superuser_client

pytestmark = pytest.mark.django_db(transaction=True)


def staff_urls(session: AvatarSession) -> dict[str, tuple[str, str]]:
    """Every staff page and action: name -> (method, path)."""
    return {
        "audit list": ("get", SESSIONS),
        "session page": ("get", f"{SESSIONS}{session.pk}/change/"),
        "live view": ("get", f"{SESSIONS}{session.pk}/live/"),
        "export csv": ("get", f"{SESSIONS}export.csv"),
        "export json": ("get", f"{SESSIONS}export.json"),
        "usage": ("get", f"{SESSIONS}usage/"),
        "close one": ("post", f"{SESSIONS}{session.pk}/close/"),
        "import avatars": ("post", "/admin/avatar_sessions/avatarpreset/import/"),
        "import voices": ("post", "/admin/avatar_sessions/voicepreset/import/"),
    }


def test_ordinary_users_and_anonymous_callers_are_sent_to_the_admin_sign_in(world):
    session = open_session(world)
    for client in (client_for(world.alice), Client()):
        for name, (method, url) in staff_urls(session).items():
            response = getattr(client, method)(url)
            assert response.status_code == 302, name
            assert response["Location"].startswith("/admin/login/"), name
    session.refresh_from_db()
    assert session.status == "active"


def test_staff_without_permissions_are_refused_everything(world):
    session = open_session(world)
    client = client_for(world.staff)
    for name, (method, url) in staff_urls(session).items():
        assert getattr(client, method)(url).status_code == 403, name
    session.refresh_from_db()
    assert session.status == "active"
    assert b"avs_" not in client.get("/admin/avatar_sessions/apitoken/").content


def test_view_permission_opens_the_audit_but_not_usage_close_or_import(world):
    session = open_session(world)
    client = client_for(grant(world.staff, "view_avatarsession"))
    for name in ("audit list", "session page", "live view", "export csv", "export json"):
        method, url = staff_urls(session)[name]
        assert getattr(client, method)(url).status_code == 200, name
    for name in ("usage", "close one", "import avatars", "import voices"):
        method, url = staff_urls(session)[name]
        assert getattr(client, method)(url).status_code == 403, name

    listing = client.get(SESSIONS).content.decode()
    assert 'value="close_live"' not in listing  # the action is not offered
    assert 'value="export_csv"' in listing
    page = client.get(f"{SESSIONS}{session.pk}/change/").content.decode()
    assert "End session" not in page
    assert "Watch live" in page
    # The action refuses too, whatever the form says.
    client.post(SESSIONS, {"action": "close_live", "_selected_action": [str(session.pk)]})
    session.refresh_from_db()
    assert session.status == "active"


def test_change_permission_lets_staff_close(world):
    session = open_session(world)
    client = client_for(grant(world.staff, "view_avatarsession", "change_avatarsession"))
    assert "End session" in client.get(f"{SESSIONS}{session.pk}/change/").content.decode()
    response = client.post(f"{SESSIONS}{session.pk}/close/")
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.status, session.close_reason) == ("closed", "admin")


def test_usage_needs_its_own_permission(world):
    client = client_for(grant(world.staff, "view_usage"))
    assert client.get(f"{SESSIONS}usage/").status_code == 200
    # Usage alone does not open the audit (links to it are not offered either).
    assert client.get(SESSIONS).status_code == 403
    assert f'href="{SESSIONS}?' not in client.get(f"{SESSIONS}usage/").content.decode()


def test_the_import_needs_add_and_change_on_both_preset_models_and_knowledge_bases(world):
    grant(world.staff, "view_avatarpreset", "add_avatarpreset", "change_avatarpreset")
    client = client_for(world.staff)
    listing = client.get("/admin/avatar_sessions/avatarpreset/").content.decode()
    assert "Import from the" not in listing
    assert client.post("/admin/avatar_sessions/avatarpreset/import/").status_code == 403
    grant(world.staff, "add_voicepreset", "change_voicepreset")
    client = client_for(world.staff)  # permissions are cached per user object
    assert client.post("/admin/avatar_sessions/avatarpreset/import/").status_code == 403
    grant(world.staff, "add_knowledgebase", "change_knowledgebase")
    client = client_for(world.staff)
    listing = client.get("/admin/avatar_sessions/avatarpreset/").content.decode()
    assert "Import from the sandbox catalog" in listing
    assert client.post("/admin/avatar_sessions/avatarpreset/import/").status_code == 302


def test_view_only_staff_cannot_revoke_tokens(world):
    client = client_for(grant(world.staff, "view_apitoken"))
    listing = client.get("/admin/avatar_sessions/apitoken/").content.decode()
    assert 'value="revoke"' not in listing
    client.post(
        "/admin/avatar_sessions/apitoken/",
        {"action": "revoke", "_selected_action": [str(world.alice_token_obj.pk)]},
    )
    world.alice_token_obj.refresh_from_db()
    assert not world.alice_token_obj.revoked


def test_the_staff_bar_offers_only_what_the_user_may_open(world):
    client = client_for(grant(world.staff, "view_avatarsession"))
    page = client.get(SESSIONS).content.decode()
    bar = page.split('<nav class="staff-nav"')[1].split("</nav>")[0]
    assert "Session audit" in bar and "Live sessions" in bar
    assert "Usage" not in bar and "API tokens" not in bar and "Avatars" not in bar

    everything = superuser_client(world).get(SESSIONS).content.decode()
    bar = everything.split('<nav class="staff-nav"')[1].split("</nav>")[0]
    for link in ("Session audit", "Live sessions", "Usage", "Avatars", "Voices", "API tokens"):
        assert link in bar


def test_closing_needs_a_post_with_the_csrf_token(world):
    session = open_session(world)
    grant(world.staff, "view_avatarsession", "change_avatarsession")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff)
    close = f"{SESSIONS}{session.pk}/close/"

    assert client.get(close).status_code == 200  # only its confirmation page
    assert client.post(close).status_code == 403  # no CSRF token
    action = {"action": "close_live", "_selected_action": [str(session.pk)]}
    assert client.post(SESSIONS, action).status_code == 403
    session.refresh_from_db()
    assert session.status == "active"
