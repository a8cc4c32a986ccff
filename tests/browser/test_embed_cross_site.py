"""The embed as a website's visitor meets it, across sites: a shop's page
(http://shop.test:<port>/, tests/support/embed_host.py) loads our /embed.js from our site
(http://avatars.test:<port>/, a served process of its own: ALLOWED_HOSTS names it); the
launcher opens our page in an iframe; the visitor talks to the sandbox avatar; the shop's
own script hears the events and sends commands. Two sites, so our cookies would be
third-party there: the embed uses none.

Chromium maps the made-up names to loopback and treats the three origins as secure
contexts (`--unsafely-treat-insecure-origin-as-secure`): a real embed is https, and the
page's microphone needs one.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, Playwright, expect

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, DESK, Tab, close_tab, open_tab
from tests.support.embed_host import (
    ELSEWHERE,
    OURS,
    SERVER_SETTINGS,
    SHOP,
    HostSite,
    ax_click,
    chromium_args,
    embed_frame,
    launcher_shown,
    make_key,
)
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

PRESET = "ada"
BUSY = "This website's avatar is busy right now; please try again shortly."
STAFF = ("admin", "admin-password")  # seed_demo's


@pytest.fixture(scope="module")
def shop() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, shop: HostSite) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("embed-cross-site"),
        **SERVER_SETTINGS,
        # A turned-off key is noticed by a live socket at its next beat.
        HEARTBEAT_INTERVAL="1",
    )
    live.env["CSRF_TRUSTED_ORIGINS"] = f"http://{OURS}:{live.port}"
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def ours(server: LiveServer) -> str:
    return f"http://{OURS}:{server.port}"


@pytest.fixture(scope="module")
def keys(server: LiveServer, shop: HostSite) -> dict[str, str]:
    """The shop's keys: `main` (one session at a time for the whole key, however many
    each visitor may have: the second visitor meets the key's own limit), and `doomed`,
    which a test turns off."""
    common = {"visitor_sessions_per_hour": 100, "host_may_say": True}
    return {
        "main": make_key(
            server,
            "Shop",
            [shop.origin(SHOP)],
            [PRESET],
            key_concurrent=1,
            visitor_concurrent=2,
            **common,
        ),
        "doomed": make_key(server, "Doomed", [shop.origin(SHOP)], [PRESET], **common),
    }


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright, server: LiveServer, shop: HostSite) -> Iterator[Browser]:
    secure = [shop.origin(SHOP), shop.origin(ELSEWHERE), f"http://{OURS}:{server.port}"]
    b = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(CHROMIUM_ARGS, secure), headless=True
    )
    yield b
    b.close()


@pytest.fixture
def visitor(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server, viewport=DESK)
    yield t
    close_tab(t)


@pytest.fixture
def second_visitor(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, server, viewport=DESK)
    yield t
    close_tab(t)


# --- what a visitor does ----------------------------------------------------------------


def visit(page: Page, shop: HostSite, ours: str, key: str, host: str = SHOP) -> None:
    page.goto(shop.url(host, key=key, script=f"{ours}/embed.js"))


def open_panel(page: Page) -> Frame:
    launcher_shown(page)
    ax_click(page, "Talk to us")
    frame = embed_frame(page)
    expect(frame.locator("#start-btn")).to_be_enabled()
    return frame


def start(frame: Frame) -> None:
    frame.click(f".preset-card[data-slug={PRESET}]")
    frame.click("#start-btn")
    expect(frame.locator("#status")).to_contain_text("Connected", timeout=15_000)


def host_events(page: Page, kind: str | None = None) -> list[dict[str, Any]]:
    events = page.evaluate("window.hostEvents")
    return [e for e in events if kind is None or e["type"] == kind]


def wait_for_event(page: Page, kind: str, count: int = 1, **match: Any) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [e for e in host_events(page, kind) if all(e.get(k) == v for k, v in match.items())]

    for _ in range(150):
        if len(found()) >= count:
            return found()[count - 1]
        page.wait_for_timeout(100)
    raise AssertionError(f"no {kind} {match} event; the host heard {host_events(page)}")


def host_call(page: Page, method: str, *args: Any) -> None:
    page.evaluate(
        "([method, args]) => document.querySelector('avatar-embed')[method](...args)",
        [method, list(args)],
    )


def live_sessions(server: LiveServer, key: str) -> list[tuple]:
    return server.query(
        "SELECT s.id, s.status, s.close_reason FROM avatar_sessions_avatarsession s "
        "JOIN avatar_sessions_embedkey k ON s.embed_key_id = k.id WHERE k.public_key = %s",
        key,
    )


# --- the tests ------------------------------------------------------------------------------


def test_a_visitor_talks_to_the_avatar_and_the_shop_hears_it(
    visitor: Tab, shop: HostSite, ours: str, keys: dict[str, str]
):
    page = visitor.page
    visit(page, shop, ours, keys["main"])
    frame = open_panel(page)
    ready = wait_for_event(page, "ready")
    assert [p[0] if isinstance(p, list) else p.get("slug") for p in ready["presets"]] == [PRESET]

    start(frame)
    started = wait_for_event(page, "session-started")
    assert started["session"]["preset"] == PRESET

    frame.fill("#chat-input", "What is the tide like today?")
    frame.press("#chat-input", "Enter")
    wait_for_event(page, "transcript", role="user", text="What is the tide like today?")
    answer = wait_for_event(page, "transcript", role="avatar")
    expect(frame.locator("#transcript li.line.avatar").first).to_contain_text(answer["text"][:20])

    # The shop's own script types for the visitor (the key allows it) and ends the session.
    host_call(page, "say", "And tomorrow?")
    wait_for_event(page, "transcript", role="user", text="And tomorrow?")
    expect(frame.locator("#transcript li.line.user")).to_have_count(2)
    host_call(page, "end")
    ended = wait_for_event(page, "session-ended")
    assert ended["reason"] == "user"
    assert ended["words"]

    # Nothing in any event is a credential; no cookie of ours was set in either site.
    for event in host_events(page):
        assert "emb." not in repr(event) and "token" not in event and "rtc" not in event
    assert visitor.context.cookies() == []
    visitor.watch.assert_clean()


def test_the_launcher_works_from_the_keyboard(
    visitor: Tab, shop: HostSite, ours: str, keys: dict[str, str]
):
    page = visitor.page
    visit(page, shop, ours, keys["main"])
    launcher_shown(page)
    page.keyboard.press("Tab")  # the shop's page has no other control: the launcher
    page.keyboard.press("Enter")
    expect(embed_frame(page).locator("#start-btn")).to_be_visible()
    # Focus went into the panel (its close button); Escape closes it, the frame goes, and
    # focus is back on the launcher: Enter opens it again.
    assert page.evaluate("document.activeElement.tagName") == "AVATAR-EMBED"
    page.keyboard.press("Escape")
    expect(page.locator("avatar-embed")).to_be_attached()
    for _ in range(20):
        if not page.main_frame.child_frames:
            break
        page.wait_for_timeout(50)
    assert page.main_frame.child_frames == []
    page.keyboard.press("Enter")
    expect(embed_frame(page).locator("#start-btn")).to_be_visible()
    visitor.watch.assert_clean()


def test_a_website_the_key_does_not_list_gets_nothing(
    visitor: Tab, server: LiveServer, shop: HostSite, ours: str, keys: dict[str, str]
):
    page = visitor.page
    visit(page, shop, ours, keys["main"], host=ELSEWHERE)
    launcher_shown(page)
    with page.expect_response(re.compile(r"/embed/ek_")) as refused:
        ax_click(page, "Talk to us")
    # Our page refuses the origin (403, no token in it) and may not be framed anywhere:
    # Chromium shows its own error page in the panel, and the shop hears nothing.
    assert refused.value.status == 403
    assert "frame-ancestors 'none'" in refused.value.headers["content-security-policy"]
    blocked(page, 0)
    assert host_events(page) == []
    with urllib.request.urlopen(
        f"{server.url}/embed/{keys['main']}/?origin={shop.origin(SHOP)}"
    ) as r:
        assert "emb." in r.read().decode()  # the shop's page does carry a token...
    refusal = f"{server.url}/embed/{keys['main']}/?origin={shop.origin(ELSEWHERE)}"
    with pytest.raises(urllib.error.HTTPError) as page_403:
        urllib.request.urlopen(refusal)
    assert page_403.value.code == 403
    assert "emb." not in page_403.value.read().decode()  # ...another website's none

    # A page that lies about its origin gets our page for the shop, which the browser
    # will not show inside another site: frame-ancestors lists the shop alone.
    lie = f"{ours}/embed/{keys['main']}/?origin={shop.origin(SHOP)}"
    with page.expect_response(lambda r: r.url == lie) as served:
        page.evaluate(
            "src => document.body.append(Object.assign(document.createElement('iframe'), {src}))",
            lie,
        )
    assert served.value.status == 200
    policy = served.value.headers["content-security-policy"]
    assert f"frame-ancestors {shop.origin(SHOP)}" in policy, policy
    blocked(page, 1)
    page.wait_for_timeout(300)  # a ready event would have come by now
    assert host_events(page) == []
    assert any("frame-ancestors" in e for e in visitor.watch.console_errors)


def _frame_text(page: Page, index: int) -> str:
    """The text of the page's `index`th frame once it has loaded a document of ours."""
    for _ in range(100):
        frames = page.main_frame.child_frames
        if len(frames) > index and frames[index].url.startswith("http"):
            try:
                return frames[index].inner_text("body")
            except Exception:  # noqa: BLE001, S110 (still loading: try again)
                pass
        page.wait_for_timeout(50)
    raise AssertionError(f"no page of ours: {[f.url for f in page.main_frame.child_frames]}")


