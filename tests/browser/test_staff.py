"""The staff tools in real Chromium against a real server (issue 8, "Must show").

Staff sign in to the admin, import the sandbox catalog, watch a demo user's live session
from the live view while the user talks, open the session's audit page, close the session
from there (the user's page and the live view both learn it ended), and read the usage
page. Every page is served under the site's own Content-Security-Policy without the allowance it
makes for the admin (style-src 'unsafe-inline'): script-src and style-src 'self' only.
Each page must end with zero console errors (a CSP violation is one) and zero page errors.

Screenshots: artifacts/screenshots/audit-list.png, audit-session.png, usage.png (and
live-view.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    Tab,
    Watch,
    close_tab,
    lines,
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

# A few weeks of history, so the audit list and the usage chart have something to show:
# sessions of the demo user and of the staff account, ended in every way, with transcripts.
HISTORY = r"""
import random
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from sessions.models import AvatarPreset, AvatarSession, SessionEvent, TranscriptEntry, VoicePreset

VoicePreset.objects.filter(slug="lyon").delete()  # the import brings it back
users = list(get_user_model().objects.filter(username__in=["demo", "admin"]))
presets = list(AvatarPreset.objects.all())
reasons = ["user", "user", "user", "expired", "disconnect", "admin", "error"]
rng = random.Random(8)
now = timezone.now()
for i in range(28):
    created = now - timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 12))
    reserved = rng.choice([300, 600, 900])
    reason = rng.choice(reasons)
    used = 0 if reason == "error" else rng.randint(30, reserved)
    user, preset = rng.choice(users), rng.choice(presets)
    s = AvatarSession.objects.create(
        owner=user, principal=f"user:{user.pk}", preset=preset, preset_slug=preset.slug,
        provider="sandbox", upstream_id=f"sbx_history_{i}", avatar_id=preset.avatar_id,
        duration=reserved, created_at=created,
        started_at=None if reason == "error" else created + timedelta(seconds=1.2),
        closed_at=created + timedelta(seconds=used + 2),
        status="failed" if reason == "error" else "closed", close_reason=reason,
        chat_count=2,
    )
    SessionEvent.objects.create(session=s, kind="state", message="starting", created_at=created)
    if reason == "error":
        continue
    for j, (role, text) in enumerate([
        ("user", "What can you tell me about your opening hours?"),
        ("avatar", "We are open from nine to six, Monday to Saturday."),
    ]):
        TranscriptEntry.objects.create(
            session=s, role=role, mid=f"m{i}", text=text, final=True,
            created_at=created + timedelta(seconds=5 + j * 1.4),
        )
