"""Attack finding 7 on issue 15: days at the calendar's ends on the usage page raised
OverflowError (a 500 with a traceback); they are a form error now."""

from __future__ import annotations

import logging

import pytest

from tests.staff.helpers import SESSIONS, superuser_client

pytestmark = pytest.mark.django_db

USAGE = f"{SESSIONS}usage/"


@pytest.mark.parametrize(
    "query",
    [
        "start=9999-12-31&end=9999-12-31",
        "end=0001-01-01",
        "start=0001-01-01",
        "end=9999-12-31",
        "start=9999-12-30&end=9999-12-31",
        "start=0001-01-01&end=0001-01-02",
    ],
)
def test_days_at_the_ends_of_the_calendar_are_a_form_error(world, query, caplog):
    staff = superuser_client(world)
    with caplog.at_level(logging.ERROR):
        response = staff.get(f"{USAGE}?{query}")
    assert response.status_code == 200
    assert "Pick days from 2000-01-01 to 9999-12-30." in response.text
    assert response.context["report"] is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_first_and_last_days_allowed_make_a_report(world):
    staff = superuser_client(world)
    for query in ("start=2000-01-01&end=2000-01-31", "start=9999-12-01&end=9999-12-30"):
        response = staff.get(f"{USAGE}?{query}")
        assert response.status_code == 200
        assert response.context["report"] is not None
    # Only the last day given: the 30 days before it, never before the first day allowed.
    report = staff.get(f"{USAGE}?end=2000-01-05").context["report"]
    assert (report.start.isoformat(), len(report.days)) == ("2000-01-01", 5)
