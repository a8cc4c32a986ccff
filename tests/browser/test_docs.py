"""/api/v1/docs in real Chromium: Swagger UI renders the API from this site's own static
files under the site's CSP (it was a blank page: the CSP blocked its CDN scripts)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import Tab

pytestmark = pytest.mark.browser


def test_the_api_docs_render_with_no_csp_violation(tab: Tab):
    tab.page.goto("/api/v1/docs")

    expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("avatarsite API")
    expect(tab.page.locator(".opblock").first).to_be_visible()
    # The description is Markdown: the header's placeholder is shown, not eaten as a tag.
    expect(tab.page.locator(".swagger-ui .info")).to_contain_text("Authorization: Bearer <token>")
    tab.watch.assert_clean()
    assert not [r for r in tab.watch.bad_responses if "/static/" in r]
