"""The browser tests' fixtures: one Playwright driver and one Chromium per test module
(module scope: the sync API's event loop never meets the suite's asyncio tests), and a
watched tab on the shared served process, at desktop or phone size. The helpers they use
are in tests/support/browser.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Error, Playwright, sync_playwright

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    Tab,
    close_tab,
    open_tab,
    require_chromium,
)
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    try:
        b = playwright_driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
    except Error as exc:
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}", pytrace=False)
    yield b
    b.close()


@pytest.fixture
def tab(browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, live_server_proc)
    yield t
    close_tab(t)


@pytest.fixture
def phone_tab(browser: Browser, live_server_proc: LiveServer) -> Iterator[Tab]:
    t = open_tab(browser, live_server_proc, viewport=PHONE)
    yield t
    close_tab(t)
