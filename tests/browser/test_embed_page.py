"""Issue 20: the embed page as a website's visitor meets it, opened top-level here (framed
by another site: tests/browser/test_embed_launcher.py): pick an avatar, Start, talk, End,
and not one cookie of ours in the browser afterwards."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Request, expect

from tests.support.browser import (
    Tab,
    end_session,
    lines,
    screenshot,
    send_chat,
    start_session,
    wait_for_setup,
)

pytestmark = pytest.mark.browser

SHOP = "https://shop.test"
PANEL = {"width": 400, "height": 640}  # the launcher's panel on a desk (static/embed/embed.js)

NEW_KEY = """
from sessions.models import AvatarPreset, EmbedKey
key = EmbedKey.objects.create(name="Browser shop", allowed_origins="https://shop.test")
key.presets.set(AvatarPreset.objects.filter(slug__in=["ada", "cleo"]))
print(key.public_key)
"""


def test_a_visitor_talks_to_the_avatar_without_a_cookie(tab: Tab):
    public_key = tab.server.manage("shell", "-c", NEW_KEY).strip().splitlines()[-1]
    page = tab.page
    api_calls: list[Request] = []
    page.on("request", lambda r: api_calls.append(r) if "/api/v1/" in r.url else None)

    page.set_viewport_size(PANEL)
    page.goto(f"/embed/{public_key}/?origin={SHOP}")
    wait_for_setup(page)
    screenshot(page, "embed-setup.png")
    # Compact: no header or sign-in; only the key's avatars; no settings but Start.
    expect(page.locator(".site-header")).to_have_count(0)
    slugs = page.locator(".preset-card").evaluate_all("cards => cards.map(c => c.dataset.slug)")
    assert sorted(slugs) == ["ada", "cleo"]
    expect(page.locator("#voice-select")).to_be_hidden()
    expect(page.locator("#recording-notice")).to_be_visible()

    start_session(page, "cleo")  # cleo retells: the sandbox avatar says what is typed
    send_chat(page, "Hello from the shop")
    expect(page.locator("#transcript li.line.user .text")).to_have_text("Hello from the shop")
    avatar = page.locator("#transcript li.line.avatar[data-final=true] .text")
    expect(avatar.first).to_contain_text("Hello from the shop")
    assert [line["role"] for line in lines(page)][:2] == ["user", "avatar"]
    screenshot(page, "embed-session.png")
    end_session(page)

    host = urlsplit(tab.server.url).hostname
    ours = [c["name"] for c in tab.context.cookies() if c["domain"].lstrip(".") == host]
    assert ours == [], f"the embed left cookies: {ours}"
    # Every API call carried the visitor's token, none a CSRF header.
    assert api_calls
    for request in api_calls:
        headers = request.all_headers()
        assert re.fullmatch(r"Bearer emb\..+", headers.get("authorization", "")), request.url
        assert "x-csrftoken" not in headers and "cookie" not in headers, request.url
    tab.watch.assert_clean()
