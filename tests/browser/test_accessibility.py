"""Accessibility (issue 17, "Must show"): axe-core, from npm, finds no serious or critical
violation on any page a person meets, in any state, in light and in dark.

One walk through the site (a user signs in, starts a session, the avatar speaks, the user
ends it and reads the history; a staff member opens every staff page, the live view while
the session runs) runs axe at each stop in both colour schemes; one test per stop and
scheme then reads its result, listing each violation and the nodes it found it on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    Tab,
    close_tab,
    end_session,
    open_tab,
    send_chat,
    sign_in,
    start_session,
)
from tests.support.live import ROOT, LiveServer

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCHEMES = ("light", "dark")
SERIOUS = ("serious", "critical")
STAFF = ("admin", "admin-password")  # seed_demo's superuser
ADMIN = "/admin/avatar_sessions"

USER_STATES = ["sign-in", "setup", "live", "ended", "history", "history-entry"]
STAFF_STATES = [
    "admin-sign-in",
    "admin-index",
    "session-list",
    "staff-live",
    "session-page",
    "preset-edit",
    "usage",
    "token-list",
]

# About 200 words: five seconds of speech at the live server's 40 words a second, long
# enough for axe to look at the speaking page in both schemes.
SPEECH = "Tell me a long story about the sea and the ships that sail it. " * 15

# Runs in the page: axe on the whole document, the serious and critical violations only,
# each with what it is, why it matters and where.
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), why: n.failureSummary })),
    }));
}"""


# After a change of colour scheme, the colours that ease into their new value (the admin's
# links do) are checked once they have arrived, not halfway.
SETTLE = """async () => {
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const easing = document.getAnimations().filter((a) => a instanceof CSSTransition);
  const arrived = Promise.all(easing.map((a) => a.finished.catch(() => null)));
  await Promise.race([arrived, new Promise((resolve) => setTimeout(resolve, 1000))]);
}"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


def describe(violations: list[dict[str, Any]]) -> str:
    out = []
    for v in violations:
        out.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        out += [f"    {n['target']}: {n['why']}".replace("\n", " ") for n in v["nodes"]]
    return "\n".join(out)


class Walk:
    """What axe found at each stop, in each colour scheme."""

    def __init__(self) -> None:
        self.found: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.stopped: str | None = None

    def check(self, page: Page, state: str) -> None:
        page.wait_for_load_state()
        self.found[state] = {}
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            page.evaluate(SETTLE)
            self.found[state][scheme] = axe_violations(page)
        page.emulate_media(color_scheme="light")


def admin_sign_in(page: Page, walk: Walk) -> None:
    page.goto("/admin/login/?next=/admin/")
    walk.check(page, "admin-sign-in")
    page.fill("#id_username", STAFF[0])
    page.fill("#id_password", STAFF[1])
    page.click("input[type=submit]")
    expect(page.locator("nav.staff-nav")).to_be_visible()


def walk_user_and_staff(walk: Walk, user: Page, staff: Page) -> None:
    user.goto("/accounts/login/")
    walk.check(user, "sign-in")
    sign_in(user)
    walk.check(user, "setup")

    start_session(user, "ada")
    session_id = user.request.get("/api/v1/sessions?status=active").json()["items"][0]["id"]
    send_chat(user, SPEECH)
    expect(user.locator("#speaking")).to_have_attribute("data-speaking", "true")
    walk.check(user, "live")

    admin_sign_in(staff, walk)
    walk.check(staff, "admin-index")
    staff.goto(f"{ADMIN}/avatarsession/")
    walk.check(staff, "session-list")
    staff.goto(f"{ADMIN}/avatarsession/{session_id}/live/")
    expect(staff.locator("#live-connection")).to_have_attribute("data-state", "open")
    walk.check(staff, "staff-live")

    end_session(user)
    walk.check(user, "ended")
    user.goto("/history/")
    walk.check(user, "history")
    user.goto(f"/history/{session_id}/")
    walk.check(user, "history-entry")

    staff.goto(f"{ADMIN}/avatarsession/{session_id}/change/")
    walk.check(staff, "session-page")
    staff.goto(f"{ADMIN}/avatarpreset/")
    staff.locator("#result_list tbody a").first.click()
    expect(staff).to_have_url(re.compile(r"/avatarpreset/\d+/change/$"))
    walk.check(staff, "preset-edit")
    staff.goto(f"{ADMIN}/avatarsession/usage/")
    walk.check(staff, "usage")
    staff.goto(f"{ADMIN}/apitoken/")
    walk.check(staff, "token-list")


@pytest.fixture(scope="module")
def walk(browser: Browser, live_server_proc: LiveServer) -> Iterator[Walk]:
    # bypass_csp: the site's policy allows only its own scripts, and axe is injected.
    tabs: list[Tab] = [open_tab(browser, live_server_proc, bypass_csp=True) for _ in "us"]
    result = Walk()
    try:
        walk_user_and_staff(result, tabs[0].page, tabs[1].page)
    except Exception as exc:  # each test after the failing stop says where it stopped
        result.stopped = f"{type(exc).__name__}: {exc}"
    finally:
        for t in tabs:
            close_tab(t)
    yield result


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("state", USER_STATES + STAFF_STATES)
def test_axe_finds_no_serious_violation(walk: Walk, state: str, scheme: str):
    assert state in walk.found, f"the walk stopped before {state}: {walk.stopped}"
    violations = walk.found[state][scheme]
    assert not violations, (
        f"axe-core found serious or critical violations on {state} ({scheme}):\n"
        + describe(violations)
    )
