"""Helpers for the browser tests: Debian's Chromium driven by Playwright's sync API
(never a browser Playwright downloads), one context per test, every console error and
page error collected, and probes the page cannot hide from (every #status and #error text
it showed, how each avatar line grew). Their fixtures are in tests/browser/conftest.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    expect,
)

from tests.support.live import ROOT, LiveServer
from tools import secret_scan

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # Nothing but loopback is ever reached, whatever the page or the SDK asks for.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 800}

USER = ("demo", "demo-password")

# Installed before any page script runs: records what the page showed, even briefly.
PROBE_JS = r"""
(() => {
  const probe = (window.__probe = { status: [], errors: [], avatar: {} });
  const text = (node) => (node ? node.textContent.replace(/\s+/g, " ").trim() : "");
  const check = () => {
    const status = document.getElementById("status");
    if (status) {
      // The running "n s" of long waits is not news.
      const t = text(status).replace(/ \d+ s$/, "");
      if (t && probe.status[probe.status.length - 1] !== t) probe.status.push(t);
    }
    const error = document.getElementById("error");
    if (error) {
      const t = text(error);
      const last = probe.errors[probe.errors.length - 1];
      if (t && (!last || last.text !== t || last.code !== (error.dataset.code || ""))) {
        probe.errors.push({ text: t, code: error.dataset.code || "" });
      }
    }
    for (const li of document.querySelectorAll("#transcript li.line.avatar")) {
      const mid = li.dataset.mid;
      if (!mid) continue;
      const len = text(li.querySelector(".text")).length;
      const snaps = (probe.avatar[mid] ??= []);
      const last = snaps[snaps.length - 1];
      const final = li.dataset.final === "true";
      if (!last || last.len !== len || last.final !== final) snaps.push({ len, final });
    }
  };
  new MutationObserver(check).observe(document, {
    childList: true,
    subtree: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["data-final", "data-code", "data-cut"],
  });
})();
"""


def require_chromium() -> None:
    if not (CHROMIUM.is_file() and CHROMIUM.stat().st_mode & 0o111):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's "
            "chromium package. `make test` installs it (apt-get install chromium).",
            pytrace=False,
        )


@dataclass
class Watch:
    """Everything a context's pages said went wrong."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(f"{page.url}: {exc}"))
        page.on("response", self._on_response)
        secret_scan.watch_page(page)  # its frames and response headers

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            where = msg.location.get("url", "") if msg.location else ""
            self.console_errors.append(f"{msg.text} ({where})")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.bad_responses.append(f"{response.status} {response.request.method} {response.url}")

    def problems(self, allow: tuple[str, ...] = ()) -> list[str]:
        """Console errors and page errors, minus those matching a regex in `allow`."""
        found = [f"console error: {e}" for e in self.console_errors]
        found += [f"page error: {e}" for e in self.page_errors]
        return [p for p in found if not any(re.search(a, p) for a in allow)]

    def assert_clean(self, allow: tuple[str, ...] = ()) -> None:
        problems = self.problems(allow)
        assert not problems, "the page reported errors:\n" + "\n".join(problems)


@dataclass
class Tab:
    """A signed-out browser context with one page, watched."""

    context: BrowserContext
    page: Page
    watch: Watch
    server: LiveServer

    def probe(self, page: Page | None = None) -> dict[str, Any]:
        return (page or self.page).evaluate("window.__probe")


def open_tab(
    browser: Browser, server: LiveServer, viewport: dict[str, int] = DESKTOP, **options: Any
) -> Tab:
    """`options` go to the new context (color_scheme, bypass_csp, ...)."""
    context = browser.new_context(viewport=viewport, base_url=server.url, **options)
    context.set_default_timeout(10_000)
    context.add_init_script(PROBE_JS)
    watch = Watch()
    context.on("page", watch.attach)
    page = context.new_page()
    return Tab(context=context, page=page, watch=watch, server=server)


def close_tab(tab: Tab) -> None:
    """End whatever session the test left running, so the next test starts clean."""
    secret_scan.record_pages(tab.context.pages)  # each page's final document
    try:
        close_active_sessions(tab.context)
    finally:
        tab.context.close()


