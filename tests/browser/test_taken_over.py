"""Issue 15, item 3 (sockets), in real Chromium: a second page of the same session takes
it over (the newest socket wins), and the first page says, in a person's words, that the
session went on in another tab or window; it stops, and does not take the session back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import Tab, close_tab, open_tab, send_chat, sign_in, start_session
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:
    # One socket per session: the second page's socket takes over the first's.
    live = LiveServer(tmp_path, WS_SOCKETS_PER_SESSION="1", SANDBOX_WORDS_PER_SECOND="60").start()
    yield live
    live.stop()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    yield t
    close_tab(t)


def test_a_second_page_takes_the_session_over_and_the_first_says_so(tab: Tab):
    first = tab.page
    sign_in(first)
    start_session(first, "ada")

    second = tab.context.new_page()  # another tab of the same browser: it asks first
    second.goto("/")
    second.locator("#live-list").get_by_role("button", name="Continue here").click()
    expect(second.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)

    expect(first.locator("#app")).to_have_attribute("data-phase", "setup", timeout=10_000)
    status = first.locator("#status")
    expect(status).to_contain_text("went on in another tab or window")
    expect(first.locator("#error")).to_have_text("")
    for word in ("socket", "4409", "taken_over", "websocket"):
        assert word not in status.inner_text().lower()

    # The second page holds the session and talks; the first does not take it back.
    send_chat(second, "Hello from the second tab")
    expect(second.locator("#transcript li.line.avatar").first).to_be_visible(timeout=15_000)
    first.wait_for_timeout(1500)
    expect(second.locator("#app")).to_have_attribute("data-phase", "session")
    expect(first.locator("#status")).to_contain_text("went on in another tab or window")
    tab.watch.assert_clean()
