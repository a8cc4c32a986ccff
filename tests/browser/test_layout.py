"""Issue 17, the stage-first page in headless Chromium, on a desk (1280x800) and a phone
(390x844), light and dark: End and the stage on screen while live, no scroll jump on Start,
the notice on screen after End, a one-line header, captions over the stage and their
remembered toggle, the "turn the sound on" button over the stage on a phone, the cards'
face previews, text contrast (WCAG AA) in both themes, and statuses in words.
Screenshots: artifacts/screenshots/layout-*.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    DESK,
    PHONE,
    Tab,
    close_tab,
    end_session,
    open_tab,
    screenshot,
    send_chat,
    sign_in,
    start_session,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser


def _tab(browser: Browser, server: LiveServer, viewport: dict, scheme: str) -> Tab:
    t = open_tab(browser, server, viewport=viewport)
    t.page.emulate_media(color_scheme=scheme)
    return t


@pytest.fixture(params=["light", "dark"])
def desk(request, browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    t = _tab(browser, live_server_proc, DESK, request.param)
    yield t
    close_tab(t)


@pytest.fixture(params=["light", "dark"])
def phone(request, browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    t = _tab(browser, live_server_proc, PHONE, request.param)
    yield t
    close_tab(t)


def _scheme(page: Page) -> str:
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    return "dark" if dark else "light"


def _box(page: Page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box, f"{selector} is not shown"
    return box


def _on_screen(page: Page, selector: str) -> None:
    """Wholly inside the viewport as it is scrolled now."""
    box, view = _box(page, selector), page.viewport_size
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= view["width"] + 1, (selector, box, view)
    assert box["y"] + box["height"] <= view["height"] + 1, (selector, box, view)


def _inside(page: Page, selector: str, around: str) -> None:
    """`selector` is drawn wholly over `around` (the stage)."""
    inner, outer = _box(page, selector), _box(page, around)
    assert outer["x"] <= inner["x"] and outer["y"] <= inner["y"], (inner, outer)
    assert inner["x"] + inner["width"] <= outer["x"] + outer["width"], (inner, outer)
    assert inner["y"] + inner["height"] <= outer["y"] + outer["height"], (inner, outer)


def _header_is_one_line(page: Page) -> None:
    items = page.eval_on_selector_all(
        ".site-header-inner .brand, .site-nav a, .signout button",
        "els => els.filter(e => e.getClientRects().length).map(e => {"
        " const r = e.getBoundingClientRect();"
        " return [e.textContent.trim(), r.top, r.height]; })",
    )
    tops = {round(top) for _, top, _ in items}
    assert len(items) >= 4 and max(tops) - min(tops) <= 8, items
    assert all(h < 48 for _, _, h in items), items  # no link wrapped onto two lines
    assert _box(page, ".site-header")["height"] < 64


# Every element with its own text: its colour against the background it is painted on
# (the first opaque background up its ancestors), as WCAG's contrast ratio.
CONTRAST_JS = """() => {
  const rgb = (c) => { const m = c.match(/[\\d.]+/g) || []; return m.map(Number); };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.85)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const style = getComputedStyle(el);
    if (['VIDEO', 'CANVAS', 'OPTION', 'SCRIPT'].includes(el.tagName)) continue;
    const a = lum(rgb(style.color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const dim = el.closest('button:disabled, [aria-disabled=true]');
    if (ratio < need && !dim) out.push(`${el.tagName}#${el.id}.${el.className}: ` +
      `"${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)} < ${need}`);
  }
  return out;
}"""


def _readable(page: Page) -> None:
    failures = page.evaluate(CONTRAST_JS)
    assert not failures, f"low contrast in {_scheme(page)}:\n" + "\n".join(failures)


def test_desk_puts_the_stage_first_with_the_conversation_beside_it(desk):
    page = desk.page
    page.goto("/accounts/login/")
    _readable(page)
    sign_in(page)
    _header_is_one_line(page)
    _readable(page)
    screenshot(page, f"layout-desk-{_scheme(page)}-setup.png")

    start_session(page, "ada")
    stage, side = _box(page, "#video-area"), _box(page, ".conversation")
    # The stage is the large thing, and the transcript sits beside it, not below.
    assert stage["width"] > 1.5 * side["width"], (stage, side)
    assert side["x"] >= stage["x"] + stage["width"], (stage, side)
    assert side["y"] < stage["y"] + stage["height"] / 2, (stage, side)
    for selector in ("#end-btn", "#countdown", "#status", "#video-area", "#interrupt-btn"):
        _on_screen(page, selector)
    # The counter of the chat box keeps to one line beside the narrow column's hint.
    page.fill("#chat-input", "Hello there")
    count = _box(page, "#chat-count")
    assert count["height"] < 26, count
    _readable(page)
    screenshot(page, f"layout-desk-{_scheme(page)}-live.png")
    desk.watch.assert_clean()


def test_phone_start_keeps_the_stage_on_screen_and_end_shows_the_notice(phone):
    page = phone.page
    sign_in(page)
    _header_is_one_line(page)
    _readable(page)
    screenshot(page, f"layout-phone-{_scheme(page)}-setup.png")
    # Start is far down a phone's page: the user scrolls to it.
    page.click(".preset-card[data-slug=ada]")
    page.locator("#start-btn").scroll_into_view_if_needed()
    assert page.evaluate("scrollY") > 200

    start_session(page, "ada")
    page.wait_for_timeout(300)  # the chat box takes the focus after Start
    # The stage, its status, the time left and End are all on screen, the face whole.
    for selector in ("#status", "#countdown", "#end-btn", "#video-area"):
        _on_screen(page, selector)
    expect(page.locator("#chat-input")).to_be_focused()
    _header_is_one_line(page)
    _readable(page)
    screenshot(page, f"layout-phone-{_scheme(page)}-live.png")

    # The user reads down the transcript, then ends: the notice is where they look.
    page.locator("#chat-form").scroll_into_view_if_needed()
    end_session(page)
    _on_screen(page, "#status")
    screenshot(page, f"layout-phone-{_scheme(page)}-ended.png")
    phone.watch.assert_clean()


def test_captions_over_the_stage_and_their_remembered_toggle(browser, live_server_proc):
    t = _tab(browser, live_server_proc, DESK, "light")
    try:
        page = t.page
        sign_in(page)
        start_session(page, "cleo")  # Cleo repeats what is typed: a known sentence
        expect(page.locator("#captions-btn")).to_have_attribute("aria-pressed", "true")
        send_chat(page, "The quick brown fox jumps over the lazy dog.")
        captions = page.locator("#captions")
        expect(captions).to_contain_text("lazy dog", timeout=10_000)
        _inside(page, "#captions", "#video-area")
        screenshot(page, "layout-desk-captions.png")

        page.click("#captions-btn")
        expect(page.locator("#captions-btn")).to_have_attribute("aria-pressed", "false")
        expect(captions).to_be_hidden()
        # Remembered: after a reload the session resumes with its captions still off.
        page.reload()
        expect(page.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
        expect(page.locator("#captions-btn")).to_have_attribute("aria-pressed", "false")
        send_chat(page, "Another sentence for the captions.")
        expect(page.locator("#transcript li.line.avatar").last).to_contain_text(
            "captions", timeout=10_000
        )
        expect(captions).to_be_hidden()
        page.click("#captions-btn")
        expect(captions).to_be_visible()
        t.watch.assert_clean()
    finally:
        close_tab(t)


def test_a_staff_members_header_fits_one_line_on_a_phone(phone):
    # Their header has one link more (Admin): it still neither wraps nor overflows.
    page = phone.page
    sign_in(page, ("admin", "admin-password"))
    expect(page.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    _header_is_one_line(page)
    wide = page.evaluate(
        "w => [...document.querySelectorAll('body *')].filter(e =>"
        " e.getBoundingClientRect().right > w).map(e => e.tagName + '.' + e.className)",
        PHONE["width"],
    )
    assert not wide, wide
    _readable(page)


def test_turning_the_sound_on_is_offered_over_the_stage_on_a_phone(phone):
    page = phone.page
    sign_in(page)
    start_session(page, "ada")
    # The sandbox's video is muted, so a browser never blocks it: show the button the way
    # the transport's "autoplay-blocked" does (stage.js autoplayBlocked, tested in node).
    page.evaluate("document.getElementById('enable-audio-btn').hidden = false")
    button = page.locator("#enable-audio-btn")
    expect(button).to_be_visible()
    _on_screen(page, "#enable-audio-btn")
    _inside(page, "#enable-audio-btn", "#video-area")
    box = _box(page, "#enable-audio-btn")
    # Nothing covers it: a tap at its centre reaches it.
    hit = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.id",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit == "enable-audio-btn"
    _readable(page)
    screenshot(page, f"layout-phone-{_scheme(page)}-sound.png")
    button.click()
    expect(button).to_be_hidden()


# A card's preview and the live face, sampled at the same points of the 480 grid (hair,
# skin, clothes): the same drawing, with the thumbnail's colours.
SAMPLE_JS = """([selector, points]) => {
  const c = document.querySelector(selector);
  const ctx = c.getContext('2d');
  const s = Math.min(c.width, c.height) / 480;
  const ox = (c.width - 480 * s) / 2, oy = (c.height - 480 * s) / 2;
  return points.map(([x, y]) => Array.from(
    ctx.getImageData(Math.round(ox + x * s), Math.round(oy + y * s), 1, 1).data.slice(0, 3)));
}"""
POINTS = [[240, 100], [240, 236], [240, 455], [150, 300]]


def test_cards_preview_each_presets_own_face(tab):
    page = tab.page
    sign_in(page)
    previews = page.locator(".preset-card canvas.face-preview")
    expect(previews).to_have_count(page.locator(".preset-card").count())
    page.wait_for_timeout(400)  # the thumbnails' colours arrive with the images
    # Each drawn whole in its card's round frame: shown at the frame's size, not cut.
    for i in range(previews.count()):
        frame = previews.nth(i).locator("xpath=..").bounding_box()
        shown = previews.nth(i).bounding_box()
        assert frame and shown and abs(shown["width"] - frame["width"]) < 2, (frame, shown)
        assert abs(shown["height"] - frame["height"]) < 2, (frame, shown)
    looks = {
        slug: page.evaluate(SAMPLE_JS, [f".preset-card[data-slug={slug}] canvas", POINTS])
        for slug in ("ada", "ben", "cleo")
    }
    assert len({str(v) for v in looks.values()}) == 3, looks  # distinct per preset

    start_session(page, "ada")
    page.wait_for_timeout(400)
    live = page.evaluate(SAMPLE_JS, ["#avatar-canvas", POINTS])
    for card, stage in zip(looks["ada"], live, strict=True):
        assert max(abs(a - b) for a, b in zip(card, stage, strict=True)) < 40, (looks["ada"], live)
    tab.watch.assert_clean()


def test_history_says_the_status_in_words(desk):
    page = desk.page
    sign_in(page)
    start_session(page, "ben")
    end_session(page)
    page.goto("/history/")
    badge = page.locator("#sessions-table .badge").first
    expect(badge).to_have_text("Ended")
    _readable(page)
    badge_row = page.locator("#sessions-table a.session-link").first
    badge_row.click()
    expect(page.locator("#session-details .badge")).to_have_text("Ended")
    _readable(page)
    screenshot(page, f"layout-desk-{_scheme(page)}-history-entry.png")
