"""F4 as a person meets it: an avatar whose own-assistant answers are checked (declined
topics) offers no dialogue mode on the page, and says why; its session starts in the mode
it allows. In real Chromium against a served process on the sandbox provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import Tab, close_tab, open_tab, sign_in, start_session
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

LLM_HOST = "llm.example.test"  # never reached: no chat is sent


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("mode-guard"), LLM_BASE_URL=f"http://{LLM_HOST}/v1"
    ).start()
    live.manage(
        "shell",
        "-c",
        "from sessions.models import AvatarPreset as P\n"
        "P.objects.filter(slug='cleo').update(use_llm=True, declined_topics='politics')\n"
        # Our LLM ticked, Mode left at Dialogue (the new user's preset).
        "P.objects.filter(slug='ada').update(use_llm=True, mode=2)",
    )
    yield live
    live.stop()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    yield t
    close_tab(t)


def test_a_guarded_avatar_offers_no_dialogue_mode_and_says_why(tab: Tab, server: LiveServer):
    page = tab.page
    sign_in(page)
    modes = page.locator("#mode-select option")

    page.click(".preset-card[data-slug=ada]")
    expect(modes).to_have_count(2)

    page.click(".preset-card[data-slug=cleo]")
    expect(modes).to_have_count(1)
    expect(modes).to_have_text(["Own assistant"])
    expect(page.locator("#mode-help")).to_contain_text(
        "checked before it speaks them, so it has no dialogue mode"
    )
    start_session(page, "cleo")
    rows = server.query("SELECT mode, use_llm FROM avatar_sessions_avatarsession")
    assert [(int(mode), bool(llm)) for mode, llm in rows] == [(1, True)]
    tab.watch.assert_clean()


def test_an_own_llm_avatar_left_at_dialogue_starts_with_our_assistant(tab: Tab, server: LiveServer):
    # Staff ticked "answer with our LLM" and left Mode at Dialogue: the page starts in
    # the mode where our assistant answers (modes.default_mode), dialogue still offered.
    page = tab.page
    sign_in(page)
    page.click(".preset-card[data-slug=ada]")
    expect(page.locator("#mode-select")).to_have_value("1")
    expect(page.locator("#mode-select option")).to_have_count(2)
    start_session(page, "ada")
    rows = server.query("SELECT mode, use_llm FROM avatar_sessions_avatarsession")
    assert [(int(mode), bool(llm)) for mode, llm in rows][-1:] == [(1, True)]
    tab.watch.assert_clean()
