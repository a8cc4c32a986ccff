"""Issue 17, the sandbox's look and speech, in headless Chromium: each preset has its own
face, drawn whole with its name at desk and phone sizes; the page offers exactly the
sandbox catalog's languages and the avatar answers in the one chosen; the mode select
offers both modes and explains each. Screenshots: artifacts/screenshots/a17-*.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from sessions.providers.sandbox import phrases
from sessions.providers.sandbox.provider import SANDBOX_LANGUAGES
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


# Points of the face on its 480 grid (backdrop, hair, skin, clothes), read from the face's
# canvas as the page draws it, and the name tag's shape (see sandbox_face.js #drawName).
LOOK_JS = """() => {
  const c = document.getElementById('avatar-canvas');
  const box = document.getElementById('avatar-video').parentElement;
  const ctx = c.getContext('2d');
  const s = Math.min(c.width, c.height) / 480;
  const ox = (c.width - 480 * s) / 2, oy = (c.height - 480 * s) / 2;
  const at = (x, y) =>
    Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3));
  const grid = (x, y) => at(ox + x * s, oy + y * s);
  const size = Math.max(14, Math.round(Math.min(c.width, c.height) * 0.05));
  const pad = Math.round(size * 0.6);
  return {
    canvas: [c.width, c.height],
    box: [box.clientWidth, box.clientHeight],
    points: [at(4, 4), grid(240, 100), grid(240, 236), grid(240, 455)],
    tag: at(pad + 3, c.height - pad - size * 0.9),
    beside: at(pad + 3, c.height / 2),
  };
}"""


@pytest.fixture
def desk(browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, live_server_proc, viewport=DESK)
    yield t
    close_tab(t)


@pytest.fixture
def phone(browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, live_server_proc, viewport=PHONE)
    yield t
    close_tab(t)


def _face(page: Page) -> dict:
    expect(page.locator("#avatar-video")).to_be_visible()
    page.wait_for_timeout(400)  # the thumbnail's colours arrive with the image
    return page.evaluate(LOOK_JS)


def _assert_whole_with_name(look: dict) -> None:
    (cw, ch), (bw, bh) = look["canvas"], look["box"]
    # The picture has its box's shape, so object-fit shows all of it: nothing cropped.
    assert abs(cw / ch - bw / bh) < 0.02, look
    # The name tag is darker than the backdrop beside it: it is drawn, inside the picture.
    assert sum(look["tag"]) < 0.75 * sum(look["beside"]), look


def _differs(a: list[int], b: list[int]) -> bool:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) > 60


def test_each_preset_has_its_own_face_drawn_whole_with_its_name_on_a_desk(desk):
    page = desk.page
    sign_in(page)
    screenshot(page, "a17-setup-desk.png")
    looks = {}
    for slug in ("ada", "ben", "cleo"):
        start_session(page, slug)
        looks[slug] = _face(page)
        _assert_whole_with_name(looks[slug])
        screenshot(page, f"a17-live-desk-{slug}.png")
        end_session(page)
    for a, b in (("ada", "ben"), ("ben", "cleo"), ("ada", "cleo")):
        differing = [
            _differs(p, q) for p, q in zip(looks[a]["points"], looks[b]["points"], strict=True)
        ]
        # Backdrop, hair, skin, clothes: most of them tell two presets apart.
        assert sum(differing) >= 2, (a, b, looks[a]["points"], looks[b]["points"])
    desk.watch.assert_clean()


def test_the_face_is_whole_with_its_name_on_a_phone(phone):
    page = phone.page
    sign_in(page)
    screenshot(page, "a17-setup-phone.png")
    start_session(page, "cleo")
    look = _face(page)
    _assert_whole_with_name(look)
    page.evaluate("document.getElementById('avatar-video').scrollIntoView({block: 'center'})")
    screenshot(page, "a17-live-phone.png")
    end_session(page)
    phone.watch.assert_clean()


def test_the_page_offers_exactly_the_sandbox_catalog_languages(desk):
    page = desk.page
    sign_in(page)
    offered = page.eval_on_selector_all(
        "#language-select option", "os => os.map(o => [o.value, o.textContent])"
    )
    assert offered[0][0] == ""  # the avatar's own language
    assert offered[1:] == [[lang.code, lang.name] for lang in SANDBOX_LANGUAGES]


def test_french_chosen_is_answered_in_french_and_a_live_change_is_followed(desk):
    page = desk.page
    sign_in(page)
    page.select_option("#language-select", "fr")
    start_session(page, "ada")
    send_chat(page, "Bonjour, comment ça va ?")
    answer = page.locator("#transcript li.line.avatar[data-final=true] .text").first
    expect(answer).to_be_visible(timeout=15_000)
    assert answer.text_content() in phrases.FRENCH["greeting"]
    screenshot(page, "a17-live-desk-french.png")
    # Changed during the session (set-params), the language is followed from then on.
    page.select_option("#language-select", "de")
    expect(page.locator("#acks li")).to_have_count(1, timeout=10_000)  # its ack came
    send_chat(page, "Hallo")
    second = page.locator("#transcript li.line.avatar[data-final=true] .text").nth(1)
    expect(second).to_be_visible(timeout=15_000)
    assert second.text_content() in phrases.GERMAN["greeting"]
    end_session(page)


def test_mode_offers_both_options_and_explains_each(desk):
    page = desk.page
    sign_in(page)
    for slug in ("ada", "ben", "cleo"):
        page.click(f".preset-card[data-slug={slug}]")
        options = page.eval_on_selector_all("#mode-select option", "os => os.map(o => o.value)")
        assert options == ["2", "1"], slug
        page.select_option("#mode-select", "1")
        expect(page.locator("#mode-help")).to_have_text("The avatar says exactly what you type.")
        page.select_option("#mode-select", "2")
        expect(page.locator("#mode-help")).to_have_text("The avatar’s own assistant answers you.")
    # Retelling chosen for Ada really starts a retelling session (mode 1, contract kept).
    page.click(".preset-card[data-slug=ada]")
    page.select_option("#mode-select", "1")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/sessions")) as created:
        start_session(page, "ada")
    assert created.value.json()["mode"] == 1
    send_chat(page, "Say this back")
    answer = page.locator("#transcript li.line.avatar[data-final=true] .text").first
    expect(answer).to_have_text("Say this back", timeout=15_000)
    end_session(page)
    desk.watch.assert_clean()
