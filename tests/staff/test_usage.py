"""The usage page: sessions and minutes per day, per user and per preset, reserved vs
used, sessions by close reason, and its server-drawn chart."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from sessions.models import AvatarSession
from sessions.staff import charts, usage
from tests.staff.helpers import SESSIONS, superuser_client

pytestmark = pytest.mark.django_db(transaction=True)

USAGE = f"{SESSIONS}usage/"
DAY1 = date(2026, 3, 2)


def session(owner, preset, *, day: date, hour: int = 10, reserved=600, used=None, **kw):
    created = datetime(day.year, day.month, day.day, hour, tzinfo=dt_timezone.utc)
    started = created + timedelta(seconds=2) if used is not None else None
    closed = started + timedelta(seconds=used) if used is not None else None
    status = kw.pop("status", "closed" if used is not None else "failed")
    return AvatarSession.objects.create(
        owner=owner,
        principal=f"user:{owner.pk}" if owner else "ip:10.0.0.1",
        preset=preset,
        preset_slug=preset.slug if preset else "",
        provider="sandbox",
        avatar_id="x",
        duration=reserved,
        created_at=created,
        started_at=kw.pop("started_at", started),
        closed_at=kw.pop("closed_at", closed),
        status=status,
        close_reason=kw.pop("close_reason", "user" if status == "closed" else "error"),
        **kw,
    )


@pytest.fixture
def history(world):
    """Three days of sessions:
    day 1: alice/ada 10 min reserved, 6 used; bob/cleo 5 reserved, 5 used (expired)
    day 2: nothing
    day 3: alice/ada 10 reserved, 2 used (admin); a failed start by bob (5 reserved);
           an anonymous visitor on ada, 2 reserved, 1 used.
    and one session the day before, outside the range."""
    a, b = world.alice, world.bob
    session(a, world.preset, day=DAY1, used=360)
    session(b, world.retell, day=DAY1, hour=23, reserved=300, used=300, close_reason="expired")
    session(a, world.preset, day=DAY1 + timedelta(days=2), used=120, close_reason="admin")
    session(b, world.preset, day=DAY1 + timedelta(days=2), reserved=300)
    session(None, world.preset, day=DAY1 + timedelta(days=2), reserved=120, used=60)
    session(a, world.preset, day=DAY1 - timedelta(days=1), used=600)


def test_the_report_adds_up_per_day_user_preset_and_reason(history, world):
    report = usage.report(DAY1, DAY1 + timedelta(days=2))

    t = report.totals
    assert (t.sessions, t.reserved_minutes, t.used_minutes) == (5, 32.0, 14.0)
    assert report.user_count == 3  # alice, bob and the anonymous visitors
    assert [(d.label, d.sessions, d.reserved_minutes, d.used_minutes) for d in report.days] == [
        ("2026-03-02", 2, 15.0, 11.0),
        ("2026-03-03", 0, 0.0, 0.0),
        ("2026-03-04", 3, 17.0, 3.0),
    ]
    assert [(u.label, u.sessions, u.reserved_minutes, u.used_minutes) for u in report.users] == [
        ("alice", 2, 20.0, 8.0),
        ("bob", 2, 10.0, 5.0),
        ("anonymous visitors", 1, 2.0, 1.0),
    ]
    assert report.users[0].query == f"owner__id__exact={world.alice.pk}"
    assert report.users[2].query == "owner__isnull=True"
    # Named as staff know them (the preset's name), filtered by slug.
    assert [(p.label, p.sessions, p.used_minutes) for p in report.presets] == [
        ("Ada", 4, 9.0),
        ("Cleo", 1, 5.0),
    ]
    assert report.presets[0].query == "preset_slug__exact=ada"
    assert {r.label: r.sessions for r in report.reasons} == {
        "ended by the user": 2,
        "its time was up": 1,
        "ended by staff": 1,
        "an error": 1,
    }
    assert report.users[0].utilisation == pytest.approx(0.4)


def test_a_live_session_counts_its_minutes_so_far(world):
    now = timezone.now()
    AvatarSession.objects.create(
        owner=world.alice,
        principal="user:1",
        preset_slug="ada",
        provider="sandbox",
        avatar_id="x",
        duration=600,
        status="active",
        created_at=now - timedelta(minutes=3),
        started_at=now - timedelta(minutes=3),
    )
    report = usage.report(timezone.localdate(), timezone.localdate())
    assert report.totals.used_minutes == pytest.approx(3.0, abs=0.2)
    assert [r.label for r in report.reasons] == ["not closed yet"]


def test_the_page_shows_totals_tables_and_a_chart(history, world):
    staff = superuser_client(world)
    response = staff.get(f"{USAGE}?start=2026-03-02&end=2026-03-04")
    assert response.status_code == 200
    page = response.text
    totals = " ".join(page.split('id="usage-totals"')[1].split("</dl>")[0].split())
    for expected in (
        "<dt>Sessions</dt><dd>5</dd>",
        "<dt>Minutes reserved</dt><dd>32.0</dd>",
        "<dt>Minutes used</dt><dd>14.0</dd>",
        "<dt>Used of reserved</dt><dd>44 %</dd>",  # one style with the spend lines
    ):
        assert expected in totals.replace("> <", "><")
    # Two server-drawn charts: minutes (reserved and used bars) and sessions, 3 days each.
    assert page.count('<svg class="bar-chart"') == 2
    assert len(re.findall(r'<rect class="bar bar-reserved" [^>]*><title>', page)) == 3
    assert len(re.findall(r'<rect class="bar bar-used" [^>]*><title>', page)) == 3
    assert "2026-03-02: 2 sessions, 15 min reserved, 11 min used" in page
    assert "<script" not in page.split('id="content-main"')[1]  # no script: drawn server-side
    assert "style=" not in page
    # Rows link to the audit list of the same sessions.
    assert f"?owner__id__exact={world.alice.pk}&amp;created_at__gte=2026-03-02" in page
    assert "Sessions by how they ended" in page and "its time was up" in page


def test_the_page_defaults_to_the_last_30_days(world):
    staff = superuser_client(world)
    report = staff.get(USAGE).context["report"]
    assert report.end == timezone.localdate()
    assert len(report.days) == 30


def test_a_bad_range_is_explained(world):
    staff = superuser_client(world)
    response = staff.get(f"{USAGE}?start=2026-03-05&end=2026-03-01")
    assert "The first day must not be after the last." in response.text
    assert response.context["report"] is None
    response = staff.get(f"{USAGE}?start=2020-01-01&end=2026-03-01")
    assert "Pick at most 366 days." in response.text
    assert staff.get(f"{USAGE}?start=not-a-date").status_code == 200


def test_chart_geometry():
    assert [charts.nice_ceiling(v) for v in (0, 0.5, 3, 10, 11, 26, 740)] == [
        1,
        1,
        5,
        10,
        20,
        50,
        1000,
    ]
    chart = charts.bar_chart(
        key="k",
        title="t",
        description="d",
        labels=["a", "b"],
        series=[("wide", "w", [10, 5]), ("narrow", "n", [4, 0])],
        titles=["ta", "tb"],
    )
    wide = [b for b in chart.bars if b.css == "wide"]
    narrow = [b for b in chart.bars if b.css == "narrow"]
    plot_h = chart.plot_bottom - charts.TOP
    assert wide[0].height == plot_h and wide[1].height == plot_h / 2
    assert narrow[0].height == pytest.approx(plot_h * 0.4) and narrow[1].height == 0
    assert narrow[0].width < wide[0].width
    assert [t.label for t in chart.ticks] == ["0", "5", "10"]
    assert (
        len(
            charts.bar_chart(
                key="k",
                title="t",
                description="d",
                labels=[str(i) for i in range(366)],
                series=[("s", "s", [1] * 366)],
                titles=[""] * 366,
            ).x_labels
        )
        <= charts.MAX_X_LABELS
    )


def test_each_row_links_to_exactly_its_sessions_in_the_audit(history, world):
    staff = superuser_client(world)
    page = staff.get(f"{USAGE}?start=2026-03-02&end=2026-03-04")
    report = page.context["report"]
    for row in [*report.users, *report.presets, *report.reasons]:
        url = f"{SESSIONS}?{row.query}&{page.context['range_query']}"
        listing = staff.get(url)
        assert listing.status_code == 200, url
        assert listing.context["cl"].result_count == row.sessions, (row.label, url)
    everything = staff.get(f"{SESSIONS}?{page.context['range_query']}")
    assert everything.context["cl"].result_count == report.totals.sessions
