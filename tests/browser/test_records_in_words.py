"""Issue 17 in real Chromium: History and the staff pages in a person's words.

- History and a history entry show the voice's name, the language's name, the mode as the
  setup page names it and durations as people say them ("5 s", "1 min 5 s", "12 min").
- The admin session page of a live session shows its mode by name and the chats sent so
  far; "End session…" asks first (its page ends nothing), and only "Yes, end the session"
  ends it (the user's page learns it).
- The preset edit page's thumbnail is visible (not 0x0); the site's icon answers on every
  page and at /favicon.ico (no 404 anywhere).

Screenshots: artifacts/screenshots/b17-history.png, b17-history-entry.png,
b17-admin-session.png, b17-end-confirm.png, b17-preset.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    SCREENSHOTS,
    Tab,
    close_tab,
    open_tab,
    screenshot,
    send_chat,
    sign_in,
    start_session,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

STAFF = ("admin", "admin-password")  # seed_demo's superuser
SESSIONS = "/admin/avatar_sessions/avatarsession/"

# The demo user's finished sessions: each names a voice, a language and a mode, and lasted
# a known time. Newest first in History: 5 s, then 65 s, then 12 min.
FINISHED = r"""
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from sessions.models import AvatarPreset, AvatarSession

demo = get_user_model().objects.get(username="demo")
ada = AvatarPreset.objects.get(slug="ada")
now = timezone.now()
for hours, seconds, voice, language, mode, llm in [
    (1, 5, "sandbox_voice_lyon", "fr", 2, False),
    (2, 65, "mystery_voice", "de", 1, True),
    (3, 720, "", "en", 1, False),
]:
    start = now - timedelta(hours=hours)
    AvatarSession.objects.create(
        owner=demo, principal=f"user:{demo.pk}", preset=ada, preset_slug="ada",
        provider="sandbox", avatar_id=ada.avatar_id, duration=900, status="closed",
        close_reason="user", created_at=start, started_at=start,
        closed_at=start + timedelta(seconds=seconds), voice_id=voice, language=language,
        mode=mode, use_llm=llm,
    )
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("b17-live"))
    live.start()
    live.manage("shell", "-c", FINISHED)
    yield live
    live.stop()


@pytest.fixture
def user_tab(browser, server) -> Iterator[Tab]:
    tab = open_tab(browser, server)
    yield tab
    close_tab(tab)


@pytest.fixture
def staff_tab(browser, server) -> Iterator[Tab]:
    tab = open_tab(browser, server)
    yield tab
    tab.context.close()


def admin_sign_in(page: Page) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", STAFF[0])
    page.fill("#id_password", STAFF[1])
    page.click("input[type=submit]")
    expect(page.locator("nav.staff-nav")).to_be_visible()


def full_screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def detail(page: Page, term: str):
    return page.locator("#session-details div", has=page.locator(f"dt:text-is('{term}')")).locator(
        "dd"
    )


def test_history_and_an_entry_say_what_a_person_reads(user_tab):
    page = user_tab.page
    sign_in(page)
    page.click("nav a[href='/history/']")
    used = page.locator("#sessions-table td[data-label='Time used']")
    expect(used).to_have_text(["5 s", "1 min 5 s", "12 min"])
    table = page.locator("#sessions-table").inner_text()
    assert not re.search(r"\d+ min \d\d s", table), table  # never "0 min 05 s"
    screenshot(page, "b17-history.png")

    page.locator("#sessions-table a.session-link").first.click()
    expect(detail(page, "Voice")).to_have_text("Lyon")
    expect(detail(page, "Language")).to_have_text("French")
    expect(detail(page, "Mode")).to_have_text("Dialogue")
    expect(detail(page, "Time used")).to_have_text("5 s")
    text = page.locator("#session-details").inner_text()
    for raw in ("sandbox_voice_lyon", "fr\n", "dialogue", "0 min"):
        assert raw not in text, raw
    screenshot(page, "b17-history-entry.png")

    # A voice no preset knows is shown by its id; our own assistant by the setup's name.
    page.go_back()
    page.locator("#sessions-table a.session-link").nth(1).click()
    expect(detail(page, "Voice")).to_have_text("mystery_voice")
    expect(detail(page, "Language")).to_have_text("German")
    expect(detail(page, "Mode")).to_have_text("Own assistant")
    expect(detail(page, "Time used")).to_have_text("1 min 5 s")

    user_tab.watch.assert_clean()
    assert not user_tab.watch.bad_responses


