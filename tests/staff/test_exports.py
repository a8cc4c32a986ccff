"""Exports of the audit: the filtered changelist's sessions with their transcripts, as
CSV and JSON, content checked; the export actions on a selection."""

from __future__ import annotations

import csv
import io
import json

import pytest

from sessions.models import TranscriptEntry
from tests.staff.helpers import (
    SESSIONS,
    client_for,
    grant,
    open_session,
    recorded_session,
    superuser_client,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The sync test client reads the export's async stream through async_to_sync, and
    # Django says so; under ASGI (daphne) it streams as it should.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]


@pytest.fixture
def staff(world):
    return superuser_client(world)


def body(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response).decode()


def csv_rows(response) -> list[dict[str, str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="sessions-')
    return list(csv.DictReader(io.StringIO(body(response))))


def test_csv_exports_the_filtered_list_with_transcripts(staff, world):
    mine = recorded_session(world)
    recorded_session(world, owner=world.bob, reason="expired")
    live = open_session(world)

    rows = csv_rows(staff.get(f"{SESSIONS}export.csv?close_reason__exact=user"))

    assert [r["id"] for r in rows] == [str(mine.pk)]
    row = rows[0]
    assert row["owner"] == "alice"
    assert row["preset"] == "ada"
    assert (row["status"], row["close_reason"]) == ("closed", "user")
    assert row["created_at"] == "2026-03-02T09:00:00+00:00"
    assert (row["reserved_seconds"], row["used_seconds"]) == ("600", "240")
    assert (row["start_seconds"], row["first_avatar_seconds"]) == ("1.5", "9.75")
    assert (row["first_reply_seconds"], row["median_reply_seconds"]) == ("1.25", "1.625")
    assert row["transcript"].splitlines() == [
        "[2026-03-02 09:00:10] user: What are your opening hours?",
        "[2026-03-02 09:00:11] avatar: We open at nine.",
        "[2026-03-02 09:00:30] user: And on Sundays?",
        "[2026-03-02 09:00:32] avatar: Closed on Sundays, I am afraid.",
    ]
    # Every session when nothing is filtered, newest first as the list shows them.
    everything = csv_rows(staff.get(f"{SESSIONS}export.csv"))
    assert len(everything) == 3 and everything[0]["id"] == str(live.pk)


def test_search_and_ordering_apply_and_pages_do_not(staff, world):
    sessions = [recorded_session(world) for _ in range(3)]
    rows = csv_rows(staff.get(f"{SESSIONS}export.csv?q={sessions[1].pk}"))
    assert [r["id"] for r in rows] == [str(sessions[1].pk)]
    # The list's page (p) is ignored: an export is of every page.
    assert len(csv_rows(staff.get(f"{SESSIONS}export.csv?p=2"))) == 3


def test_json_exports_sessions_with_transcripts_events_and_timings(staff, world):
    mine = recorded_session(world)
    recorded_session(world, owner=world.bob)

    response = staff.get(f"{SESSIONS}export.json?owner__id__exact={world.alice.pk}")

    assert response["Content-Type"] == "application/json"
    data = json.loads(body(response))
    assert data["count"] == 1
    (record,) = data["sessions"]
    assert record["id"] == str(mine.pk)
    assert record["owner"] == "alice" and record["principal"] == f"user:{world.alice.pk}"
    assert record["status"] == "closed" and record["close_reason"] == "user"
    assert [(line["role"], line["text"]) for line in record["transcript"]] == [
        ("user", "What are your opening hours?"),
        ("avatar", "We open at nine."),
        ("user", "And on Sundays?"),
        ("avatar", "Closed on Sundays, I am afraid."),
    ]
    assert record["transcript"][1]["at"] == "2026-03-02T09:00:11.250Z"
    assert [e["message"] for e in record["events"]][:2] == ["starting", "active"]
    assert {e["kind"] for e in record["events"]} == {"state", "command", "limit", "error"}
    assert record["timings"]["first_avatar_seconds"] == 9.75
    assert record["timings"]["replies"] == 2
    # The session's credentials are never exported.
    assert "rtc" not in record
    assert "rtc-secret-never-shown" not in json.dumps(data)


def test_the_session_page_exports_that_one_session(staff, world):
    mine = recorded_session(world)
    recorded_session(world)
    page = staff.get(f"{SESSIONS}{mine.pk}/change/").text
    link = page.split('class="export-link" href="')[1].split('"')[0]
    assert link == f"{SESSIONS}export.json?id__exact={mine.pk}"
    data = json.loads(body(staff.get(link)))
    assert [s["id"] for s in data["sessions"]] == [str(mine.pk)]


def test_the_changelist_export_links_carry_its_filters(staff, world):
    recorded_session(world)
    page = staff.get(f"{SESSIONS}?status__exact=closed&q=alice&p=1").text
    assert f'href="{SESSIONS}export.csv?status__exact=closed&amp;q=alice"' in page
    assert f'href="{SESSIONS}export.json?status__exact=closed&amp;q=alice"' in page


def test_spreadsheet_formulas_typed_by_users_are_defused(staff, world):
    session = recorded_session(world)
    TranscriptEntry.objects.filter(session=session).delete()
    session.error = '=HYPERLINK("http://evil.test","click")'
    session.save()
    TranscriptEntry.objects.create(session=session, role="user", mid="f", text="=1+1")
    (row,) = csv_rows(staff.get(f"{SESSIONS}export.csv"))
    assert row["error"] == '\'=HYPERLINK("http://evil.test","click")'
    assert row["transcript"].endswith("user: =1+1")  # inside a cell that starts with "["


def test_the_export_actions_export_the_selection(staff, world):
    first, second, third = (recorded_session(world) for _ in range(3))
    selection = [str(first.pk), str(third.pk)]
    response = staff.post(SESSIONS, {"action": "export_csv", "_selected_action": selection})
    assert sorted(r["id"] for r in csv_rows(response)) == sorted(selection)
    response = staff.post(SESSIONS, {"action": "export_json", "_selected_action": selection})
    data = json.loads(body(response))
    assert data["count"] == 2
    assert all(len(s["transcript"]) == 4 for s in data["sessions"])


def test_bad_filters_and_formats_are_refused(staff, world):
    assert staff.get(f"{SESSIONS}export.csv?nonsense__field=1").status_code == 400
    assert staff.get(f"{SESSIONS}export.xml").status_code == 404


def test_exports_need_the_view_permission(world):
    recorded_session(world)
    assert client_for(world.staff).get(f"{SESSIONS}export.csv").status_code == 403
    viewer = client_for(grant(world.staff, "view_avatarsession"))
    assert len(csv_rows(viewer.get(f"{SESSIONS}export.csv"))) == 1
    alice = client_for(world.alice)
    assert alice.get(f"{SESSIONS}export.json").status_code == 302


def test_a_large_export_streams_in_chunks(staff, world, django_assert_max_num_queries):
    for _ in range(5):
        recorded_session(world)
    from sessions.staff import exports

    chunks = list(exports.csv_chunks(exports.AvatarSession.objects.all()))
    assert chunks[0].startswith("id,created_at,")
    # Sessions, transcripts and events: three queries a chunk of sessions, not three each.
    with django_assert_max_num_queries(3):
        list(exports.json_chunks(exports.AvatarSession.objects.all()))


def test_filters_cannot_reach_into_related_secrets(staff, world):
    # The admin's own lookup rules hold for exports too: no probing password hashes.
    recorded_session(world)
    response = staff.get(f"{SESSIONS}export.csv?owner__password__startswith=md5")
    assert response.status_code == 400
