"""Every network AKool streams on, in Chromium, offline (issue 18, "Must show").

- LiveKit's and TRTC's SDKs load under the page's Content-Security-Policy only when a
  session needs them, and a join that cannot reach the network fails at once, with a
  person's sentence (the page's own transport code, driven with each network's `rtc`).
- An AKool session on LiveKit (the fake AKool answering each `stream_type` with its own
  credentials) fails to join; the page offers TRTC; End, or a second failure, ends it as
  failed (close reason `error`), both upstream sessions closed.
- In the sandbox, a network made unreachable (SANDBOX_UNREACHABLE_NETWORKS) is a failed
  join too: the page offers "Try Agora", the user clicks, and the avatar answers.

The last two need the server side of the fallback (POST /sessions/{id}/fallback, the
AKool provider's LiveKit and TRTC credentials, the sandbox's 4503: helper A's part of
issue 18); each is a test function of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import Tab, close_tab, open_tab, send_chat, sign_in, wait_for_setup
from tests.support.fakes.akool_server import FakeAkool
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

# The page's own code, as a session runs it, with a network's credentials.
JOIN = """async (rtc) => {
  const config = JSON.parse(document.getElementById("page-config").textContent);
  const { createTransport } = await import("/static/js/transport.js");
  const { agoraSdkUrl: agora, livekitSdkUrl: livekit, trtcSdkUrl: trtc } = config;
  const sdkUrls = { agora, livekit, trtc };
  const transport = createTransport(rtc, { sdkUrls, videoContainer: document.body });
  const states = [];
  transport.on("state", (s) => states.push(s));
  try {
    await transport.connect();
    return { joined: true, states };
  } catch (err) {
    return { message: err.message, joinFailed: Boolean(err.joinFailed), states };
  } finally {
    await transport.close();
  }
}"""

LIVEKIT = {
    "provider": "livekit",
    "url": "wss://fake-avatar.livekit.cloud",
    "token": "fake-livekit-token",
    "room": "fake-room",
    "identity": "user-1",
    "avatar_identity": "avatar-1",
}
TRTC = {
    "provider": "trtc",
    "app_id": "1400000001",
    "room": "12345",
    "user_id": "user-1",
    "user_sig": "fake-user-sig",
}
SDK_PATH = {"livekit": "/static/vendor/livekit/", "trtc": "/static/vendor/trtc/"}
# Offline no name resolves; what each SDK reaches for, and TRTC's own error lines.
OFFLINE = (
    r"net::ERR_NAME_NOT_RESOLVED",
    r"WebSocket connection to 'wss://fake-avatar\.livekit\.cloud/",
    r"<ERROR>",
)
# TRTC's quality reports to Tencent, which the default CSP leaves out on purpose.
TRTC_REPORTS = (
    r"(yun\.tim\.qq\.com|apisgp\.my-imcloud\.com).*(Content Security Policy|violates)",
    r"(Content Security Policy|violates).*(yun\.tim\.qq\.com|apisgp\.my-imcloud\.com)",
)


@pytest.mark.parametrize("rtc", [LIVEKIT, TRTC], ids=["livekit", "trtc"])
def test_each_networks_sdk_loads_under_the_csp_and_an_offline_join_fails_at_once(
    tab: Tab, rtc: dict[str, Any]
):
    sdk = SDK_PATH[rtc["provider"]]
    fetched: list[str] = []
    tab.page.on("response", lambda r: fetched.append(r.url))
    sign_in(tab.page)
    tab.page.wait_for_load_state("networkidle")
    assert not [u for u in fetched if sdk in u]  # nothing before a session needs it

    started = time.monotonic()
    result = tab.page.evaluate(JOIN, rtc)
    assert time.monotonic() - started < 5
    assert [u for u in fetched if sdk in u]
    assert result["joinFailed"], result
    assert result["message"].startswith("Could not join the video channel"), result
    assert result["message"].startswith("Could not join the video channel. Check"), result
    assert result["states"] == ["connecting", "failed", "closed"], result
    # The SDK loaded (no "Could not load the video SDK"), and the CSP let its join try
    # every host it needs: only name resolution failed, offline.
    tab.watch.assert_clean(allow=OFFLINE + TRTC_REPORTS)


# ---------------------------------------------------------------------------------------
# An AKool session on LiveKit, with TRTC to fall back to


class NetworkAkool(FakeAkool):
    """The fake AKool, answering each `stream_type` with that network's credentials
    (contract18.md; akool-api.md "Transports")."""

    def _new_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = super()._new_session(body)
        sid = session["_id"]
        if session["stream_type"] == "livekit":
            session["credentials"] = {
                "livekit_url": "wss://fake-avatar.livekit.cloud",
                "livekit_token": f"fake-livekit-token-{sid}",
                "livekit_room_name": f"fake-room-{sid}",
                "livekit_server_identity": f"avatar-{sid}",
                "livekit_client_identity": f"user-{sid}",
            }
        elif session["stream_type"] == "trtc":
            session["credentials"] = {
                "trtc_sdk_app_id": 1400000001,
                "trtc_sdk_room_id": f"room-{sid}",
                "trtc_sdk_user_id": f"user-{sid}",
                "trtc_sdk_user_sig": f"fake-user-sig-{sid}",
            }
        return session


@pytest.fixture(scope="module")
def akool_livekit(tmp_path_factory) -> Iterator[tuple[FakeAkool, LiveServer]]:
    fake = NetworkAkool().start()
    server = LiveServer(
        tmp_path_factory.mktemp("live-networks"),
        AVATAR_PROVIDER="akool",
        AKOOL_BASE_URL=fake.base_url,
        AKOOL_API_KEY=fake.api_key,
        AKOOL_RETRIES="0",
        AKOOL_STREAM_TYPE="livekit",
        AKOOL_NETWORKS="livekit,trtc",
        AKOOL_FALLBACK="offer",
    )
    try:
        yield fake, server.start()
    finally:
        server.stop()
        fake.stop()


def upstream_closed(fake: FakeAkool, count: int) -> list[dict[str, Any]]:
    """The fake's sessions, once `count` of them are closed (the server closes them)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sessions = list(fake.sessions.values())
        if sum(1 for s in sessions if s["status"] == 3) >= count:
            break
        time.sleep(0.1)
    return list(fake.sessions.values())