def blocked(page: Page, index: int) -> None:
    """The page's `index`th frame shows Chromium's error page: refused by frame-ancestors."""
    for _ in range(50):
        frames = page.main_frame.child_frames
        if len(frames) > index and frames[index].url.startswith("chrome-error://"):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"not blocked: {[f.url for f in page.main_frame.child_frames]}")


def test_the_keys_own_limit_refuses_a_second_visitor_and_closing_frees_it(
    visitor: Tab, second_visitor: Tab, shop: HostSite, ours: str, keys: dict[str, str]
):
    first, second = visitor.page, second_visitor.page
    visit(first, shop, ours, keys["main"])
    start(open_panel(first))
    wait_for_event(first, "session-started")

    visit(second, shop, ours, keys["main"])
    frame = open_panel(second)
    frame.click(f".preset-card[data-slug={PRESET}]")
    frame.click("#start-btn")
    expect(frame.locator("#error")).to_contain_text(BUSY)
    assert host_events(second, "session-started") == []

    # The first visitor closes the panel: that ends the session and frees the key's slot.
    ax_click(first, "Close")
    wait_for_event(first, "session-ended", reason="user")
    frame.click("#start-btn")
    expect(frame.locator("#status")).to_contain_text("Connected", timeout=15_000)
    wait_for_event(second, "session-started")
    host_call(second, "end")
    wait_for_event(second, "session-ended")


