"""Spend control: the account's caps on reserved minutes per UTC day and month, as a
caller of the API meets them (a 429 `spend_cap` saying which cap and when it resets),
the minutes a failed create gives back, the alerts at 80 % and 100 %, and the usage
page's figures."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core import mail
from django.core.cache import cache

from sessions.models import AvatarSession, SpendAlert
from sessions.providers.base import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from sessions.providers.sandbox.provider import SandboxProvider
from sessions.services import spend
from tests.conftest import assert_error
from tests.staff.helpers import SESSIONS, client_for, grant

pytestmark = pytest.mark.django_db

# Mid-morning, mid-month (UTC), long ago: a test's creates cannot cross a day or a
# month, and rows the database stamps with the real clock fall outside its periods.
NOON = datetime(2020, 6, 15, 10, 30, tzinfo=dt_timezone.utc)


@pytest.fixture
def clock(monkeypatch):
    """The spend periods' clock, movable by tests."""
    now = {"at": NOON}
    monkeypatch.setattr(spend, "now", lambda: now["at"])
    return now


@pytest.fixture
def caps(settings, clock):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 20
    settings.SESSION_CREATES_PER_HOUR = 100
    settings.SPEND_MINUTES_PER_DAY = 25
    settings.SPEND_MINUTES_PER_MONTH = 0
    return settings


def create(api, minutes: int):
    return api.post("/sessions", {"preset": "ada", "duration": minutes * 60})


def test_the_day_cap_refuses_exactly_the_create_that_would_pass_it(alice_api, caps):
    assert create(alice_api, 10).status_code == 201
    assert create(alice_api, 10).status_code == 201

    refused = create(alice_api, 10)

    message = assert_error(refused, 429, "spend_cap")["message"]
    assert "for today: 5 of its 25 minutes are left, and this session needs 10" in message
    assert "after midnight UTC, in about 14 hours" in message
    # 13 h 30 min to midnight, in whole seconds.
    assert refused["Retry-After"] == str(13 * 3600 + 1800)
    assert AvatarSession.objects.count() == 2
    # What is left still fits: the refused create counted nothing.
    assert create(alice_api, 5).status_code == 201
    assert_error(create(alice_api, 1), 429, "spend_cap")


def test_the_next_day_starts_afresh(alice_api, caps, clock):
    assert create(alice_api, 25).status_code == 201
    assert_error(create(alice_api, 1), 429, "spend_cap")

    clock["at"] = NOON + timedelta(days=1)

    assert create(alice_api, 25).status_code == 201


def test_the_month_cap_refuses_and_the_next_month_allows(alice_api, caps, clock):
    caps.SPEND_MINUTES_PER_DAY = 0
    caps.SPEND_MINUTES_PER_MONTH = 20
    assert create(alice_api, 15).status_code == 201
    clock["at"] = NOON + timedelta(days=10)  # another day, the same month

    error = assert_error(create(alice_api, 10), 429, "spend_cap")

    assert "for this month: 5 of its 20 minutes are left" in error["message"]
    assert "on the first of next month (UTC)" in error["message"]
    clock["at"] = datetime(2020, 7, 1, 0, 0, 1, tzinfo=dt_timezone.utc)
    assert create(alice_api, 20).status_code == 201


def test_no_cap_at_zero(alice_api, caps):
    caps.SPEND_MINUTES_PER_DAY = 0
    for _ in range(4):
        assert create(alice_api, 30).status_code == 201


def test_a_refused_create_gives_its_minutes_back(alice_api, caps, monkeypatch):
    async def refuses(self, request):
        raise UpstreamRefused("The sandbox refuses for a moment.")

    real = SandboxProvider.create_session
    monkeypatch.setattr(SandboxProvider, "create_session", refuses)
    assert_error(create(alice_api, 20), 502)
    monkeypatch.setattr(SandboxProvider, "create_session", real)

    assert create(alice_api, 25).status_code == 201


