"""API tokens in the admin: created and named by staff, shown once, revoked; last use."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from sessions.models import ApiToken, hash_token
from tests.conftest import Api
from tests.staff.helpers import superuser_client
from tests.support.wsutil import create_session, open_page

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = "/admin/avatar_sessions/apitoken/"


@pytest.fixture
def staff(world):
    return superuser_client(world)


def create(staff, owner, name: str) -> tuple[ApiToken, str, object]:
    response = staff.post(f"{TOKENS}add/", {"owner": owner.pk, "name": name})
    assert response.status_code == 200
    token = ApiToken.objects.get(name=name)
    raw = response.text.split('id="new-token"')[1].split('value="')[1].split('"')[0]
    return token, raw, response


def test_a_new_token_is_shown_once_on_its_own_page(staff, world):
    token, raw, response = create(staff, world.bob, "bob's CRM")

    assert raw.startswith("avs_") and hash_token(raw) == token.digest
    assert token.prefix == raw[:10]
    assert f"The new token is {raw} — copy it now" in response.text
    assert "no-store" in response["Cache-Control"]
    # Never parked in a message (a cookie or the session store) for a later page.
    assert all(raw not in cookie.value for cookie in response.cookies.values())
    later = staff.get(TOKENS).text
    assert raw not in later
    assert token.prefix in later
    # The page's module copies it; no inline script.
    assert '<script type="module" src="/static/js/staff_token.js"></script>' in response.text


def test_the_new_token_works_and_its_last_use_shows(staff, world):
    token, raw, _ = create(staff, world.bob, "bob's script")
    row = staff.get(f"{TOKENS}?q=script").text
    assert "never" in row and '<span class="badge state-active">active</span>' in row

    assert Api(token=raw).get("/sessions").status_code == 200

    token.refresh_from_db()
    assert token.last_used_at is not None
    assert "never" not in staff.get(f"{TOKENS}?q=script").text.split("<tbody>")[1]


def test_revoking_stops_the_token_at_once(staff, world):
    response = staff.post(
        TOKENS,
        {"action": "revoke", "_selected_action": [str(world.alice_token_obj.pk)]},
        follow=True,
    )
    assert "Revoked 1 token." in response.text
    assert Api(token=world.alice_token).get("/sessions").status_code == 401
    revoked = staff.get(f"{TOKENS}?state=revoked").context["cl"].result_list
    assert list(revoked) == [world.alice_token_obj]
    active = staff.get(f"{TOKENS}?state=active").context["cl"].result_list
    assert world.alice_token_obj not in list(active)


def test_a_token_can_be_renamed_but_its_secret_never_changes(staff, world):
    token = world.bob_token_obj
    page = staff.get(f"{TOKENS}{token.pk}/change/").text
    assert 'name="name"' in page and 'name="digest"' not in page
    staff.post(
        f"{TOKENS}{token.pk}/change/",
        {"owner": world.bob.pk, "name": "renamed", "revoked_at_0": "", "revoked_at_1": ""},
    )
    token.refresh_from_db()
    assert token.name == "renamed"
    assert Api(token=world.bob_token).get("/sessions").status_code == 200


def test_revoking_in_the_admin_closes_the_token_s_live_socket_at_once(staff, world):
    async def scenario():
        session = await create_session(world.alice_token)
        page = await open_page(session, world.alice_token)
        await page.receive_from()  # the session state
        await sync_to_async(staff.post)(
            TOKENS, {"action": "revoke", "_selected_action": [str(world.alice_token_obj.pk)]}
        )
        said = []
        while True:
            output = await page.receive_output(timeout=2)
            if output["type"] == "websocket.close":
                return output["code"], said
            said.append(json.loads(output["text"]))

    code, said = async_to_sync(scenario)()
    assert code == 4401
    assert said[-1]["code"] == "access_revoked"
