"""Issue 17 on the staff pages, with the Django test client (helper D17): the session list
and page name the preset as its filter does; a live row's chats read "1 so far"; the
tokens pages say "API token(s)"; the session page's paging links keep the other list's
page and land on their section; ending sessions is told in a person's words."""

from __future__ import annotations

import html
import re

import pytest
from django.test import override_settings

from sessions import errors
from sessions.models import ApiToken, SessionEvent, TranscriptEntry
from sessions.staff import views
from tests.staff.helpers import (
    SESSIONS,
    at,
    client_for,
    grant,
    messages_of,
    open_session,
    recorded_session,
    superuser_client,
)

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = "/admin/avatar_sessions/apitoken/"


@pytest.fixture
def staff(world):
    return superuser_client(world)


def title(page: str) -> str:
    return html.unescape(re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)).strip()


# --- 1. The preset by its name -------------------------------------------------------------


def test_the_list_and_the_session_page_name_the_preset_as_its_filter_does(staff, world):
    world.preset.name = "Ada Lovelace"
    world.preset.save()
    session = recorded_session(world)

    listing = staff.get(SESSIONS).text
    assert "preset slug" not in listing.lower()  # no column of slugs
    header = r'column-preset_name">\s*<div class="text"><a [^>]*>Preset</a>'
    assert re.search(header, listing)
    assert re.search(r'<td class="field-preset_name">Ada Lovelace</td>', listing)
    # The filter says the same.
    assert f'preset__id__exact={world.preset.pk}">Ada Lovelace</a>' in listing.replace("&amp;", "&")

    page = staff.get(f"{SESSIONS}{session.pk}/change/").text
    assert title(page) == f"Session {str(session.pk)[:8]}: Ada Lovelace with {world.alice}"


def test_a_session_whose_preset_is_gone_keeps_its_slug(staff, world):
    session = recorded_session(world)
    session.preset = None
    session.save(update_fields=["preset"])
    listing = staff.get(SESSIONS).text
    assert '<td class="field-preset_name">ada</td>' in listing
    page = staff.get(f"{SESSIONS}{session.pk}/change/").text
    assert title(page).endswith(": ada with alice")


# --- 2. A live row's chats -----------------------------------------------------------------


def test_a_live_rows_chats_read_so_far_and_nothing_more(staff, world):
    session = open_session(world)
    TranscriptEntry.objects.create(session=session, role="user", mid="m1", text="hi")
    listing = staff.get(f"{SESSIONS}?status__exact=active").text
    assert '<td class="field-chats">1 so far</td>' in listing
    assert "counted from its transcript" not in listing


# --- 3. API tokens -------------------------------------------------------------------------


def test_the_tokens_pages_say_api_token_properly(staff, world):
    assert ApiToken._meta.verbose_name == "API token"
    ApiToken.objects.all().delete()  # the world's own, so the count starts at none
    page = staff.get(TOKENS).text
    assert title(page) == "Select an API token to change"
    assert "0 API tokens" in page
    assert "api token" not in page.lower().replace("api tokens", "").replace("api token", "")
    ApiToken.issue(world.alice, "laptop")
    assert re.search(r"\b1 API token\b(?!s)", staff.get(TOKENS).text)
    assert "Add API token" in html.unescape(staff.get(f"{TOKENS}add/").text)

    viewer = client_for(grant(world.staff, "view_apitoken"))
    world.staff.is_superuser = False
    world.staff.save()
    assert title(viewer.get(TOKENS).text) == "Select an API token to view"


def test_revoking_one_token_says_token_not_tokens(staff, world):
    token, _ = ApiToken.issue(world.alice, "laptop")
    done = staff.post(TOKENS, {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert messages_of(done) == ["Revoked 1 token."]


# --- 4. Paging the session page --------------------------------------------------------------


@override_settings(AUDIT_PAGE_SIZE=2)
def test_paging_one_list_keeps_the_others_page_and_lands_on_its_section(staff, world):
    session = recorded_session(world)  # 4 lines, 7 events
    SessionEvent.objects.create(session=session, kind="info", message="more", created_at=at(300))
    url = f"{SESSIONS}{session.pk}/change/"

    # On the events' second page, "Later lines" keeps it and lands on the transcript.
    page = html.unescape(staff.get(f"{url}?events=2").text)
    assert '<section class="module staff-panel" id="transcript-panel"' in page
    assert 'class="page-next" href="?events=2&lines=2#transcript-panel"' in page
    # On the lines' second page, both events links keep it and land on the event log.
    page = html.unescape(staff.get(f"{url}?events=2&lines=2").text)
    assert 'class="page-previous" href="?events=1&lines=2#events-panel"' in page
    assert 'class="page-next" href="?events=3&lines=2#events-panel"' in page
    assert 'class="page-previous" href="?events=2&lines=1#transcript-panel"' in page
    # Following one shows both lists where they were.
    shown = staff.get(f"{url}?events=3&lines=2").text
    assert "Lines 3–4 of 4" in shown and "Events 5–6 of 8" in shown


# --- 5. Ending sessions, told in words --------------------------------------------------------


def test_ending_sessions_is_told_in_words(staff, world, monkeypatch):
    first = open_session(world)
    second = open_session(world, world.bob)
    done = staff.post(
        SESSIONS,
        {"action": "close_live", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert messages_of(done) == ["Ended 2 sessions."]

    live = [open_session(world), open_session(world, world.bob)]
    third = open_session(world, world.staff)
    real = views.lifecycle.close_session

    async def refuses_the_third(session_id, reason):
        if session_id == third.pk:
            raise errors.DomainError("upstream_error", "The avatar service did not answer.")
        return await real(session_id, reason)

    monkeypatch.setattr(views.lifecycle, "close_session", refuses_the_third)
    done = staff.post(
        SESSIONS,
        {"action": "close_live", "_selected_action": [s.pk for s in [*live, third]]},
        follow=True,
    )
    said = messages_of(done)
    assert said[-1] == "Ended 2 sessions; 1 could not be ended yet (the reaper retries it)."
    assert not any("session(s)" in m or "failed" in m for m in said)