@pytest.mark.parametrize(
    "unanswered",
    [
        UpstreamTimeout("The sandbox did not answer in time."),
        UpstreamUnavailable("The connection dropped."),
    ],
)
def test_an_unanswered_create_keeps_its_minutes(alice_api, caps, monkeypatch, unanswered):
    """F7: after a timeout or a dropped connection the upstream may have made (and
    billed) the session: its minutes stay counted, in the counter and in a recount."""

    async def unanswering(self, request):
        raise unanswered

    real = SandboxProvider.create_session
    monkeypatch.setattr(SandboxProvider, "create_session", unanswering)
    assert create(alice_api, 20).status_code in (503, 504)
    monkeypatch.setattr(SandboxProvider, "create_session", real)

    assert_error(create(alice_api, 10), 429, "spend_cap")
    # A lost counter is recounted from the database: the row still counts.
    AvatarSession.objects.update(created_at=NOON)
    cache.clear()
    assert_error(create(alice_api, 10), 429, "spend_cap")
    assert create(alice_api, 5).status_code == 201


def test_a_forgotten_counter_starts_from_the_record(alice_api, caps):
    """A restarted cache (or a first create of the day) counts what the database shows."""
    assert create(alice_api, 20).status_code == 201
    AvatarSession.objects.update(created_at=NOON)  # the rows' time is the real clock's
    cache.clear()

    assert_error(create(alice_api, 10), 429, "spend_cap")
    assert create(alice_api, 5).status_code == 201


def test_alerts_at_80_and_100_percent_once_each(alice_api, caps, settings, caplog):
    settings.ADMINS = [("", "ops@example.com")]
    caps.SPEND_MINUTES_PER_DAY = 10
    caplog.set_level(logging.WARNING, logger="avatarsite.spend")

    assert create(alice_api, 7).status_code == 201  # 70 %: nothing yet
    assert mail.outbox == []
    assert create(alice_api, 1).status_code == 201  # 80 %
    assert [m.subject for m in mail.outbox] == [
        "[Django] Avatar spending reached 80 % of the day's cap"
    ]
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "reserved 8 of the 10 minutes" in mail.outbox[0].body
    assert create(alice_api, 1).status_code == 201  # 90 %: nothing new
    assert len(mail.outbox) == 1
    assert_error(create(alice_api, 2), 429, "spend_cap")  # refused: the cap is reached
    assert len(mail.outbox) == 2 and "100 %" in mail.outbox[1].subject
    assert "New sessions are refused" in mail.outbox[1].body
    # Again, even with the cache forgotten: the rows are once per period and threshold.
    assert_error(create(alice_api, 2), 429, "spend_cap")
    AvatarSession.objects.update(created_at=NOON)  # the rows' time is the real clock's
    cache.clear()
    assert_error(create(alice_api, 2), 429, "spend_cap")

    assert len(mail.outbox) == 2
    rows = SpendAlert.objects.order_by("percent")
    assert [(a.period, a.period_start, a.percent, a.minutes, a.cap) for a in rows] == [
        ("day", NOON.date(), 80, 8, 10),
        ("day", NOON.date(), 100, 9, 10),
    ]
    warned = [r.getMessage() for r in caplog.records if r.name == "avatarsite.spend"]
    assert len(warned) == 2 and "80 %" in warned[0] and "100 %" in warned[1]


def test_reaching_the_cap_exactly_raises_the_100_percent_alert(alice_api, caps):
    caps.SPEND_MINUTES_PER_DAY = 10
    assert create(alice_api, 10).status_code == 201
    assert sorted(SpendAlert.objects.values_list("percent", flat=True)) == [80, 100]
    assert mail.outbox == []  # no ADMINS: no email


def test_the_usage_page_shows_today_and_the_month_against_the_caps(alice_api, caps, world):
    caps.SPEND_MINUTES_PER_MONTH = 300
    assert create(alice_api, 10).status_code == 201
    assert create(alice_api, 5).status_code == 201
    staff = client_for(grant(world.staff, "view_usage"))

    page = staff.get(f"{SESSIONS}usage/").text

    assert "Today (UTC, 2020-06-15): 15 of 25 minutes reserved (60 %)." in page
    assert "This month (UTC, from 2020-06-01): 15 of 300 minutes reserved (5 %)." in page


def test_the_usage_page_says_when_a_period_has_no_cap(alice_api, caps, world):
    caps.SPEND_MINUTES_PER_DAY = 0
    assert create(alice_api, 10).status_code == 201
    AvatarSession.objects.update(created_at=NOON)  # counted only by the record here
    staff = client_for(grant(world.staff, "view_usage"))

    page = staff.get(f"{SESSIONS}usage/").text

    assert "Today (UTC, 2020-06-15): 10 minutes reserved; no daily cap." in page
    assert "This month (UTC, from 2020-06-01): 10 minutes reserved; no monthly cap." in page
