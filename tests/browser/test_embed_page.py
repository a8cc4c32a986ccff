"""Issue 20: the embed page as a website's visitor meets it, opened top-level here (framed
by another site: tests/browser/test_embed_launcher.py): pick an avatar, Start, talk, End,
and not one cookie of ours in the browser afterwards."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Request, expect

from tests.browser.test_accessibility import axe_violations, describe
from tests.support.browser import (
    PHONE,
    Tab,
    close_tab,
    end_session,
    lines,
    open_tab,
    screenshot,
    send_chat,
    start_session,
    wait_for_setup,
)
from tests.support.embed_host import ax_click, launcher_shown
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

SHOP = "https://shop.test"
PANEL = {"width": 400, "height": 640}  # the launcher's panel on a desk (static/embed/embed.js)

NEW_KEY = """
from sessions.models import AvatarPreset, EmbedKey
key = EmbedKey.objects.create(name="Browser shop", allowed_origins="https://shop.test")
key.presets.set(AvatarPreset.objects.filter(slug__in=["ada", "cleo"]))
print(key.public_key)
"""


def new_key(server: LiveServer) -> str:
    return server.manage("shell", "-c", NEW_KEY).strip().splitlines()[-1]


def test_a_visitor_talks_to_the_avatar_without_a_cookie(tab: Tab):
    public_key = new_key(tab.server)
    page = tab.page
    api_calls: list[Request] = []
    page.on("request", lambda r: api_calls.append(r) if "/api/v1/" in r.url else None)

    page.set_viewport_size(PANEL)
    page.goto(f"/embed/{public_key}/?origin={SHOP}")
    wait_for_setup(page)
    screenshot(page, "embed-setup.png")
    # Compact: no header or sign-in; only the key's avatars; no settings but Start.
    expect(page.locator(".site-header")).to_have_count(0)
    slugs = page.locator(".preset-card").evaluate_all("cards => cards.map(c => c.dataset.slug)")
    assert sorted(slugs) == ["ada", "cleo"]
    expect(page.locator("#voice-select")).to_be_hidden()
    expect(page.locator("#recording-notice")).to_be_visible()

    start_session(page, "cleo")  # cleo retells: the sandbox avatar says what is typed
    send_chat(page, "Hello from the shop")
    expect(page.locator("#transcript li.line.user .text")).to_have_text("Hello from the shop")
    avatar = page.locator("#transcript li.line.avatar[data-final=true] .text")
    expect(avatar.first).to_contain_text("Hello from the shop")
    assert [line["role"] for line in lines(page)][:2] == ["user", "avatar"]
    screenshot(page, "embed-session.png")
    end_session(page)

    host = urlsplit(tab.server.url).hostname
    ours = [c["name"] for c in tab.context.cookies() if c["domain"].lstrip(".") == host]
    assert ours == [], f"the embed left cookies: {ours}"
    # Every API call carried the visitor's token, none a CSRF header.
    assert api_calls
    for request in api_calls:
        headers = request.all_headers()
        assert re.fullmatch(r"Bearer emb\..+", headers.get("authorization", "")), request.url
        assert "x-csrftoken" not in headers and "cookie" not in headers, request.url
    tab.watch.assert_clean()


def test_the_phone_sheet_fits_and_reads_well(browser: Browser, live_server_proc: LiveServer):
    """At a phone's size: nothing wider than the screen, Start reached by keyboard, and
    axe finds nothing serious (bypass_csp: axe is injected; the page's own policy is the
    other test's)."""
    tab = open_tab(browser, live_server_proc, viewport=PHONE, bypass_csp=True)
    try:
        page = tab.page
        page.goto(f"/embed/{new_key(live_server_proc)}/?origin={SHOP}&preset=cleo")
        wait_for_setup(page)
        expect(page.locator(".preset-card[data-slug=cleo] input")).to_be_checked()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        for _ in range(8):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "start-btn":
                break
        assert page.evaluate("document.activeElement.id") == "start-btn"
        screenshot(page, "embed-phone.png")
        found = axe_violations(page)
        assert not found, describe(found)
        tab.watch.assert_clean()
    finally:
        close_tab(tab)


IN_VIEW = """el => { const b = el.getBoundingClientRect();
  return b.height > 0 && b.top >= 0 && b.bottom <= innerHeight; }"""


def test_live_in_the_panel_everything_is_in_view(tab: Tab):
    """The frame in the launcher's desk panel (400x640 less its title bar): live, End, the
    stage, the controls, the transcript's last line and the chat box all in view without
    scrolling; no empty bar beside "Microphone off"; after End no History link (a website's
    visitor has none). And the settings panel's name is "Settings", not its two titles."""
    page = tab.page
    page.set_viewport_size({"width": 400, "height": 588})
    page.goto(f"/embed/{new_key(tab.server)}/?origin={SHOP}")
    wait_for_setup(page)
    # A screen reader names the panel with Start by its title alone.
    expect(page.get_by_role("complementary", name="Settings", exact=True)).to_have_count(1)
    start_session(page, "cleo")
    send_chat(page, "Where is the rope?")
    expect(page.locator("#transcript li.line.avatar[data-final=true]").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollHeight <= innerHeight")
    last_line = "#transcript li.line:last-child"
    for sel in ("#end-btn", "#video-area", "#mic-btn", last_line, "#chat-input"):
        assert page.eval_on_selector(sel, IN_VIEW), f"{sel} is out of view"
    expect(page.locator("#mic-level")).to_be_hidden()
    screenshot(page, "embed-panel-live.png")
    end_session(page)
    expect(page.locator("#transcript li.line").first).to_be_visible()
    expect(page.locator("#ended-history-link")).to_be_hidden()
    tab.watch.assert_clean()


def test_a_phone_on_its_side_gets_the_full_sheet(tab: Tab):
    """The launcher on a phone held sideways (844x390): the panel is the full-screen sheet,
    not a sliver in the corner. (The frame inside refuses this made-up page: only the
    panel's size counts here.)"""
    page = tab.page
    page.set_viewport_size({"width": 844, "height": 390})
    script = f'<script src="{tab.server.url}/embed.js" data-key="{new_key(tab.server)}"></script>'
    # The page at an address of our server's (Chromium keeps another site's page from
    # loading a loopback script), answered by the browser itself.
    shop_page = f"{tab.server.url}/a-shop-page/"
    page.route(
        shop_page,
        lambda route: route.fulfill(content_type="text/html", body=f"<h1>Shop</h1>{script}"),
    )
    page.goto(shop_page)
    launcher_shown(page)
    ax_click(page, "Talk to us")
    for _ in range(50):
        frames = [f for f in page.frames if f is not page.main_frame]
        if frames:
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)  # the panel's rise (0.18 s) over
    box = frames[0].frame_element().bounding_box()
    assert box is not None
    assert box["x"] == 0 and box["width"] == 844, box
    assert round(box["y"] + box["height"]) == 390 and box["height"] > 300, box
