"""The page's weight (issue 17, "Must show"): before Start it loads no RTC SDK, and its
own JavaScript and CSS stay under 150 KB uncompressed; the SDK comes only when a session
needs it (an AKool session: Agora's data stream), never for the sandbox.

"Before Start" is everything the browser receives from the sign-in page to the ready avatar
page (presets shown, Start enabled, the network quiet), the user having neither pressed,
pointed at nor tabbed to Start: doing so fetches what only a running session needs
(static/js/live_parts.js and its imports, README "Page weight"). The figure measured is
printed (`pytest -s`) for the release note; the budget is the issue's, the aim 120 KB.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.support.browser import (
    Tab,
    close_tab,
    open_tab,
    send_chat,
    sign_in,
    start_session,
    wait_for_setup,
)
from tests.support.fakes.akool_server import FakeAkool
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

BUDGET = 150 * 1024  # bytes of our own JS and CSS, uncompressed, before Start
SESSION_CODE = "/static/js/live_parts.js"  # what Start fetches
SDK_FILE = "AgoraRTC_N-production"
VENDOR = "/static/vendor/"


def is_sdk(url: str) -> bool:
    return SDK_FILE in url or "/vendor/agora/" in url


def record_responses(page: Page) -> list[Response]:
    seen: list[Response] = []
    page.on("response", lambda r: seen.append(r))
    return seen


def own_code_bytes(tab: Tab, responses: list[Response]) -> dict[str, int]:
    """Each script and stylesheet of ours the browser fetched (from the site, vendored files
    excepted), by path, with its size uncompressed. Sizes are read by fetching each again:
    the browser drops a page's bodies when it navigates on (the sign-in page's)."""
    sizes: dict[str, int] = {}
    for response in responses:
        url = urlsplit(response.url)
        if response.request.resource_type not in ("script", "stylesheet"):
            continue
        if url.netloc != urlsplit(tab.server.url).netloc or url.path.startswith(VENDOR):
            continue
        if response.ok and url.path not in sizes:
            sizes[url.path] = len(tab.context.request.get(response.url).body())
    return sizes


def load_until_start(tab: Tab) -> list[Response]:
    """Everything the browser received from opening the site to the ready avatar page."""
    responses = record_responses(tab.page)
    sign_in(tab.page)
    tab.page.wait_for_load_state("networkidle")
    return list(responses)


@pytest.fixture(scope="module")
def akool_server(tmp_path_factory) -> Iterator[LiveServer]:
    fake = FakeAkool().start()
    server = LiveServer(
        tmp_path_factory.mktemp("live-weight"),
        AVATAR_PROVIDER="akool",
        AKOOL_BASE_URL=fake.base_url,
        AKOOL_API_KEY=fake.api_key,
        AKOOL_RETRIES="0",
    )
    try:
        yield server.start()
    finally:
        server.stop()
        fake.stop()


def test_before_start_our_js_and_css_stay_under_150_kb(tab: Tab):
    sizes = own_code_bytes(tab, load_until_start(tab))
    js = sum(n for p, n in sizes.items() if not p.endswith(".css"))
    css = sum(n for p, n in sizes.items() if p.endswith(".css"))
    print(
        f"\npage weight before Start: {js + css} bytes ({(js + css) / 1024:.1f} KB) of our "
        f"own JS and CSS: JS {js} bytes in {len(sizes) - 1} files, CSS {css} bytes"
    )
    assert any(p.endswith("/app.js") for p in sizes), sizes  # the measure saw the page
    assert SESSION_CODE not in sizes and not any(p.endswith("/live_session.js") for p in sizes)
    heaviest = sorted(sizes.items(), key=lambda kv: -kv[1])
    assert js + css < BUDGET, f"{js + css} bytes, the heaviest first: {heaviest}"


def test_the_sdk_comes_only_when_an_akool_session_starts(browser: Browser, akool_server):
    t = open_tab(browser, akool_server)
    try:
        before = load_until_start(t)
        assert any(urlsplit(r.url).path.endswith("/app.js") for r in before)
        assert not [r.url for r in before if is_sdk(r.url)]

        # Start: the session is AKool's, its media Agora's; now the page fetches the SDK.
        with t.page.expect_response(lambda r: is_sdk(r.url), timeout=15_000) as sdk:
            t.page.click("#start-btn")
        assert sdk.value.status == 200
        expect(t.page.locator("#app")).to_have_attribute("data-phase", "session")
    finally:
        close_tab(t)  # offline the join never settles: the session ends here


def test_a_sandbox_session_never_fetches_the_sdk(tab: Tab):
    responses = record_responses(tab.page)
    sign_in(tab.page)
    start_session(tab.page, "ada")
    send_chat(tab.page, "Hello there.")
    answers = tab.page.locator("#transcript li.line.avatar[data-final=true]")
    expect(answers).to_have_count(1)
    assert not [r.url for r in responses if is_sdk(r.url)]
    tab.watch.assert_clean()


def test_pointing_at_start_fetches_the_sessions_code_and_start_runs_it(tab: Tab):
    sign_in(tab.page)
    tab.page.wait_for_load_state("networkidle")
    with tab.page.expect_response(lambda r: r.url.endswith(SESSION_CODE)) as code:
        tab.page.hover("#start-btn")
    assert code.value.ok
    start_session(tab.page, "ada")
    tab.watch.assert_clean()


def test_the_sessions_code_failing_to_load_says_so_and_start_stays_usable(tab: Tab):
    tab.page.route(f"**{SESSION_CODE}", lambda route: route.abort())
    sign_in(tab.page)
    tab.page.click("#start-btn")
    expect(tab.page.locator("#error")).to_have_text(
        "Could not start the session: part of this page did not load. "
        "Check your connection, then reload the page."
    )
    expect(tab.page.locator("#app")).to_have_attribute("data-phase", "setup")
    expect(tab.page.locator("#start-btn")).to_be_enabled()
    expect(tab.page.locator("#start-btn")).to_have_text("Start")
    # No session was created: the next page load finds none to resume, and Start works.
    tab.page.unroute(f"**{SESSION_CODE}")
    tab.page.reload()
    wait_for_setup(tab.page)
    expect(tab.page.locator("#error")).to_be_empty()
    start_session(tab.page, "ada")
    tab.watch.assert_clean(allow=("live_parts", "Failed to fetch dynamically imported module"))
