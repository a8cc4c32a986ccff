"""Issue 17 in real Chromium (helper D17): the admin's header on a phone (390x844) keeps
every link on screen and clickable (it wraps instead of running off the right edge), and
the staff pages in a person's words on a desk (the preset by name, "API tokens").

Screenshots: artifacts/screenshots/d17-phone-admin-header.png, d17-phone-session-list.png,
d17-desk-session-list.png, d17-desk-api-tokens.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import PHONE, screenshot

pytestmark = pytest.mark.browser

STAFF = ("admin", "admin-password")  # seed_demo's superuser
SESSIONS = "/admin/avatar_sessions/avatarsession/"


def admin_sign_in(page: Page) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", STAFF[0])
    page.fill("#id_password", STAFF[1])
    page.click("input[type=submit]")
    expect(page.locator("nav.staff-nav")).to_be_visible()


def header_controls_off_screen(page: Page) -> list[str]:
    """Each link and button of the header that is not wholly inside the viewport's width,
    or that another element covers at its centre (so a tap would not reach it)."""
    return page.evaluate(
        """(width) => [...document.querySelectorAll('#header a, #header button')]
        .filter((el) => el.offsetParent !== null)
        .flatMap((el) => {
          // Scrolled to it down the page only: a phone user does not scroll sideways.
          el.scrollIntoView({block: 'center'});
          window.scrollTo(0, window.scrollY);
          const r = el.getBoundingClientRect();
          const name = (el.textContent || el.getAttribute('aria-label') || el.title).trim();
          if (r.width === 0 || r.left < 0 || r.right > width) {
            return [`${name}: ${Math.round(r.left)}..${Math.round(r.right)}`];
          }
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return el.contains(hit) ? [] : [`${name}: covered by ${hit && hit.tagName}`];
        })""",
        PHONE["width"],
    )


@pytest.mark.parametrize("where", ["/admin/", SESSIONS])
def test_on_a_phone_every_admin_header_link_is_on_screen_and_clickable(phone_tab, where):
    page = phone_tab.page
    admin_sign_in(page)
    page.goto(where)
    links = page.locator("#header a:visible")
    # The staff bar and the user tools are both there: at least six links in all.
    assert links.count() >= 6
    name = "d17-phone-admin-header.png" if where == "/admin/" else "d17-phone-session-list.png"
    screenshot(page, name)
    assert header_controls_off_screen(page) == []
    # Nothing makes the page wider than the phone (no sideways scroll to find a link).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The last link of the header (the furthest right before) really opens its page.
    last = page.locator("nav.staff-nav a").last
    href = last.get_attribute("href")
    last.click()
    expect(page).to_have_url(f"{phone_tab.server.url}{href}")
    phone_tab.watch.assert_clean()


# One finished session of the demo user with the demo preset "ada", so the list has a row.
ONE_SESSION = r"""
from django.contrib.auth import get_user_model
from django.utils import timezone
from sessions.models import AvatarPreset, AvatarSession

demo = get_user_model().objects.get(username="demo")
ada = AvatarPreset.objects.get(slug="ada")
now = timezone.now()
AvatarSession.objects.create(
    owner=demo, principal=f"user:{demo.pk}", preset=ada, preset_slug="ada", provider="sandbox",
    avatar_id=ada.avatar_id, duration=300, status="closed", close_reason="user",
    created_at=now, started_at=now, closed_at=now,
)
print(ada.name)
"""


def test_on_a_desk_the_staff_pages_name_presets_and_api_tokens(tab):
    page = tab.page
    name = tab.server.manage("shell", "-c", ONE_SESSION)
    admin_sign_in(page)
    page.goto(SESSIONS)
    expect(page.locator("th.column-preset_name")).to_contain_text("Preset")
    expect(page.locator("th.column-preset_slug")).to_have_count(0)
    expect(page.locator("td.field-preset_name").first).to_have_text(name.strip().splitlines()[-1])
    screenshot(page, "d17-desk-session-list.png")
    page.goto("/admin/avatar_sessions/apitoken/")
    expect(page.locator("h1")).to_have_text("Select an API token to change")
    expect(page.locator("p.paginator")).to_contain_text("API token")
    screenshot(page, "d17-desk-api-tokens.png")
    tab.watch.assert_clean()
