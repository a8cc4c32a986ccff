"""A spoken turn in the sandbox, as a person meets it (issue 19): the preset lets the page
hear through the browser's own speech recognition (here a stand-in the test puts in the
page, since headless Chromium has no recogniser); the page says where the audio goes,
hands the phrase to the sandbox avatar (`sandbox-hear`), the avatar sends it back as
recognised speech, and our LLM (the fake server) answers it aloud in the transcript."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import Tab, close_tab, lines, open_tab, sign_in, start_session
from tests.support.fakes.llm_server import FakeLlm
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

QUESTION = "When does the museum open?"
ANSWER = "The museum opens at nine. Enjoy your visit!"

# A recogniser that "hears" QUESTION once, a moment after it starts.
FAKE_RECOGNITION = """
window.SpeechRecognition = class {
  start() {
    window.__recognitionStarted = (window.__recognitionStarted || 0) + 1;
    if (window.__heard) return;
    window.__heard = true;
    setTimeout(() => this.onresult?.({resultIndex: 0, results: [
      Object.assign([{transcript: QUESTION}], {isFinal: true})]}), 200);
  }
  stop() {}
};
""".replace("QUESTION", json.dumps(QUESTION))


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlm]:
    with FakeLlm(ANSWER) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm: FakeLlm) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("spoken"),
        LLM_BASE_URL=llm.base_url,
        LLM_API_KEY=llm.api_key or "",
        SANDBOX_WORDS_PER_SECOND="60",
    ).start()
    live.manage(
        "shell",
        "-c",
        "from sessions.models import AvatarPreset as P\n"
        "P.objects.filter(slug='ada').update(use_llm=True, mode=1, browser_speech=True)",
    )
    yield live
    live.stop()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    t.context.add_init_script(FAKE_RECOGNITION)
    yield t
    close_tab(t)


def test_a_spoken_question_is_heard_and_answered_in_the_sandbox(tab: Tab, llm: FakeLlm):
    page = tab.page
    sign_in(page)
    start_session(page, "ada")
    expect(page.locator("#mic-note")).to_contain_text("speech service")
    page.click("#mic-btn")
    expect(page.locator("#transcript li.line.user")).to_contain_text(QUESTION)
    expect(page.locator("#transcript li.line.avatar")).to_contain_text(ANSWER)
    said = lines(page)
    assert [(line["role"], line["text"]) for line in said] == [
        ("user", QUESTION),
        ("avatar", ANSWER),
    ]
    deadline = time.monotonic() + 2
    while not llm.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": QUESTION}
    tab.watch.assert_clean()
