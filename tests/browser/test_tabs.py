"""Issue 17, several tabs, in real Chromium (pages of one browser context are tabs of one
browser): over the cap a tab lists the live sessions with "Continue here" and "End", and
ending one lets Start work; a tab that opens while another holds the session asks before
joining, and "Continue here" moves it, the old tab turning its sound, video and microphone
off; a reload of the same tab resumes without asking; Interrupt with nothing being said
says so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    Tab,
    close_tab,
    open_tab,
    send_chat,
    sign_in,
    start_session,
    wait_for_setup,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

# Every microphone or camera track the page is given, to see that it was stopped.
TRACKS_JS = """
(() => {
  const tracks = (window.__tracks = []);
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) return;
  const real = md.getUserMedia.bind(md);
  md.getUserMedia = async (c) => {
    const stream = await real(c);
    tracks.push(...stream.getTracks());
    return stream;
  };
})();
"""
TRACKS_LIVE = "() => window.__tracks.filter((t) => t.readyState === 'live').length"
TRACKS_SEEN = "() => window.__tracks.length"
ASKED = "This session is open in another tab or on another device. Continue here?"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    # Its own process: these tests start several sessions of the demo user's hourly quota.
    # The default pace keeps the avatar speaking long enough to interrupt.
    live = LiveServer(tmp_path_factory.mktemp("tabs"), SANDBOX_WORDS_PER_SECOND="4").start()
    yield live
    live.stop()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    t.context.add_init_script(TRACKS_JS)
    yield t
    close_tab(t)


def live_list(page: Page):
    return page.locator("#live-list")


def another_tab(tab: Tab) -> Page:
    page = tab.context.new_page()
    page.goto("/")
    wait_for_setup(page)
    return page


def test_over_the_cap_a_tab_lists_the_live_sessions_and_end_lets_start_work(tab: Tab):
    first = tab.page
    sign_in(first)
    start_session(first, "ada")
    second = another_tab(tab)
    # The second tab asks about Ada's session, and Start still starts another.
    expect(live_list(second)).to_contain_text(ASKED)
    start_session(second, "cleo")

    third = another_tab(tab)
    expect(live_list(third)).to_contain_text("Your sessions are open in other tabs")
    third.click("#start-btn")
    lst = live_list(third)
    expect(lst).to_contain_text("You already have 2 live sessions. End one to start another")
    expect(lst.locator("li.live-session")).to_have_count(2)
    for name in ("Ada", "Cleo"):
        row = lst.locator("li.live-session", has_text=name)
        expect(row).to_contain_text("minutes left.")
        expect(row).to_contain_text("Started at")
        expect(row.get_by_role("button", name="Continue here")).to_be_visible()
    expect(third.locator("#error")).to_have_text("")
    assert "Try again" not in third.locator("#status").inner_text()

    # End asks nothing more: one click, and the list shows what is still live.
    lst.locator("li.live-session", has_text="Cleo").get_by_role("button", name="End").click()
    expect(third.locator("#status")).to_contain_text("Your session with Cleo has ended")
    expect(lst.locator("li.live-session")).to_have_count(1)
    expect(lst).to_contain_text("Ada")
    # The tab that ran it says so.
    expect(second.locator("#app")).to_have_attribute("data-phase", "setup", timeout=10_000)

    start_session(third, "ben")
    expect(live_list(third)).to_be_hidden()
    # The browser logs the refused Start (429) itself; the page showed no error for it.
    tab.watch.assert_clean(allow=(r"status of 429 .*/api/v1/sessions\)",))


def test_continue_here_moves_the_session_and_the_old_tab_turns_its_media_off(tab: Tab):
    first = tab.page
    sign_in(first)
    start_session(first, "ada")
    first.click("#mic-btn")
    expect(first.locator("#mic-btn")).to_have_text("Microphone on")
    assert first.evaluate(TRACKS_LIVE) == 1
    expect(first.locator("#app")).to_have_attribute("data-media", "on")

    second = another_tab(tab)
    lst = live_list(second)
    expect(lst).to_contain_text(ASKED)
    # Asked, not joined: the first tab still runs it.
    expect(second.locator("#app")).to_have_attribute("data-phase", "setup")
    expect(first.locator("#app")).to_have_attribute("data-phase", "session")

    lst.get_by_role("button", name="Continue here").click()
    expect(second.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
    expect(second.locator("#app")).to_have_attribute("data-media", "on", timeout=15_000)
    expect(lst).to_be_hidden()

    # The old tab let go: no media, the microphone stopped, and words, not codes.
    expect(first.locator("#app")).to_have_attribute("data-phase", "setup", timeout=10_000)
    expect(first.locator("#app")).to_have_attribute("data-media", "off")
    assert first.evaluate(TRACKS_LIVE) == 0
    status = first.locator("#status")
    expect(status).to_contain_text("went on in another tab or window")
    expect(first.locator("#error")).to_have_text("")
    for word in ("socket", "4409", "taken_over", "rtc"):
        assert word not in status.inner_text().lower()

    # The session goes on in the second tab, and the first can take it back.
    send_chat(second, "Hello from the second tab")
    expect(second.locator("#transcript li.line.avatar").first).to_be_visible(timeout=15_000)
    back = live_list(first).get_by_role("button", name="Take it back")
    expect(back).to_be_visible()
    back.click()
    expect(first.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
    expect(second.locator("#app")).to_have_attribute("data-phase", "setup", timeout=10_000)
    expect(second.locator("#app")).to_have_attribute("data-media", "off")
    expect(first.locator("#transcript")).to_contain_text("Hello from the second tab")
    tab.watch.assert_clean()


def test_a_reload_of_the_same_tab_resumes_without_asking(tab: Tab):
    page = tab.page
    sign_in(page)
    start_session(page, "ada")
    page.reload()
    expect(page.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
    expect(page.locator("#status")).to_contain_text("Session resumed", timeout=15_000)
    expect(live_list(page)).to_be_hidden()
    assert not any("another tab" in s for s in tab.probe()["status"])
    tab.watch.assert_clean()


def test_interrupt_with_nothing_being_said_says_so(tab: Tab):
    page = tab.page
    sign_in(page)
    start_session(page, "ada")
    page.click("#interrupt-btn")
    expect(page.locator("#status")).to_have_text("Nothing to stop: the avatar is not speaking.")
    expect(page.locator("#acks li")).to_have_count(0)

    # While it speaks, Interrupt stops it.
    send_chat(page, "Tell me a long story about the sea, please")
    expect(page.locator("#speaking")).to_have_attribute("data-speaking", "true", timeout=10_000)
    page.click("#interrupt-btn")
    expect(page.locator("#status")).to_have_text("Stopped.", timeout=10_000)
    tab.watch.assert_clean()