"""


def stricter(policy: str) -> str:
    """The site's own policy without the admin's allowance for inline styles."""
    return policy.replace(" 'unsafe-inline'", "")


def enforce_csp(context: BrowserContext, watch: Watch) -> None:
    """Serve every page with the site's CSP minus its admin allowance ('unsafe-inline'
    styles), so the staff pages are held to what the site's pages are held to: the
    browser enforces it and reports each violation as a console error."""

    def tighten(route: Route) -> None:
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch(max_redirects=0)  # the browser follows them itself
        policy = response.headers.get("content-security-policy")
        if not policy:  # reported like a console error: assert_clean() fails on it
            watch.console_errors.append(f"no Content-Security-Policy on {route.request.url}")
        headers = {**response.headers, "content-security-policy": stricter(policy or "")}
        route.fulfill(response=response, headers=headers)

    context.route("**/*", tighten)


@pytest.fixture(scope="module")
def browser(playwright_driver) -> Iterator[Browser]:
    # Pages fulfilled by the test (to add the CSP header) have no address space of their
    # own, so Chromium's local network access checks would block their websockets to
    # loopback; a served page is never subject to them.
    b = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
        headless=True,
    )
    yield b
    b.close()


@pytest.fixture(scope="module")
def staff_server(tmp_path_factory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("staff-live"))
    server.start()
    server.manage("shell", "-c", HISTORY)
    yield server
    server.stop()


@pytest.fixture
def staff_tab(browser, staff_server) -> Iterator[Tab]:
    tab = open_tab(browser, staff_server)
    enforce_csp(tab.context, tab.watch)
    yield tab
    tab.context.close()


@pytest.fixture
def user_tab(browser, staff_server) -> Iterator[Tab]:
    tab = open_tab(browser, staff_server)
    enforce_csp(tab.context, tab.watch)
    yield tab
    close_tab(tab)


def admin_sign_in(page: Page, user: tuple[str, str] = STAFF) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user[0])
    page.fill("#id_password", user[1])
    page.click("input[type=submit]")
    expect(page.locator("nav.staff-nav")).to_be_visible()


def full_screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def avatar_finals(page: Page) -> int:
    return page.locator("#transcript li.line.avatar[data-final=true]").count()


def test_staff_import_audit_watch_live_close_and_usage(staff_tab, user_tab, staff_server):
    staff, user = staff_tab.page, user_tab.page

    # --- Import the catalog (the sandbox's own: no account needed). --------------------
    admin_sign_in(staff)
    staff.click("nav.staff-nav >> text=Voices")
    expect(staff.locator("#result_list")).not_to_contain_text("Lyon")
    staff.click("text=Import from the sandbox catalog")
    expect(staff.locator("ul.messagelist li.success")).to_have_text(
        "Imported the sandbox catalog: avatars: 0 new, 0 refreshed; voices: 1 new, 0 refreshed; "
        "knowledge bases: 1 new, 0 refreshed."
    )
    expect(staff.locator("ul.messagelist li.info")).to_contain_text(
        "Languages offered upstream: English (en)"
    )
    expect(staff.locator("#result_list")).to_contain_text("Lyon")
    expect(staff.locator("button.voice-sample")).to_have_count(4)

    # --- A user talks to an avatar. ----------------------------------------------------
    sign_in(user)
    start_session(user, "ada")
    send_chat(user, "Hello! What do you do?")
    expect(user.locator("#transcript li.line.avatar[data-final=true]")).to_have_count(
        1, timeout=15_000
    )

    # --- The audit list shows it live, among the history. ------------------------------
    staff.click("nav.staff-nav >> text=Session audit")
    live_row = staff.locator("#result_list tbody tr", has=staff.locator(".badge.status-active"))
    expect(live_row).to_have_count(1)
    expect(live_row).to_contain_text("demo")
    expect(staff.locator("#changelist-filter")).to_contain_text("By close reason")
    screenshot(staff, "audit-list.png")

    # --- Watch it live: the transcript so far, then each line as it is said. ------------
    live_row.locator("a.watch-link").click()
    expect(staff).to_have_url(re.compile(rf"{SESSIONS}[0-9a-f-]{{36}}/live/$"))
    expect(staff.locator("#live-connection")).to_have_attribute("data-state", "open")
    expect(staff.locator("#transcript li.line")).to_have_count(2)  # the replay
    expect(staff.locator("#transcript li.line.user .who").first).to_have_text("demo")
    expect(staff.locator("#transcript li.line.user .text").first).to_have_text(
        "Hello! What do you do?"
    )

    send_chat(user, "Tell me a little about the weather today, please.")
    newest_user = staff.locator("#transcript li.line.user").nth(1)
    expect(newest_user.locator(".text")).to_have_text(
        "Tell me a little about the weather today, please."
    )
    answer = staff.locator("#transcript li.line.avatar").nth(1)
    expect(answer).to_have_attribute("data-final", "true", timeout=15_000)
    growth = staff_tab.probe()["avatar"][answer.get_attribute("data-mid")]
    partial = [s["len"] for s in growth if not s["final"] and s["len"] > 0]
    assert len(set(partial)) >= 2, growth  # it streamed in, piece by piece
    screenshot(staff, "live-view.png")
    expect(user.locator("#transcript li.line.avatar[data-final=true]")).to_have_count(2)
    said_by_avatar = [line["text"] for line in lines(user) if line["role"] == "avatar"]
    assert [line["text"] for line in lines(staff) if line["role"] == "avatar"] == said_by_avatar

    # --- The session's audit page, opened beside the live view; close from there. -----
    audit = staff_tab.context.new_page()
    audit.goto(staff.locator("a", has_text="The session's record").get_attribute("href"))
    expect(audit.locator("#transcript li.line")).to_have_count(4)
    expect(audit.locator("#events")).to_contain_text("active")
    audit.click("a.end-session-link")  # its confirmation page, then end it
    audit.click("button:has-text('Yes, end the session')")
    expect(audit.locator("ul.messagelist li.success")).to_have_text("Ended 1 session.")
    expect(audit.locator("#events tbody tr").last).to_contain_text("closed")
    expect(audit.locator("#timings")).to_contain_text("Close")
    expect(audit.locator("#transcript li.line.avatar")).to_have_count(2)
    full_screenshot(audit, "audit-session.png")

    # Both sides learn it ended: the live view and the user's own page.
    expect(staff.locator("#live-connection")).to_have_text(
        "The session has ended: ended by staff.", timeout=10_000
    )
    expect(staff.locator("#live-status")).to_have_text("Ended")
    expect(user.locator("#status")).to_contain_text(
        "A staff member ended the session", timeout=10_000
    )
    session_id = staff.locator(".live-view").get_attribute("data-session-id")
    assert staff_server.query(
        "SELECT status, close_reason FROM avatar_sessions_avatarsession WHERE id = %s",
        session_id.replace("-", ""),
    ) == [("closed", "admin")]

    # --- Usage: minutes per day with a chart, per user, per preset, by close reason. ----
    audit.click("nav.staff-nav >> text=Usage")
    expect(audit.locator("svg.bar-chart")).to_have_count(2)
    assert audit.locator("svg.bar-chart rect.bar-used").count() == 30
    expect(audit.locator("#usage-totals")).to_contain_text("Sessions")
    # Above them, today's and this month's reserved minutes (no caps on this server).
    spending = audit.locator("#usage-spending li")
    expect(spending.first).to_contain_text(re.compile(r"Today \(UTC, [-\d]+\): \d+ minutes"))
    expect(spending.last).to_contain_text("minutes reserved; no monthly cap.")
    expect(audit.locator(".usage-table").first).to_contain_text("ended by staff")
    full_screenshot(audit, "usage.png")

    staff_tab.watch.assert_clean()
    user_tab.watch.assert_clean()
    assert not [r for r in staff_tab.watch.bad_responses if "/admin/" in r]


def test_a_user_cannot_open_the_staff_pages(user_tab):
    page = user_tab.page
    sign_in(page)
    for path in (SESSIONS, f"{SESSIONS}usage/", f"{SESSIONS}export.csv"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
        expect(page.locator(".errornote")).to_contain_text("not authorized")
    user_tab.watch.assert_clean()


def test_a_new_token_is_shown_once_and_copied(staff_tab, staff_server):
    page = staff_tab.page
    staff_tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    admin_sign_in(page)
    page.click("nav.staff-nav >> text=API tokens")
    page.click("a.addlink")
    page.click("#id_owner + .select2 .select2-selection")
    page.fill(".select2-search__field", "demo")
    expect(page.locator(".select2-results__option--highlighted")).to_have_text("demo")
    page.keyboard.press("Enter")
    page.fill("#id_name", "CRM integration")
    page.click("input[name=_save]")

    expect(page.locator(".token-sentence")).to_contain_text("The new token is avs_")
    raw = page.input_value("#new-token")
    page.click("#copy-token")
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    # Shown once: the list shows its prefix only.
    page.click("text=Back to the API tokens")
    expect(page.locator("#result_list")).to_contain_text("CRM integration")
    expect(page.locator("#result_list")).to_contain_text(raw[:10])
    assert raw not in page.content()
    staff_tab.watch.assert_clean()
