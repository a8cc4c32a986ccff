"""Issue 20 for staff: embed keys in the admin (permissions, the origins' form errors, the
snippet), turning a key off (its live sessions end with `revoked`, their pages told), the
staff log, the usage page's per-key figures and the audit's filter by key."""

from __future__ import annotations

import html

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import AsyncClient

from avatarsite.asgi import application
from sessions import embed_tokens
from sessions.models import AvatarSession, EmbedKey, StaffAction, Status
from sessions.services import embeds
from tests.staff.helpers import SESSIONS, client_for, grant, messages_of, open_session
from tests.support.wsutil import ORIGIN

KEYS = "/admin/avatar_sessions/embedkey/"
USAGE = SESSIONS + "usage/"
SHOP = "https://shop.test"


def form_data(**changes) -> dict:
    data = {
        "name": "Shop",
        "active": "on",
        "allowed_origins": SHOP,
        "host_may_start": "on",
        "host_may_end": "on",
        "visitor_sessions_per_hour": 5,
        "visitor_concurrent": 1,
        "visitor_minutes_per_day": 30,
        "key_sessions_per_hour": 100,
        "key_concurrent": 5,
        "key_minutes_per_day": 600,
        "presets": None,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def embed_key(world):
    key = EmbedKey.objects.create(name="Shop", allowed_origins=SHOP)
    key.presets.add(world.preset)
    return key


@pytest.fixture
def keeper(world):
    """world.staff with every permission on embed keys."""
    return grant(world.staff, "view_embedkey", "add_embedkey", "change_embedkey")


def embed_session(world, key: EmbedKey) -> AvatarSession:
    session = open_session(world)
    AvatarSession.objects.filter(pk=session.pk).update(embed_key=key)
    session.refresh_from_db()
    return session


def test_staff_without_the_permission_see_no_keys(world, embed_key):
    client = client_for(world.staff)
    assert client.get(KEYS).status_code == 403
    assert client.get(f"{KEYS}{embed_key.pk}/change/").status_code == 403
    assert client.post(f"{KEYS}add/", form_data()).status_code == 403
    assert EmbedKey.objects.count() == 1
    assert "Embed keys" not in client.get(SESSIONS).text  # no link in the staff bar either


def test_view_only_staff_see_the_list_but_cannot_turn_keys_off(world, embed_key):
    client = client_for(grant(world.staff, "view_embedkey"))
    page = client.get(KEYS)
    assert page.status_code == 200
    assert embed_key.public_key in page.text and SHOP in page.text
    assert "turn_off_keys" not in page.text
    client.post(KEYS, {"action": "turn_off_keys", ACTION_CHECKBOX_NAME: [embed_key.pk]})
    embed_key.refresh_from_db()
    assert embed_key.active


def test_bad_origins_are_a_form_error_on_the_field(world, keeper):
    response = client_for(keeper).post(
        f"{KEYS}add/",
        form_data(allowed_origins="https://shop.test/cart", presets=[world.preset.pk]),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["allowed_origins"]
    assert len(errors["allowed_origins"]) == 1  # one clear sentence, not two
    assert "is not an origin" in errors["allowed_origins"][0]
    assert "is not an origin" in html.unescape(response.text)
    assert not EmbedKey.objects.exists()


def test_no_origin_at_all_is_a_form_error(world, keeper):
    response = client_for(keeper).post(f"{KEYS}add/", form_data(allowed_origins=" , "))
    assert response.status_code == 200
    assert "List at least one origin." in response.context["adminform"].form.errors.as_text()
    assert not EmbedKey.objects.exists()


def test_a_key_is_created_with_its_origins_normalised_and_the_staff_log_says_so(world, keeper):
    response = client_for(keeper).post(
        f"{KEYS}add/",
        form_data(
            allowed_origins="HTTPS://Shop.Test:443/\nhttp://localhost:8000, https://shop.test",
            presets=[world.preset.pk],
        ),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    key = EmbedKey.objects.get()
    assert key.allowed_origins == "https://shop.test\nhttp://localhost:8000"
    assert key.public_key.startswith("ek_")
    assert list(key.presets.all()) == [world.preset]
    record = StaffAction.objects.get()
    assert record.actor == keeper
    assert record.data["action"] == "embed_create"
    assert record.data["embed_key"] == key.pk


def test_the_add_page_shows_no_public_key_before_there_is_one(world, keeper):
    # A new key's public key is made on save; one shown before would never be saved
    # (a new user copied it into their website).
    page = client_for(keeper).get(f"{KEYS}add/").content.decode()
    assert "ek_" not in page
    assert 'name="name"' in page


def test_the_change_page_shows_the_snippet_with_this_sites_origin(world, keeper, embed_key):
    page = client_for(keeper).get(f"{KEYS}{embed_key.pk}/change/")
    text = html.unescape(page.text)
    assert (
        f'<script src="http://testserver/embed.js" data-key="{embed_key.public_key}" async>' in text
    )
    assert f'<avatar-embed key="{embed_key.public_key}"' in text
    assert 'id="copy-token" data-target="embed-script"' in page.text
    assert "js/staff_token.js" in page.text
    # Turned off, never deleted: its sessions keep naming it.
    assert client_for(keeper).get(f"{KEYS}{embed_key.pk}/delete/").status_code == 403
    # The public key is shown, never editable.
    assert 'name="public_key"' not in page.text


def test_a_change_is_recorded_with_the_fields_changed(world, keeper, embed_key):
    response = client_for(keeper).post(
        f"{KEYS}{embed_key.pk}/change/",
        form_data(key_minutes_per_day=60, presets=[world.preset.pk]),
    )
    assert response.status_code == 302
    record = StaffAction.objects.get()
    assert record.data["action"] == "embed_change"
    assert record.data["fields"] == ["key_minutes_per_day"]


def test_the_list_action_asks_first_then_turns_off_and_ends_live_sessions(world, keeper, embed_key):
    live = embed_session(world, embed_key)
    other = open_session(world, world.bob)  # not of the key: stays live
    client = client_for(keeper)
    chosen = {"action": "turn_off_keys", ACTION_CHECKBOX_NAME: [embed_key.pk]}
    confirm = client.post(KEYS, chosen)
    assert confirm.status_code == 200
    assert "Shop: 1 live session" in confirm.text
    embed_key.refresh_from_db()
    assert embed_key.active  # nothing happened on one click

    done = client.post(KEYS, {**chosen, "post": "yes"}, follow=True)
    assert messages_of(done) == ["Turned off 1 key.", "1 live session ended."]
    embed_key.refresh_from_db()
    live.refresh_from_db()
    other.refresh_from_db()
    assert not embed_key.active
    assert (live.status, live.close_reason) == (Status.CLOSED, "revoked")
    assert other.status == Status.ACTIVE
    record = StaffAction.objects.get(data__action="embed_off")
    assert record.data["closed"] == 1 and record.actor == keeper


def test_turn_on_again(world, keeper, embed_key):
    embed_key.active = False
    embed_key.save()
    client_for(keeper).post(KEYS, {"action": "turn_on_keys", ACTION_CHECKBOX_NAME: [embed_key.pk]})
    embed_key.refresh_from_db()
    assert embed_key.active
    assert StaffAction.objects.filter(data__action="embed_on").count() == 1


def test_unticking_active_in_the_form_ends_live_sessions_too(world, keeper, embed_key):
    live = embed_session(world, embed_key)
    response = client_for(keeper).post(
        f"{KEYS}{embed_key.pk}/change/", form_data(active=None, presets=[world.preset.pk])
    )
    assert response.status_code == 302
    live.refresh_from_db()
    embed_key.refresh_from_db()
    assert not embed_key.active
    assert live.close_reason == "revoked"
    assert list(StaffAction.objects.values_list("data__action", flat=True)) == ["embed_off"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_visitors_page_is_told_its_session_ended_when_the_key_is_turned_off(
    world, embed_key
):
    token = embed_tokens.issue(embed_key.public_key, SHOP)
    response = await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.content
    page = WebsocketCommunicator(
        application,
        response.json()["ws_path"],
        headers=[ORIGIN],
        subprotocols=[embed_tokens.SOCKET_PROTOCOL, token],
    )
    assert (await page.connect())[0]
    assert (await page.receive_json_from(timeout=5))["type"] == "session"

    done = await sync_to_async(embeds.revoke)(embed_key)
    assert (done.closed, done.failed) == (1, 0)
    frames = []
    while not frames or frames[-1].get("status") != Status.CLOSED:
        frames.append(await page.receive_json_from(timeout=5))
    assert frames[-1]["type"] == "session"
    assert frames[-1]["close_reason"] == "revoked"
    await page.disconnect()


def test_usage_figures_of_a_key(world, keeper, embed_key):
    embed_session(world, embed_key)  # 600 s reserved, live
    closed = embed_session(world, embed_key)
    AvatarSession.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    open_session(world, world.bob)  # not the key's
    figures = embeds.usage(embed_key)
    assert (figures.sessions_today, figures.minutes_today, figures.live) == (2, 20, 1)
    assert (figures.sessions_month, figures.minutes_month) == (2, 20)
    assert figures.percent_today == pytest.approx(100 * 20 / 600)

    client = client_for(grant(world.staff, "view_usage"))
    page = client.get(USAGE).text
    section = page[page.index('id="usage-embed-') :]
    assert "Shop" in section
    assert "20 of 600 (3 %)" in section
    keys = client_for(keeper).get(KEYS).text
    assert '<td class="field-live_now">1</td>' in keys
    assert '<td class="field-today">2</td>' in keys


def test_the_audit_filters_by_key_naming_it_by_its_name_only(world, embed_key):
    mine = embed_session(world, embed_key)
    open_session(world, world.bob)
    client = client_for(grant(world.staff, "view_avatarsession"))
    listing = client.get(SESSIONS)
    assert f"?embed_key={embed_key.pk}" in listing.text
    filtered = client.get(SESSIONS, {"embed_key": embed_key.pk})
    assert [s.pk for s in filtered.context["cl"].result_list] == [mine.pk]
    # Only the declared value: no lookup into the key's fields.
    refused = client.get(SESSIONS, {"embed_key__public_key__startswith": "ek_"})
    assert refused.status_code == 400
    assert client.get(SESSIONS, {"embed_key": "x"}).context["cl"].result_count == 0
    record = client.get(f"{SESSIONS}{mine.pk}/change/")
    assert f"/admin/avatar_sessions/embedkey/{embed_key.pk}/change/" in record.text


def test_revoked_is_said_in_words_on_the_audit(world, embed_key):
    session = embed_session(world, embed_key)
    embeds.revoke(embed_key)
    client = client_for(grant(world.staff, "view_avatarsession", "view_usage"))
    words = "the website’s embed key was turned off"
    assert words in html.unescape(client.get(SESSIONS).text).replace("'", "’")
    assert words in html.unescape(client.get(USAGE).text).replace("'", "’")
    assert AvatarSession.objects.get(pk=session.pk).close_reason == "revoked"


def test_a_close_that_fails_is_logged_and_left_to_the_reaper(
    world, keeper, embed_key, monkeypatch, caplog
):
    first, second = embed_session(world, embed_key), embed_session(world, embed_key)
    real_close = embeds.lifecycle.close_session

    async def flaky_close(session_id, reason):
        if session_id == first.pk:
            raise RuntimeError("the avatar service did not answer")
        return await real_close(session_id, reason)

    monkeypatch.setattr(embeds.lifecycle, "close_session", flaky_close)
    chosen = {"action": "turn_off_keys", ACTION_CHECKBOX_NAME: [embed_key.pk], "post": "yes"}
    done = client_for(keeper).post(KEYS, chosen, follow=True)
    assert messages_of(done) == [
        "Turned off 1 key.",
        "1 live session ended.",
        "1 session did not confirm the end yet: it will be ended shortly.",
    ]
    second.refresh_from_db()
    assert second.close_reason == "revoked"
    assert AvatarSession.objects.get(pk=first.pk).status == Status.ACTIVE  # for the reaper
    assert f"session {first.pk} not closed yet" in caplog.text
    assert StaffAction.objects.get(data__action="embed_off").data["failed"] == 1