def close_active_sessions(context: BrowserContext) -> None:
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    if "sessionid" not in cookies or "csrftoken" not in cookies:
        return
    listing = context.request.get("/api/v1/sessions?status=active")
    if not listing.ok:
        return
    for item in listing.json().get("items", []):
        if item.get("status") in ("starting", "active"):
            context.request.post(
                f"/api/v1/sessions/{item['id']}/close",
                data={},
                headers={"X-CSRFToken": cookies["csrftoken"]},
            )


# ---------------------------------------------------------------------------------------
# Page actions


def sign_in(page: Page, user: tuple[str, str] = USER) -> None:
    """Sign in through the login form and wait for the avatar page to be ready."""
    page.goto("/")
    expect(page.locator("#login-btn")).to_be_visible()
    page.fill("input[name=username]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("#login-btn")
    wait_for_setup(page)


def wait_for_setup(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#app")).to_have_attribute("data-phase", "setup", timeout=timeout)
    expect(page.locator(".preset-card").first).to_be_visible(timeout=timeout)
    expect(page.locator("#start-btn")).to_be_enabled(timeout=timeout)


def start_session(page: Page, preset: str) -> None:
    """Pick `preset`, press Start and wait until the session is connected."""
    page.click(f".preset-card[data-slug={preset}]")
    expect(page.locator(f".preset-card[data-slug={preset}] input")).to_be_checked()
    page.click("#start-btn")
    expect(page.locator("#app")).to_have_attribute("data-phase", "session", timeout=15_000)
    expect(page.locator("#status")).to_contain_text("Connected", timeout=15_000)


def send_chat(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    expect(page.locator("#chat-input")).to_have_value("")


def lines(page: Page) -> list[dict[str, Any]]:
    """The transcript as the page shows it."""
    return page.eval_on_selector_all(
        "#transcript li.line",
        """items => items.map(li => ({
            role: li.dataset.role || (li.classList.contains('user') ? 'user' : 'avatar'),
            mid: li.dataset.mid || '',
            text: li.querySelector('.text')?.textContent ?? '',
            final: li.dataset.final,
            cut: li.dataset.cut === 'true',
        }))""",
    )


def end_session(page: Page) -> None:
    page.click("#end-btn")
    wait_for_setup(page)
    expect(page.locator("#status")).to_contain_text("You can start a new session")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


# Reads what the user sees: the <video> fed by the face canvas (or the canvas itself when
# the browser cannot capture it), drawn into a fresh canvas; returns a cheap fingerprint.
FRAME_FINGERPRINT_JS = """() => {
  const video = document.getElementById('avatar-video');
  const face = document.getElementById('avatar-canvas');
  const source = !video.hidden && video.readyState >= 2 ? video : face;
  const w = source === video ? video.videoWidth : face.width;
  const h = source === video ? video.videoHeight : face.height;
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  const ctx = c.getContext('2d');
  ctx.drawImage(source, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h).data;
  let sum = 0, weighted = 0, lit = 0;
  for (let i = 0; i < data.length; i += 4) {
    const v = data[i] + data[i + 1] + data[i + 2];
    sum += v;
    weighted = (weighted + v * ((i >> 2) % 9973)) % 2147483647;
    if (v > 30) lit += 1;
  }
  return { source: source.id, w, h, sum, weighted, lit, time: video.currentTime };
}"""


def frame_fingerprint(page: Page) -> dict[str, Any]:
    return page.evaluate(FRAME_FINGERPRINT_JS)


# ---------------------------------------------------------------------------------------
# The server's own record


def stream_violations(server: LiveServer) -> list[tuple]:
    return server.query(
        "SELECT session_id, message FROM avatar_sessions_sessionevent "
        "WHERE message LIKE 'stream violation%'",
    )


def shown_violation_errors(probe: dict[str, Any]) -> list[dict[str, str]]:
    return [
        e
        for e in probe.get("errors", [])
        if e["code"] in ("stream_violation", "sandbox_violation")
        or "dropped a message" in e["text"]
    ]