def newest_session(tab: Tab, *, settled: bool = True) -> dict[str, Any]:
    """The caller's newest session; `settled`: once it is no longer live (the page's close
    is a request of its own, which may land a moment after the page is back at setup)."""
    deadline = time.monotonic() + 10
    while True:
        session = tab.page.request.get("/api/v1/sessions").json()["items"][0]
        if not settled or session["status"] not in ("starting", "active", "closing"):
            return session
        if time.monotonic() > deadline:
            return session
        time.sleep(0.1)


def test_a_livekit_join_that_fails_offers_trtc_and_end_closes_it_as_failed(
    browser: Browser, akool_livekit
):
    fake, server = akool_livekit
    t = open_tab(browser, server)
    try:
        sign_in(t.page)
        t.page.click("#start-btn")
        error = t.page.locator("#error")
        expect(error).to_contain_text("could not be reached over LiveKit", timeout=8_000)
        expect(error.get_by_role("button", name="Try TRTC")).to_be_visible()
        error.get_by_role("button", name="End").click()
        wait_for_setup(t.page)
        expect(error).to_contain_text("Could not join the video channel")
        session = newest_session(t)
        assert (session["status"], session["close_reason"]) == ("closed", "error"), session
        (upstream,) = upstream_closed(fake, 1)
        assert (upstream["stream_type"], upstream["status"]) == ("livekit", 3)
        t.watch.assert_clean(allow=OFFLINE + TRTC_REPORTS)
    finally:
        close_tab(t)


def test_after_the_fallback_a_trtc_join_that_fails_too_ends_the_session_as_failed(
    browser: Browser, akool_livekit
):
    fake, server = akool_livekit
    before = len(fake.sessions)
    t = open_tab(browser, server)
    try:
        sign_in(t.page)
        t.page.click("#start-btn")
        error = t.page.locator("#error")
        expect(error.get_by_role("button", name="Try TRTC")).to_be_visible(timeout=8_000)
        error.get_by_role("button", name="Try TRTC").click()
        wait_for_setup(t.page)
        failed = re.compile(r"Could not join the video channel\. Check your network.*again", re.S)
        expect(error).to_contain_text(failed)
        session = newest_session(t)
        assert (session["status"], session["close_reason"]) == ("closed", "error"), session
        assert session["network"] == "trtc" and session["fallback_networks"] == [], session
        first, second = upstream_closed(fake, before + 2)[before:]
        assert (first["stream_type"], first["status"]) == ("livekit", 3)
        assert (second["stream_type"], second["status"]) == ("trtc", 3)
        t.watch.assert_clean(allow=OFFLINE + TRTC_REPORTS)
    finally:
        close_tab(t)


# ---------------------------------------------------------------------------------------
# The sandbox plays an unreachable LiveKit: the page offers Agora


@pytest.fixture(scope="module")
def sandbox_unreachable(tmp_path_factory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("live-unreachable"),
        SANDBOX_UNREACHABLE_NETWORKS="livekit",
        AKOOL_NETWORKS="livekit,agora",
        SESSION_CREATES_PER_HOUR="100000",
    )
    try:
        server.start()
        server.manage(
            "shell",
            "-c",
            "from sessions.models import AvatarPreset;"
            "AvatarPreset.objects.filter(slug='ada').update(network='livekit')",
        )
        yield server
    finally:
        server.stop()


def test_in_the_sandbox_an_unreachable_network_offers_agora_and_the_avatar_answers(
    browser: Browser, sandbox_unreachable
):
    t = open_tab(browser, sandbox_unreachable)
    try:
        page = t.page
        sign_in(page)
        page.click(".preset-card[data-slug=ada]")
        page.click("#start-btn")
        error = page.locator("#error")
        expect(error).to_contain_text("could not be reached over LiveKit", timeout=8_000)
        expect(error).to_contain_text("You can try Agora instead.")
        error.get_by_role("button", name="Try Agora").click()
        expect(page.locator("#status")).to_contain_text("Connected", timeout=8_000)
        expect(error).to_be_empty()
        send_chat(page, "Hello there.")
        expect(page.locator("#transcript li.line.avatar[data-final=true]")).to_have_count(1)
        session = newest_session(t, settled=False)
        assert (session["status"], session["network"], session["fallback_networks"]) == (
            "active",
            "agora",
            [],
        ), session
        assert session["rtc"]["network"] == "agora"
        t.watch.assert_clean()
    finally:
        close_tab(t)
