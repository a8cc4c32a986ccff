"""Issue 17, sessions across devices, in real Chromium (each browser context is a device
of its own; the same user signed in on both): a page opened on a second device asks
before taking over the session the first device holds; the device it was taken from
learns that it has since ended and says so in words (no error) instead of offering it
back; and a one-minute session gets its warning and Extend half-way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    PHONE,
    Tab,
    close_tab,
    end_session,
    open_tab,
    sign_in,
    start_session,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

ASKED = "This session is open in another tab or on another device. Continue here?"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("devices"), SANDBOX_WORDS_PER_SECOND="60").start()
    live.manage(
        "shell",
        "-c",
        "from sessions.models import AvatarPreset as P\n"
        "P.objects.filter(slug='ada').update(extend_allowed=True)",
    )
    yield live
    live.stop()


@pytest.fixture
def desk(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    yield t
    close_tab(t)


@pytest.fixture
def phone(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server, viewport=PHONE)
    yield t
    close_tab(t)


def test_a_second_device_asks_and_the_first_learns_that_the_session_ended(desk: Tab, phone: Tab):
    sign_in(desk.page)
    start_session(desk.page, "ada")

    # The phone asks; the desk, the device in use, keeps its session.
    sign_in(phone.page)
    lst = phone.page.locator("#live-list")
    expect(lst).to_contain_text(ASKED)
    expect(phone.page.locator("#app")).to_have_attribute("data-phase", "setup")
    expect(desk.page.locator("#app")).to_have_attribute("data-phase", "session")

    # Continue here: the phone takes it, the desk offers it back.
    lst.get_by_role("button", name="Continue here").click()
    expect(phone.page.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
    expect(desk.page.locator("#app")).to_have_attribute("data-phase", "setup", timeout=10_000)
    back = desk.page.locator("#live-list").get_by_role("button", name="Take it back")
    expect(back).to_be_visible()

    # Ended on the phone: Take it back on the desk says so in words, with Start.
    end_session(phone.page)
    back.click()
    expect(desk.page.locator("#status")).to_have_text(
        "The session that went on in another tab or on another device has ended. "
        "You can start a new session."
    )
    expect(desk.page.locator("#error")).to_have_text("")
    expect(desk.page.locator("#live-list")).to_be_hidden()
    expect(desk.page.locator("#start-btn")).to_be_enabled()
    desk.watch.assert_clean()
    phone.watch.assert_clean()


def test_a_one_minute_session_is_warned_half_way(desk: Tab):
    page = desk.page
    sign_in(page)
    # The page's own clock runs ahead (the server's session is not hurried): half-way
    # through a one-minute session comes in moments rather than 30 s.
    page.clock.install()
    page.fill("#duration-input", "1")
    start_session(page, "ada")
    box = page.locator("#end-warning-box")
    page.clock.fast_forward(25_000)
    expect(box).not_to_have_attribute("data-shown", "true")
    page.clock.fast_forward(6_000)
    expect(box).to_have_attribute("data-shown", "true")
    expect(page.locator("#end-warning")).to_contain_text("This session ends in about a minute.")
    expect(page.locator("#extend-btn")).to_be_visible()
