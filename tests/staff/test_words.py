"""Issue 17 on the staff pages, with the Django test client: the session page says the
mode, voice and language in words and a live session's true chat count; ending a session
takes a confirmation step; every admin page links the site's icon and /favicon.ico
answers. The words themselves come from sessions/display.py, tested here too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from sessions import display
from sessions.models import TranscriptEntry
from tests.staff.helpers import (
    SESSIONS,
    client_for,
    grant,
    messages_of,
    open_session,
    recorded_session,
    superuser_client,
)

pytestmark = pytest.mark.django_db(transaction=True)

SETUP_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "setup.js"


@pytest.fixture
def staff(world) -> Client:
    return superuser_client(world)


def readonly(page: str, field: str) -> str:
    """The text the admin shows for a read-only field of the session page."""
    found = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert found, f"no read-only field {field}"
    return found.group(1).strip()


# --- The words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "—"),
        (0, "0 s"),
        (5, "5 s"),
        (59.6, "1 min"),
        (65, "1 min 5 s"),
        (720, "12 min"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds, words):
    assert display.duration_words(seconds) == words


def test_languages_and_modes_by_name_as_the_setup_page_names_them(world):
    assert display.language_name("fr") == "French"
    assert display.language_name("xx") == "xx"  # unknown: as it is, never hidden
    assert display.mode_name(2) == "Dialogue"
    assert display.mode_name(1) == "Retelling"
    assert display.mode_name(1, use_llm=True) == "Own assistant"
    setup = SETUP_JS.read_text()
    for name in ("Dialogue", "Retelling", "Own assistant"):
        assert f'[t("{name}"),' in setup, name  # static/js/setup.js MODE_TEXT


def test_a_voice_is_its_presets_name_and_its_id_only_when_no_preset_knows_it(world):
    assert display.voice_names(["sandbox_voice_lyon", "mystery", ""]) == {
        "sandbox_voice_lyon": "Lyon"
    }


# --- The session page ------------------------------------------------------------------------


def test_the_session_page_says_mode_voice_and_language_in_words(staff, world):
    session = recorded_session(world, mode=2, voice_id="sandbox_voice_lyon", language="fr")
    page = staff.get(f"{SESSIONS}{session.pk}/change/").text
    assert readonly(page, "mode_shown") == "Dialogue"
    assert readonly(page, "voice") == "Lyon (sandbox_voice_lyon)"
    assert readonly(page, "language_shown") == "French (fr)"
    assert 'field-mode"' not in page  # the raw number is not shown beside it

    unknown = recorded_session(world, mode=1, use_llm=True, voice_id="mystery_voice")
    page = staff.get(f"{SESSIONS}{unknown.pk}/change/").text
    assert readonly(page, "mode_shown") == "Own assistant"
    assert readonly(page, "voice") == "mystery_voice"


def test_a_live_session_shows_the_chats_sent_so_far(staff, world):
    session = open_session(world)
    for mid in ("m1", "m2"):
        TranscriptEntry.objects.create(session=session, role="user", mid=mid, text="hi")
    TranscriptEntry.objects.create(session=session, role="avatar", mid="m1", text="hello")
    assert session.chat_count == 0  # written only when its socket leaves

    page = staff.get(f"{SESSIONS}{session.pk}/change/").text
    assert readonly(page, "chats") == "2 so far"
    listing = staff.get(f"{SESSIONS}?status__exact=active").text
    assert re.search(r'field-chats">2 so far', listing)

    ended = recorded_session(world, chat_count=7)
    assert readonly(staff.get(f"{SESSIONS}{ended.pk}/change/").text, "chats") == "7"


# --- Ending a session: a confirmation step ---------------------------------------------------


def test_ending_a_live_session_takes_a_confirmation_step(world):
    session = open_session(world)
    grant(world.staff, "view_avatarsession", "change_avatarsession")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff)

    record = client.get(f"{SESSIONS}{session.pk}/change/").text
    close = f"{SESSIONS}{session.pk}/close/"
    assert f'<a class="end-session-link danger" href="{close}">End session…</a>' in record
    assert "Close session" not in record  # no clash with the admin's own "Close"
    assert f'action="{close}"' not in record  # nothing on this page ends it at once

    # Following the link only asks.
    confirm = client.get(close)
    assert confirm.status_code == 200
    text = confirm.text
    assert "End this live session?" in text and "Yes, end the session" in text
    assert "No, keep it running" in text and f'href="{SESSIONS}{session.pk}/change/"' in text
    assert 'method="post"' in text and "csrfmiddlewaretoken" in text
    session.refresh_from_db()
    assert session.status == "active"

    # Its form (POST + CSRF) ends it.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)
    done = client.post(close, {"csrfmiddlewaretoken": token}, follow=True)
    assert messages_of(done) == ["Ended 1 session."]
    session.refresh_from_db()
    assert (session.status, session.close_reason) == ("closed", "admin")


def test_the_confirmation_needs_the_right_to_end_and_a_live_session(world):
    session = open_session(world)
    viewer = client_for(grant(world.staff, "view_avatarsession"))
    assert viewer.get(f"{SESSIONS}{session.pk}/close/").status_code == 403
    assert viewer.put(f"{SESSIONS}{session.pk}/close/").status_code in (403, 405)

    ended = recorded_session(world)
    staff = superuser_client(world)
    response = staff.get(f"{SESSIONS}{ended.pk}/close/", follow=True)
    assert response.redirect_chain == [(f"{SESSIONS}{ended.pk}/change/", 302)]
    assert messages_of(response) == ["That session is not live any more: nothing to end."]
    assert staff.put(f"{SESSIONS}{session.pk}/close/").status_code == 405


def test_the_list_action_says_end_too(staff, world):
    recorded_session(world)  # the admin shows its actions only over rows
    listing = staff.get(SESSIONS).text
    assert "End selected live sessions" in listing
    assert "Close selected live sessions" not in listing


# --- The icon ---------------------------------------------------------------------------------


def test_every_admin_page_links_the_icon_and_favicon_ico_answers(staff, world):
    session = recorded_session(world)
    for path in (
        "/admin/",
        SESSIONS,
        f"{SESSIONS}{session.pk}/change/",
        f"/admin/avatar_sessions/avatarpreset/{world.preset.pk}/change/",
        f"{SESSIONS}usage/",
    ):
        page = staff.get(path).text
        assert re.search(r'<link rel="icon" href="/static/img/favicon[^"]*\.svg"', page), path
    assert 'rel="icon"' in Client().get("/admin/login/").text

    icon = Client().get("/favicon.ico")
    assert icon.status_code == 302
    assert re.fullmatch(r"/static/img/favicon[^/]*\.svg", icon["Location"])
    assert "max-age=86400" in icon["Cache-Control"]
