"""Issue 17: a session's status is said in words (sessions/display.py STATUS_NAMES, the one
home) on every badge: History, a History entry, the staff list, the end confirmation and
the staff live page (whose script gets the words in its config)."""

from __future__ import annotations

import json
import re

import pytest

from sessions import display
from sessions.models import Status
from tests.staff.helpers import (
    SESSIONS,
    client_for,
    open_session,
    recorded_session,
    superuser_client,
)

pytestmark = pytest.mark.django_db(transaction=True)


def badges(page: str) -> list[str]:
    return re.findall(r'<span[^>]*class="badge status-\w+"[^>]*>(.*?)</span>', page)


def test_every_status_has_words_and_an_unknown_one_shows_as_it_is():
    assert {display.status_name(s) for s in Status.values} == {
        "Starting",
        "Live",
        "Ending",
        "Ended",
        "Failed",
    }
    assert display.status_name("odd") == "odd"


def test_history_and_its_entry_say_ended(world):
    session = recorded_session(world)
    alice = client_for(world.alice)
    assert badges(alice.get("/history/").text) == ["Ended"]
    assert badges(alice.get(f"/history/{session.pk}/").text) == ["Ended"]


def test_the_staff_pages_say_live(world):
    session = open_session(world)
    staff = superuser_client(world)
    assert "Live" in badges(staff.get(SESSIONS).text)
    assert badges(staff.get(f"{SESSIONS}{session.pk}/close/").text) == ["Live"]
    live = staff.get(f"{SESSIONS}{session.pk}/live/").text
    assert badges(live) == ["Live"]
    config = re.search(r'id="live-config" type="application/json">(.*?)</script>', live, re.S)
    assert config and json.loads(config.group(1))["statusNames"]["closed"] == "Ended"
