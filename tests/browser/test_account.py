"""Issue 16 in real Chromium: a person's own data and password.

- History offers one JSON download of all their sessions and transcripts; a finished
  session's page deletes its transcript after a confirmation page, and then says when.
- The header's Account link leads to Change your password; changing it there signs the
  person's other browser out (its next page asks for a sign-in) and keeps this one.
- The sign-in page offers "Forgot your password?".
- Delete your account asks for the password (a wrong one deletes nothing and says so);
  with it, a live session is ended, the account goes and the person is signed out.

Screenshots: artifacts/screenshots/b16-history-export.png, b16-delete-confirm.png,
b16-transcript-deleted.png, b16-password-change.png, b16-password-changed.png,
b16-account-delete.png.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import Tab, close_tab, open_tab, screenshot, start_session
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

KEEPER = ("keeper", "keeper-pass-7781")
CHANGER = ("changer", "changer-pass-7781")
LEAVER = ("leaver", "leaver-pass-7781")

WORLD = r"""
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from sessions.models import AvatarPreset, AvatarSession, TranscriptEntry

users = get_user_model().objects
keeper = users.create_user("keeper", password="keeper-pass-7781")
users.create_user("changer", password="changer-pass-7781")
users.create_user("leaver", password="leaver-pass-7781")
ada = AvatarPreset.objects.get(slug="ada")
start = timezone.now() - timedelta(hours=1)
session = AvatarSession.objects.create(
    owner=keeper, principal=f"user:{keeper.pk}", preset=ada, preset_slug="ada",
    provider="sandbox", avatar_id=ada.avatar_id, duration=600, status="closed",
    close_reason="user", created_at=start, started_at=start,
    closed_at=start + timedelta(seconds=65), language="en", mode=2,
)
for role, text in [("user", "Where is the harbour?"), ("avatar", "Down by the sea.")]:
    TranscriptEntry.objects.create(session=session, role=role, mid=role, text=text, final=True)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("b16-live"))
    live.start()
    live.manage("shell", "-c", WORLD)
    yield live
    live.stop()


@pytest.fixture
def user_tab(browser, server) -> Iterator[Tab]:
    tab = open_tab(browser, server)
    yield tab
    close_tab(tab)


@pytest.fixture
def other_tab(browser, server) -> Iterator[Tab]:
    tab = open_tab(browser, server)
    yield tab
    close_tab(tab)


def sign_in(tab: Tab, user: tuple[str, str], then: str = "/history/") -> None:
    page = tab.page
    page.goto(f"/accounts/login/?next={then}")
    expect(page.locator("#forgot-password")).to_have_text("Forgot your password?")
    page.fill("input[name=username]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("#login-btn")
    page.wait_for_url(f"**{then}")


def test_history_exports_everything_and_deletes_a_transcript(user_tab):
    page = user_tab.page
    sign_in(user_tab, KEEPER)
    expect(page.locator("#retention-note")).to_contain_text("deleted 90 days after")
    expect(page.locator("td[data-label='Transcript']")).to_have_text(["Kept"])
    screenshot(page, "b16-history-export.png")

    with page.expect_download() as download:
        page.click("#export-link")
    exported = json.loads(open(download.value.path()).read())  # noqa: SIM115
    assert exported["user"] == "keeper"
    (session,) = exported["sessions"]
    assert [m["text"] for m in session["transcript"]] == [
        "Where is the harbour?",
        "Down by the sea.",
    ]

    page.locator("a.session-link").first.click()
    expect(page.locator("#transcript li")).to_have_count(2)
    page.click("#delete-transcript-link")
    expect(page.locator("#delete-title")).to_have_text("Delete this transcript?")
    screenshot(page, "b16-delete-confirm.png")
    page.click("#confirm-delete-btn")

    expect(page.locator("#transcript-deleted")).to_contain_text("This transcript was deleted on")
    expect(page.locator("#transcript")).to_have_count(0)
    expect(page.locator("#delete-transcript-link")).to_have_count(0)
    screenshot(page, "b16-transcript-deleted.png")
    page.goto("/history/")
    expect(page.locator("td[data-label='Transcript']")).to_contain_text("Deleted on")
    user_tab.watch.assert_clean()


def test_changing_the_password_signs_the_other_browser_out(user_tab, other_tab):
    sign_in(other_tab, CHANGER)
    sign_in(user_tab, CHANGER)
    page = user_tab.page
    page.click("#nav-account")
    page.click("#change-password-link")
    expect(page.locator("#password-title")).to_have_text("Change your password")
    new = "A-new-changer-pass-9914"
    page.fill("input[name=old_password]", CHANGER[1])
    page.fill("input[name=new_password1]", new)
    page.fill("input[name=new_password2]", new)
    screenshot(page, "b16-password-change.png")
    page.click("#password-change-btn")

    expect(page.locator("#password-changed")).to_contain_text("Your password was changed.")
    screenshot(page, "b16-password-changed.png")
    page.goto("/history/")
    expect(page.locator("#history-title")).to_be_visible()  # this browser stays signed in
    other_tab.page.goto("/history/")
    expect(other_tab.page.locator("#login-btn")).to_be_visible()  # the other one does not
    user_tab.watch.assert_clean()


def test_deleting_the_account_asks_for_the_password_then_signs_out(user_tab, server):
    sign_in(user_tab, LEAVER, then="/")
    page = user_tab.page
    start_session(page, "ada")
    page.goto("/accounts/")
    page.click("#delete-account-link")
    page.fill("input[name=password]", "not-my-password")
    page.click("#delete-account-btn")
    expect(page.locator("[data-field-error=password]")).to_have_text(
        "That is not your password. Your account was not deleted."
    )
    screenshot(page, "b16-account-delete.png")

    page.fill("input[name=password]", LEAVER[1])
    page.click("#delete-account-btn")

    expect(page.locator("#account-deleted")).to_contain_text("Your account, your transcripts")
    expect(page.locator("#nav-account")).to_have_count(0)  # signed out
    rows = server.query(
        "SELECT status, owner_id, principal FROM avatar_sessions_avatarsession"
        " WHERE principal LIKE %s",
        "deleted:%",
    )
    assert [(status, owner) for status, owner, _ in rows] == [("closed", None)]
    page.goto("/history/")
    expect(page.locator("#login-btn")).to_be_visible()
    user_tab.watch.assert_clean(allow=("status of 400",))
