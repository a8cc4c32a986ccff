"""Issue 15: the session page of a session with thousands of events (item 3) shows one
bounded page of its transcript and of its event log, with links to the others, and loads
no unbounded list of rows; lines only the user's page reported (item 6) are marked as
such on the page and in both exports."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from sessions.models import SessionEvent, TranscriptEntry
from sessions.staff.audit import PAGE_REPORTED_NOTE
from tests.staff.helpers import SESSIONS, at, recorded_session, superuser_client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]

EVENTS = 1_200
LINES = 450  # beside the four the recorded session has


@pytest.fixture
def staff(world):
    return superuser_client(world)


@pytest.fixture
def busy(world):
    """A finished session with 1,200 more events and 450 more lines."""
    session = recorded_session(world)
    SessionEvent.objects.bulk_create(
        SessionEvent(session=session, kind="command", message=f"set-params {i}", created_at=at(50))
        for i in range(EVENTS)
    )
    TranscriptEntry.objects.bulk_create(
        TranscriptEntry(
            session=session, role="user", mid=f"m{i}", text=f"line {i}", created_at=at(60 + i)
        )
        for i in range(LINES)
    )
    return session


def rows(page: str, pattern: str) -> int:
    return len(re.findall(pattern, page))


def test_a_session_with_thousands_of_events_shows_one_page_of_each(staff, busy):
    url = f"{SESSIONS}{busy.pk}/change/"
    page = staff.get(url).text

    assert rows(page, r'<tr class="event kind-') == 200
    assert rows(page, r'<li class="line ') == 200
    total_events = EVENTS + 7
    assert f"Events 1–200 of {total_events:,}".replace(",", "") in page.replace(",", "")
    assert "Transcript (454 lines)" in page
    # The counts are of the whole log, not of the page.
    assert re.search(rf"{EVENTS + 1}\s+commands", page)

    later = re.search(r'<a class="page-next" href="(\?events=2)#events-panel"', page)
    assert later, "a link to the next page of events"
    second = staff.get(url + later.group(1)).text
    # Five recorded events come first, so the second page starts at the 196th command.
    assert "<td>set-params 195</td>" in second and "<td>set-params 194</td>" not in second
    assert "Later events" in second
    assert "Earlier events" in second
    last = staff.get(f"{url}?events=7&lines=3").text
    assert rows(last, r'<tr class="event kind-') == total_events - 6 * 200
    assert rows(last, r'<li class="line ') == 454 - 2 * 200
    assert 'class="page-next"' not in last


@override_settings(AUDIT_PAGE_SIZE=50)
def test_the_page_size_is_a_setting_and_no_query_reads_the_whole_log(staff, busy):
    with CaptureQueriesContext(connection) as queries:
        page = staff.get(f"{SESSIONS}{busy.pk}/change/").text
    assert rows(page, r'<tr class="event kind-') == 50
    for query in queries.captured_queries:
        sql = query["sql"].upper()
        if "COUNT(" in sql or "LIMIT" in sql:
            continue  # a count, or one page
        # Else only the few state changes the timings need, and never the lines' text.
        assert "SESSIONEVENT" not in sql or "'STATE'" in sql, sql
        assert "TRANSCRIPTENTRY" not in sql or '"TEXT"' not in sql, sql


def page_reported_session(world):
    session = recorded_session(world)
    TranscriptEntry.objects.create(
        session=session,
        role="avatar",
        mid="a3",
        text="I promise you a full refund.",
        final=True,
        reported_by_page=True,
        created_at=at(40),
    )
    return session


def test_the_session_page_marks_lines_only_the_user_s_page_reported(staff, world):
    session = page_reported_session(world)
    page = staff.get(f"{SESSIONS}{session.pk}/change/").text

    marked = re.findall(r'<li class="line [^"]*page-reported[^"]*"[^>]*>(.*?)</li>', page, re.S)
    assert len(marked) == 1 and "full refund" in marked[0]
    assert 'data-reported-by-page="true"' in page
    assert page.count('data-reported-by-page="false"') == 4
    # The explanation, for staff, on a session that has such lines only.
    assert "the server did not hear this" in page.replace("&#x27;", "'")
    plain = recorded_session(world)
    assert "the server did not hear this" not in staff.get(f"{SESSIONS}{plain.pk}/change/").text


def test_the_exports_mark_page_reported_lines(staff, world):
    session = page_reported_session(world)

    exported = json.loads(b"".join(staff.get(f"{SESSIONS}export.json")))
    lines = exported["sessions"][0]["transcript"]
    assert [line["reported_by_page"] for line in lines] == [False, False, False, False, True]
    assert exported["notes"]["reported_by_page"] == PAGE_REPORTED_NOTE

    csv_body = b"".join(staff.get(f"{SESSIONS}export.csv")).decode()
    (row,) = csv.DictReader(io.StringIO(csv_body))
    assert row["id"] == str(session.pk)
    assert row["page_reported_lines"] == "1"
    refund = next(t for t in row["transcript"].splitlines() if "refund" in t)
    assert refund.endswith(f"({PAGE_REPORTED_NOTE})")
    assert sum(PAGE_REPORTED_NOTE in t for t in row["transcript"].splitlines()) == 1