def test_the_admin_session_page_names_the_mode_counts_live_chats_and_asks_before_ending(
    staff_tab, user_tab, server
):
    user, staff = user_tab.page, staff_tab.page
    sign_in(user)
    start_session(user, "ada")
    send_chat(user, "Hello! What do you do?")
    expect(user.locator("#transcript li.line.avatar[data-final=true]")).to_have_count(
        1, timeout=15_000
    )

    admin_sign_in(staff)
    staff.goto(f"{SESSIONS}?status__exact=active")
    row = staff.locator("#result_list tbody tr", has=staff.locator(".badge.status-active"))
    expect(row.locator("td.field-chats")).to_have_text("1 so far")
    row.locator("th a").first.click()
    expect(staff.locator(".field-mode_shown .readonly")).to_have_text("Dialogue")
    expect(staff.locator(".field-language_shown .readonly")).to_have_text("English (en)")
    staff.locator("fieldset details summary, fieldset.collapse summary").first.click()
    expect(staff.locator(".field-chats .readonly")).to_have_text("1 so far")
    expect(staff.locator("body")).not_to_contain_text("Close session")
    full_screenshot(staff, "b17-admin-session.png")
    session_id = re.search(r"/([0-9a-f-]{36})/change/", staff.url).group(1)

    def status() -> str:
        rows = server.query(
            "SELECT status FROM avatar_sessions_avatarsession WHERE id = %s",
            session_id.replace("-", ""),
        )
        return rows[0][0]

    # "End session…" only asks; "No, keep it running" goes back with nothing ended.
    staff.click("a.end-session-link")
    expect(staff).to_have_url(re.compile(rf"{SESSIONS}{session_id}/close/$"))
    expect(staff.locator("h2#end-title")).to_contain_text("End the session")
    screenshot(staff, "b17-end-confirm.png")
    staff.click("text=No, keep it running")
    expect(staff).to_have_url(re.compile(rf"{SESSIONS}{session_id}/change/$"))
    assert status() == "active"
    expect(user.locator("#app")).to_have_attribute("data-phase", "session")

    staff.click("a.end-session-link")
    staff.click("button:has-text('Yes, end the session')")
    expect(staff.locator("ul.messagelist li.success")).to_have_text("Ended 1 session.")
    assert status() == "closed"
    expect(user.locator("#status")).to_contain_text(
        "A staff member ended the session", timeout=10_000
    )
    staff_tab.watch.assert_clean()
    user_tab.watch.assert_clean()
    assert not staff_tab.watch.bad_responses


def test_the_preset_thumbnail_shows_and_the_icon_answers_everywhere(staff_tab, server):
    page = staff_tab.page
    admin_sign_in(page)
    ada = server.query("SELECT id FROM avatar_sessions_avatarpreset WHERE slug = 'ada'")[0][0]
    page.goto(f"/admin/avatar_sessions/avatarpreset/{ada}/change/")
    thumb = page.locator("img.preset-thumb-large")
    expect(thumb).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('img.preset-thumb-large');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    box = thumb.bounding_box()
    assert box and box["width"] >= 100 and box["height"] >= 100, box
    thumb.scroll_into_view_if_needed()
    screenshot(page, "b17-preset.png")

    # Every page links the icon, and what a browser asks for by itself answers too.
    for path in ("/admin/", SESSIONS, f"{SESSIONS}usage/", "/history/"):
        page.goto(path)
        icon = page.get_attribute("link[rel=icon]", "href")
        assert icon and icon.endswith(".svg"), path
    favicon = page.request.get("/favicon.ico")
    assert favicon.ok and favicon.headers["content-type"].startswith("image/svg+xml")
    assert not staff_tab.watch.bad_responses, staff_tab.watch.bad_responses
    staff_tab.watch.assert_clean()
