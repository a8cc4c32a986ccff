"""The recording notice, its tick, the warning before the end and Extend, in real
Chromium against served processes on the sandbox provider (issue 16).

Clocks are shortened with settings: the warning comes 57 s before the end, so a session
of one minute (the page's shortest) is warned about a few seconds after it starts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    Tab,
    close_tab,
    lines,
    open_tab,
    screenshot,
    send_chat,
    sign_in,
    start_session,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

WARNING = 57  # seconds before the end: a 60 s session is warned about after ~3 s
LLM_HOST = "llm.example.test"  # never reached: only its name is shown


def _presets(server: LiveServer, **flags: str) -> None:
    """Set preset flags in the served process's database (e.g. ben="consent_required")."""
    code = "from sessions.models import AvatarPreset as P\n" + "\n".join(
        f"P.objects.filter(slug={slug!r}).update({flag}=True)" for slug, flag in flags.items()
    )
    server.manage("shell", "-c", code)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    # One served process for the module (each costs seconds to start). With an LLM
    # configured the sandbox's dialogue mode would ask it, so the chats here use
    # retelling (the avatar says what is typed) and never reach the unresolvable host.
    live = LiveServer(
        tmp_path_factory.mktemp("extend"),
        LLM_BASE_URL=f"http://{LLM_HOST}/v1",
        TRANSCRIPT_RETENTION_DAYS="30",
        SESSION_END_WARNING=str(WARNING),
        SANDBOX_WORDS_PER_SECOND="60",
    ).start()
    _presets(live, ben="consent_required", cleo="use_llm", ada="extend_allowed")
    yield live
    live.stop()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    yield t
    close_tab(t)


def _hex(value) -> str:
    return str(value).replace("-", "")  # SQLite keeps a UUID as hex, PostgreSQL as a UUID


ROW = (
    "SELECT id, status, close_reason, continues_id, upstream_id FROM avatar_sessions_avatarsession"
)


def _row(server: LiveServer, where: str, *params: str) -> tuple:
    rows = server.query(f"{ROW} WHERE {where}", *params)  # noqa: S608 - the tests' own conditions
    assert len(rows) == 1, rows
    return rows[0]


def test_the_notice_is_shown_and_a_presets_tick_gates_start(tab: Tab):
    page = tab.page
    sign_in(page)
    notice = page.locator("#recording-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("This conversation is recorded.")
    expect(notice).to_contain_text("kept for 30 days")
    # Ada asks for no tick; dialogue mode: our assistant hears nothing, so it is not named.
    expect(page.locator("#consent-label")).to_be_hidden()
    expect(page.locator("#recording-notice-llm")).to_be_hidden()
    expect(page.locator("#start-btn")).to_be_enabled()

    # Cleo answers with our assistant: where what is said goes is named (its host only).
    page.click(".preset-card[data-slug=cleo]")
    expect(page.locator("#recording-notice-llm")).to_be_visible()
    expect(page.locator("#recording-notice-llm")).to_contain_text(LLM_HOST)
    expect(page.locator("#recording-notice-llm")).not_to_contain_text("/v1")

    # Ben asks for the tick: Start waits for it.
    page.click(".preset-card[data-slug=ben]")
    expect(page.locator("#consent-label")).to_be_visible()
    expect(page.locator("#start-btn")).to_be_disabled()
    screenshot(page, "recording-notice-tick.png")
    page.check("#consent-check")
    expect(page.locator("#start-btn")).to_be_enabled()
    page.uncheck("#consent-check")
    expect(page.locator("#start-btn")).to_be_disabled()
    page.check("#consent-check")
    start_session(page, "ben")
    tab.watch.assert_clean()


def test_the_warning_comes_before_the_end_and_extend_moves_the_page_on(
    tab: Tab, server: LiveServer
):
    page = tab.page
    sign_in(page)
    page.fill("#duration-input", "1")
    page.click(".preset-card[data-slug=ada]")
    page.select_option("#mode-select", "1")  # retelling: the avatar says what is typed
    start_session(page, "ada")
    send_chat(page, "Remember the word pineapple.")
    expect(page.locator("#transcript li.line.avatar[data-final='true']")).to_have_count(1)
    page.focus("#chat-input")

    warning = page.locator("#end-warning")
    expect(warning).to_have_text(
        "This session ends in about a minute."
        " Press Extend to carry on talking in a follow-on session.",
        timeout=8_000,
    )
    expect(warning).to_have_attribute("aria-live", "polite")
    expect(page.locator("#extend-btn")).to_be_visible()
    # The warning is announced, never grabbing the focus: the user was typing.
    assert page.evaluate("document.activeElement.id") == "chat-input"
    screenshot(page, "end-warning-extend.png")
    old_id = _row(server, "status = 'active'")[0]

    page.click("#extend-btn")
    expect(page.locator("#status")).to_have_text(
        "The session goes on in a follow-on session.", timeout=10_000
    )
    expect(page.locator("#app")).to_have_attribute("data-phase", "session")
    old = _row(server, "id = %s", old_id)
    new = _row(server, "continues_id = %s", old_id)
    assert old[:3] == (old_id, "closed", "extended")
    assert new[1] == "active" and new[3] == old_id
    assert new[4] and old[4] and new[4] != old[4]  # two upstream sessions
    listed = page.request.get("/api/v1/sessions").json()["items"]
    assert {s["id"].replace("-", "") for s in listed} >= {_hex(old_id), _hex(new[0])}
    expect(warning).to_have_text("")  # the new session has its whole time

    # The conversation goes on on the same page: the old lines stay, the new socket answers.
    assert "pineapple" in lines(page)[0]["text"]
    send_chat(page, "Are you still there?")
    answer = page.locator("#transcript li.line.avatar[data-final='true']", has_text="still there")
    expect(answer).to_have_count(1)
    said = [(line["role"], line["text"]) for line in lines(page)]
    assert [text for role, text in said if role == "user"] == [
        "Remember the word pineapple.",
        "Are you still there?",
    ], said
    tab.watch.assert_clean()


def test_no_extend_where_the_preset_does_not_allow_it(tab: Tab):
    page = tab.page
    sign_in(page)
    page.fill("#duration-input", "1")
    start_session(page, "cleo")
    expect(page.locator("#end-warning")).to_have_text(
        "This session ends in about a minute.", timeout=8_000
    )
    expect(page.locator("#extend-btn")).to_be_hidden()
    tab.watch.assert_clean()