def test_turning_the_key_off_ends_the_live_session_and_stops_new_ones(
    visitor: Tab,
    browser: Browser,
    server: LiveServer,
    shop: HostSite,
    ours: str,
    keys: dict[str, str],
):
    page = visitor.page
    visit(page, shop, ours, keys["doomed"])
    frame = open_panel(page)
    start(frame)
    wait_for_event(page, "session-started")

    turn_off(browser, server, keys["doomed"])
    ended = wait_for_event(page, "session-ended")
    # The panel says why, in the words the shop heard (news in #status; a failure in #error).
    expect(frame.locator("#status, #error").filter(has_text=ended["words"])).to_have_count(1)
    assert ended["reason"] == "revoked"
    assert [row[1:] for row in live_sessions(server, keys["doomed"])] == [("closed", "revoked")]

    # The visitor who stays cannot start again: the page's token died with the key.
    frame.click("#start-btn")
    expect(frame.locator("#error")).not_to_be_empty()
    assert len(host_events(page, "session-started")) == 1
    # Nor does a new visit get an avatar: no page for a key that is off.
    ax_click(page, "Close")
    with page.expect_response(re.compile(r"/embed/ek_")) as refused:
        ax_click(page, "Talk to us")
    assert refused.value.status == 404
    # Framed by the key's own websites still, so the panel says why rather than a blank.
    said = _frame_text(page, 0)
    assert "not available" in said, said


def turn_off(browser: Browser, server: LiveServer, key: str) -> None:
    """Staff turn `key` off in the admin: revoke() ends its live sessions in the served
    process, whose sockets hear it."""
    (pk,) = server.query("SELECT id FROM avatar_sessions_embedkey WHERE public_key = %s", key)[0]
    staff = open_tab(browser, server)
    try:
        page = staff.page
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", STAFF[0])
        page.fill("#id_password", STAFF[1])
        page.click("input[type=submit]")
        page.goto(f"/admin/avatar_sessions/embedkey/{pk}/change/")
        page.uncheck("#id_active")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_be_visible()
    finally:
        close_tab(staff)
