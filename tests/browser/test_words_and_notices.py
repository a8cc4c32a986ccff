"""Issue 17 (the page's words and notices), in real Chromium, on a desk and on a phone:
a voice change is confirmed as "Voice changed to ...", the microphone's status follows its
button, a 4,500-character message is refused and stays in the box under its counter, and
a notice that comes or goes does not move the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import Tab, end_session, screenshot, send_chat, sign_in, start_session

pytestmark = pytest.mark.browser

PROTOCOL_WORDS = ("set-params", "interrupt done", "frames", "done:")


def workspace_top(page: Page) -> float:
    # In the document, not the viewport: typing into the chat box may scroll a phone's page.
    return page.evaluate(
        "document.querySelector('.workspace').getBoundingClientRect().top + scrollY"
    )


def walk(tab: Tab, prefix: str) -> None:
    page = tab.page
    sign_in(page)
    start_session(page, "ada")
    status = page.locator("#status")

    # A notice that goes does not move the page: its room is kept.
    top_with_notice = workspace_top(page)
    send_chat(page, "Hello")
    expect(status).to_have_text("")  # "Connected. Say hello!" was old news
    assert workspace_top(page) == top_with_notice

    # 1. A voice change, confirmed in words: the voice preset's name.
    page.select_option("#voice-select", "calm")
    expect(status).to_have_text("Voice changed to Calm.", timeout=5_000)
    expect(page.locator("#acks li").first).to_have_text("Voice changed to Calm")
    page.select_option("#language-select", "de")
    expect(page.locator("#acks li").first).to_have_text("Language: German", timeout=5_000)
    acks = page.locator("#acks").inner_text()
    for word in PROTOCOL_WORDS:
        assert word not in acks and word not in status.inner_text()
    screenshot(page, f"c17-{prefix}-voice-changed.png")

    # 2. The microphone: the status follows the button, off as well as on.
    mic = page.locator("#mic-btn")
    mic.click()
    expect(mic).to_have_text("Microphone on", timeout=5_000)
    expect(status).to_contain_text("Microphone on")
    mic.click()
    expect(mic).to_have_text("Microphone off")
    expect(status).to_have_text("Microphone off.")
    screenshot(page, f"c17-{prefix}-mic-off.png")

    # 3. 4,500 characters: refused by the server, kept in the box, counted. The box's cap
    # stops typing at the limit; a script (or a stale page) can still put more in it.
    box = page.locator("#chat-input")
    assert box.get_attribute("maxlength") == "4000"
    long = "x" * 4500
    box.evaluate("(el, text) => { el.value = text; el.dispatchEvent(new Event('input')); }", long)
    counter = page.locator("#chat-count")
    expect(counter).to_have_text("4500 / 4000")
    expect(counter).to_have_attribute("data-level", "full")
    box.press("Enter")
    expect(page.locator("#error")).to_contain_text("the limit is 4000", timeout=5_000)
    page.wait_for_timeout(500)
    expect(box).to_have_value(long)
    box.scroll_into_view_if_needed()
    screenshot(page, f"c17-{prefix}-refused-kept.png")

    # Typing is capped; near the limit the counter warns.
    box.fill("")
    box.press_sequentially("ab")
    expect(counter).to_have_text("2 / 4000")
    box.fill("y" * 3700)
    expect(counter).to_have_attribute("data-level", "near")
    box.fill("")
    end_session(page)
    tab.watch.assert_clean()


def test_words_and_notices_on_a_desk(tab: Tab):
    walk(tab, "desk")


def test_words_and_notices_on_a_phone(phone_tab: Tab):
    walk(phone_tab, "phone")
