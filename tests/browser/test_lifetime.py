"""A session lives exactly as long as its user wants it, in real Chromium (issue 12).

Signed in with a password (the cookie, as people use the page), against a served process
whose clocks are shortened: heartbeats every 0.5 s, a reaper pass every half second
after a 2 s grace. A page left open keeps its session through many beats and passes; a server
that stops mid-session shows one notice while it is gone, and then either resumes the
session (Redis + PostgreSQL: make test's second pass) or says plainly that it ended and
why (the embedded defaults, whose sandbox lives in the process's memory).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    Tab,
    close_tab,
    open_tab,
    screenshot,
    send_chat,
    sign_in,
    start_session,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser


HEARTBEAT = 0.5
REAPER = 0.5
GRACE = 2.0
RESTART_GRACE = 30.0
ON_REDIS = bool(os.environ.get("REDIS_URL"))


@pytest.fixture
def server(request, tmp_path) -> Iterator[LiveServer]:
    # After a restart the reaper's first pass waits one disconnect grace, so that pages
    # in their reconnect backoff (up to 15 s) claim their sessions first: the restart
    # test keeps a grace of the default's kind; the idle test needs short clocks.
    grace = RESTART_GRACE if request.node.get_closest_marker("restart") else GRACE
    live = LiveServer(
        tmp_path,
        HEARTBEAT_INTERVAL=str(HEARTBEAT),
        REAPER_INTERVAL=str(REAPER),
        SESSION_DISCONNECT_GRACE=str(grace),
        SANDBOX_WORDS_PER_SECOND="60",
    ).start()
    yield live
    live.stop()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server)
    yield t
    if server.process is not None and server.process.poll() is None:
        close_tab(t)
    else:
        t.context.close()


def answered(tab: Tab, count: int, timeout: float = 15_000) -> None:
    """Wait until `count` avatar lines are complete."""
    expect(tab.page.locator('#transcript li.line.avatar[data-final="true"]')).to_have_count(
        count, timeout=timeout
    )


def sessions(server: LiveServer) -> list[tuple[str, str]]:
    return server.query("SELECT status, close_reason FROM avatar_sessions_avatarsession")


def test_a_page_left_open_keeps_its_session_and_still_answers(tab: Tab, server: LiveServer):
    page = tab.page
    sign_in(page)
    start_session(page, "ada")

    # Idle: at least 5 heartbeat intervals and 3 reaper passes after the first one.
    page.wait_for_timeout(1000 * (GRACE + 4 * REAPER + 1))
    assert sessions(server) == [("active", "")]
    send_chat(page, "Are you still there?")
    answered(tab, 1)

    # Chatting: a message every second, through as many beats and passes again.
    for n in range(2, 5):
        page.wait_for_timeout(1000)
        send_chat(page, f"Question number {n}?")
        answered(tab, n)

    assert sessions(server) == [("active", "")]
    assert "closed (" not in server.log()
    expect(page.locator("#app")).to_have_attribute("data-phase", "session")
    tab.watch.assert_clean()


@pytest.mark.restart
def test_a_server_restart_mid_session_shows_one_notice_then_resumes_or_explains(
    tab: Tab, server: LiveServer
):
    page = tab.page
    sign_in(page)
    start_session(page, "ada")
    send_chat(page, "Hello before the outage")
    answered(tab, 1)

    server.kill()  # our process dies: no goodbye to any socket
    expect(page.locator("#status")).to_contain_text("can't be reached", timeout=10_000)
    page.wait_for_timeout(3000)  # several reconnect attempts while it is down
    screenshot(page, f"restart-outage-{'redis' if ON_REDIS else 'embedded'}.png")
    # One notice, updating in place; no error blaming the user's connection beside it.
    assert page.locator("#error").inner_text().strip() == ""
    shown = tab.probe()
    errors = " ".join(e["text"] for e in shown["errors"])
    assert "check your connection" not in errors.lower()
    assert "Reconnecting failed" not in errors

    started = time.monotonic()
    server.start()
    if ON_REDIS:
        # Presence and the sandbox's state live in Redis: the session goes on.
        expect(page.locator("#status")).to_contain_text("continues", timeout=25_000)
        send_chat(page, "Hello after the outage")
        answered(tab, 2, timeout=20_000)
        expect(page.locator("#app")).to_have_attribute("data-phase", "session")
        assert sessions(server) == [("active", "")]
        screenshot(page, "restart-resumed-redis.png")
    else:
        # The sandbox avatar lived in the dead process: the page says so, plainly.
        expect(page.locator("#app")).to_have_attribute("data-phase", "setup", timeout=20_000)
        notice = page.locator("#status, #error").all_inner_texts()
        assert any("restarted" in text for text in notice), notice
        assert sessions(server) == [("closed", "crashed")]
        screenshot(page, "restart-ended-embedded.png")
    assert time.monotonic() - started < 40
    text = " ".join(e["text"] for e in tab.probe()["errors"]).lower()
    assert "check your connection" not in text
    # The outage itself shows as failed loads and refused sockets in the console.
    tab.watch.assert_clean(allow=(r"ERR_CONNECTION_REFUSED", r"WebSocket", r"Failed to load"))
