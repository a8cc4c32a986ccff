"""Issue 17: the page in the browser's language. A Chromium whose language is Spanish
(es-ES: its Accept-Language and navigator.language) sees the setup page, a live session's
status and an error, the live-session list of another tab and the account page in Spanish,
from the server's templates and from the page's scripts (the JavaScript catalog,
static/js/i18n.js); one in American English sees English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    DESKTOP,
    PROBE_JS,
    Tab,
    Watch,
    close_tab,
    screenshot,
    sign_in,
)
from tests.support.i18n import ensure_compiled
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

WORDS = {
    "es-ES": {
        "lang": "es",
        "title": "Habla con un avatar",
        "start": "Empezar",
        "end": "Terminar sesión",
        "time_left": "Tiempo restante",
        "mode_help": "Te responde el propio asistente del avatar.",
        "duration_help": "Hasta ",
        "recording": "Esta conversación se graba.",
        "voice": "Warm (Inglés, femenina)",
        "connected": "Conectado. ¡Saluda!",
        "listening": "Escuchando",
        "nothing_to_stop": "No hay nada que detener: el avatar no está hablando.",
        "bad_background": "Escribe la dirección de la imagen de fondo, empezando por https://.",
        "other_tab": (
            "Esta sesión está abierta en otra pestaña o en otro dispositivo. ¿Continuar aquí?"
        ),
        "time_to_go": "Quedan ",
        "continue": "Continuar aquí",
        "account": "Tu cuenta",
    },
    "en-US": {
        "lang": "en",
        "title": "Talk to an avatar",
        "start": "Start",
        "end": "End session",
        "time_left": "Time left",
        "mode_help": "The avatar’s own assistant answers you.",
        "duration_help": "Up to ",
        "recording": "This conversation is recorded.",
        "voice": "Warm (English, female)",
        "connected": "Connected. Say hello!",
        "listening": "Listening",
        "nothing_to_stop": "Nothing to stop: the avatar is not speaking.",
        "bad_background": "Enter the background image's address, starting with https://.",
        "other_tab": "This session is open in another tab or on another device. Continue here?",
        "time_to_go": " minutes left.",
        "continue": "Continue here",
        "account": "Your account",
    },
}


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    ensure_compiled()


@pytest.fixture(params=list(WORDS))
def tab_in(request, browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    """A tab whose browser speaks the language under test."""
    context = browser.new_context(
        viewport=DESKTOP, base_url=live_server_proc.url, locale=request.param
    )
    context.set_default_timeout(10_000)
    context.add_init_script(PROBE_JS)
    watch = Watch()
    context.on("page", watch.attach)
    tab = Tab(context=context, page=context.new_page(), watch=watch, server=live_server_proc)
    tab.locale = request.param
    yield tab
    close_tab(tab)


def test_the_page_speaks_the_browsers_language(tab_in: Tab):
    page, words = tab_in.page, WORDS[tab_in.locale]
    sign_in(page)

    # The setup page: the server's words (the template) in the browser's language.
    assert page.get_attribute("html", "lang") == words["lang"]
    expect(page.locator("#setup-title")).to_have_text(words["title"])
    expect(page.locator("#start-btn")).to_have_text(words["start"])
    # ...and the scripts' words beside them.
    expect(page.locator("#mode-help")).to_have_text(words["mode_help"])
    expect(page.locator("#duration-help")).to_contain_text(words["duration_help"])
    expect(page.locator("#recording-notice-text")).to_contain_text(words["recording"])
    expect(page.locator("#voice-select")).to_contain_text(words["voice"])
    screenshot(page, f"i18n-{tab_in.locale}-setup.png")

    # A live session.
    page.click(".preset-card[data-slug=ada]")
    page.click("#start-btn")
    expect(page.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
    expect(page.locator("#end-btn")).to_have_text(words["end"])
    expect(page.locator(".countdown-pill")).to_contain_text(words["time_left"])
    expect(page.locator("#status")).to_have_text(words["connected"], timeout=15_000)
    expect(page.locator("#speaking")).to_have_text(words["listening"])

    # Its status, in the page's scripts' words: an interrupt while the avatar is quiet.
    page.click("#interrupt-btn")
    expect(page.locator("#status")).to_have_text(words["nothing_to_stop"], timeout=5_000)

    # An error, also from the scripts: a background that is no address.
    page.fill("#background-input", "a sunny beach")
    page.click("#background-btn")
    expect(page.locator("#error")).to_have_text(words["bad_background"])
    screenshot(page, f"i18n-{tab_in.locale}-live-error.png")

    # Another tab meets the live session in the list, and the account page, in its words.
    other = tab_in.context.new_page()
    other.goto("/")
    live = other.locator("#live-list")
    expect(live).to_contain_text(words["other_tab"])
    expect(live.locator("li.live-session")).to_contain_text(words["time_to_go"])
    expect(live.get_by_role("button", name=words["continue"])).to_be_visible()
    other.goto("/accounts/")
    expect(other.locator("h1")).to_have_text(words["account"])
    other.close()

    # The catalog loaded under the CSP (same origin), with no error on the page.
    tab_in.watch.assert_clean()
