"""Screenshots of the avatar page for review: `python -m tools.screenshots`.

Starts the site the way the browser tests do (a served process on loopback, migrated and
seeded, on a database of its own in a temporary directory; tests/support/live.py), drives
Debian's Chromium through Playwright as the demo user, and writes to artifacts/screenshots/
one PNG per state, size and colour scheme, named <state>-<desk|phone>-<light|dark>.png,
plus README.md there with one line per file saying what it shows.

States: setup (the start screen), live (the avatar speaking), interrupted (an answer cut
short by Interrupt), ended (back at the start screen after End), history (the list of past
sessions); and the embed on another website (a shop's page on a made-up name that
Chromium maps to loopback, tests/support/embed_host.py): embed-closed (the launcher),
embed-open (our page in its panel or phone sheet), embed-live (a visitor talking to it).
Sizes: desk 1280x800, phone 390x844. The sandbox avatar speaks slowly here, so
the speaking states hold still long enough to be caught.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    close_active_sessions,
    send_chat,
    sign_in,
    start_session,
    wait_for_setup,
)
from tests.support.embed_host import (
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
from tools.serving import ROOT

OUT = ROOT / "artifacts" / "screenshots"
SIZES = {"desk": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
PRESET = "ada"
# Slow enough that a reply takes a few seconds to say: the live and interrupted states
# are caught while the avatar is still speaking.
WORDS_PER_SECOND = "2"

STATES = {
    "setup": "the start screen, signed in: the avatars to pick from and the settings",
    "live": "a live session, the avatar speaking its answer to the user's question",
    "interrupted": "a live session after Interrupt: the avatar's answer cut short",
    "ended": "back at the start screen after End, with the notice saying the session ended",
    "history": "the history page: the user's past sessions, newest first",
    "embed-closed": "a shop's page on another website with the avatar's launcher, closed",
    "embed-open": "the shop's page with the launcher open: our page in its panel, ready",
    "embed-live": "the embed in a live session: the avatar answering the shop's visitor",
}
SIZE_WORDS = {"desk": "on a desk (1280x800)", "phone": "on a phone (390x844)"}
SCHEME_WORDS = {"light": "in light mode", "dark": "in dark mode"}

Shoot = Callable[[str], None]


def speaking(page: Page) -> None:
    expect(page.locator("#speaking")).to_have_attribute("data-speaking", "true", timeout=15_000)


def walk(page: Page, shoot: Shoot) -> None:
    """One person's visit: every state, each photographed as it is reached."""
    sign_in(page)
    shoot("setup")

    start_session(page, PRESET)
    send_chat(page, "Hello! What can you tell me about the weather by the sea?")
    speaking(page)
    page.wait_for_timeout(1500)  # a few words in
    shoot("live")
    expect(page.locator("#transcript li.line.avatar[data-final=true]")).to_have_count(
        1, timeout=30_000
    )

    send_chat(page, "Tell me about the ships that sail there in winter.")
    speaking(page)
    page.wait_for_timeout(1500)
    page.click("#interrupt-btn")
    expect(page.locator("#transcript li.line.avatar[data-cut=true]")).to_have_count(1)
    shoot("interrupted")

    page.click("#end-btn")
    wait_for_setup(page)
    expect(page.locator("#status")).not_to_be_empty()
    shoot("ended")

    page.goto("/history/")
    expect(page.locator("h1")).to_be_visible()
    shoot("history")


def walk_embed(page: Page, shoot: Shoot, shop_url: str) -> None:
    """A shop's visitor: the launcher, the open panel, a question answered."""
    page.goto(shop_url)
    launcher_shown(page)
    shoot("embed-closed")
    ax_click(page, "Talk to us")
    frame = embed_frame(page)
    wait_for_setup(frame)  # a Frame has the page's locator API
    shoot("embed-open")
    start_session(frame, PRESET)
    send_chat(frame, "Hello! Do you sell lanterns that work in the rain?")
    speaking(frame)
    page.wait_for_timeout(1500)
    shoot("embed-live")
    # No cookie to find it by afterwards (close_active_sessions): the visitor ends it here.
    frame.click("#end-btn")
    wait_for_setup(frame)


def take(browser: Browser, server: LiveServer, size: str, scheme: str, shop_url: str) -> list[str]:
    names: list[str] = []
    for run in (walk, lambda page, shoot: walk_embed(page, shoot, shop_url)):
        context = browser.new_context(
            viewport=SIZES[size], base_url=server.url, color_scheme=scheme
        )
        context.set_default_timeout(10_000)
        page = context.new_page()

        def shoot(state: str, page: Page = page) -> None:
            name = f"{state}-{size}-{scheme}.png"
            page.screenshot(path=str(OUT / name), animations="disabled", caret="hide")
            names.append(name)

        try:
            run(page, shoot)
        finally:
            close_active_sessions(context)
            context.close()
    return names


def describe(name: str) -> str:
    state, size, scheme = name.removesuffix(".png").rsplit("-", 2)
    return f"- `{name}`: {STATES[state]}, {SIZE_WORDS[size]}, {SCHEME_WORDS[scheme]}."


def write_index(names: list[str]) -> Path:
    index = OUT / "README.md"
    lines = [
        "# Screenshots",
        "",
        "Made by `python -m tools.screenshots` (the sandbox avatar, the demo user, the "
        f"{PRESET!r} preset); one line per file.",
        "",
        *(describe(n) for n in sorted(names)),
    ]
    index.write_text("\n".join(lines) + "\n")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), action="append")
    parser.add_argument("--scheme", choices=SCHEMES, action="append")
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        print(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium).")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    names: list[str] = []
    with tempfile.TemporaryDirectory(prefix="screenshots-") as workdir:
        server = LiveServer(
            Path(workdir), SANDBOX_WORDS_PER_SECOND=WORDS_PER_SECOND, **SERVER_SETTINGS
        )
        server.start()
        shop = HostSite()
        try:
            ours = f"http://{OURS}:{server.port}"
            # A visitor's minutes per day would run out over the sizes and schemes.
            generous = {"visitor_minutes_per_day": 0, "visitor_sessions_per_hour": 100}
            key = make_key(server, "Harbour Provisions", [shop.origin(SHOP)], [PRESET], **generous)
            shop_url = shop.url(SHOP, key=key, script=f"{ours}/embed.js")
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM),
                    args=chromium_args(CHROMIUM_ARGS, [shop.origin(SHOP), ours]),
                    headless=True,
                )
                for size in args.size or SIZES:
                    for scheme in args.scheme or SCHEMES:
                        names += take(browser, server, size, scheme, shop_url)
                        print(f"{size} {scheme}: done", flush=True)
                browser.close()
        finally:
            shop.stop()
            server.stop()
    index = write_index(names)
    took = time.monotonic() - started
    print(f"{len(names)} screenshots in {OUT.relative_to(ROOT)} ({took:.0f} s); index: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
