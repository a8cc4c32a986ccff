"""Issue 20 in real Chromium: staff create a website's embed key (origins written loosely
are saved normalised), open its page and copy the snippet to paste; the page runs under
the admin's CSP with no console or page error.

Screenshot: artifacts/screenshots/h3-embed-key.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import screenshot

pytestmark = pytest.mark.browser

STAFF = ("admin", "admin-password")  # seed_demo's superuser


def test_staff_create_a_key_and_copy_its_snippet(tab):
    page = tab.page
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", STAFF[0])
    page.fill("#id_password", STAFF[1])
    page.click("input[type=submit]")
    page.click("nav.staff-nav >> text=Embed keys")
    page.click("a.addlink")
    page.fill("#id_name", "Browser shop")
    page.fill("#id_allowed_origins", "HTTPS://Shop.Example:443/")
    page.locator("#id_presets input[type=checkbox]").first.check()
    page.click("input[name=_continue]")

    expect(page.locator("#id_allowed_origins")).to_have_value("https://shop.example")
    snippet = page.input_value("#embed-script")
    assert snippet.startswith(f'<script src="{tab.server.url}/embed.js" data-key="ek_')
    page.click("#copy-token")
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    expect(page.locator(".embed-usage-figures")).to_contain_text("Live now")
    screenshot(page, "h3-embed-key.png")
    tab.watch.assert_clean()
