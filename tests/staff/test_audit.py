"""The session audit: the read-only list with its filters and search, the session page
(transcript, event log, timings), and closing live sessions (the upstream's too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessions.models import AvatarSession, TranscriptEntry
from sessions.providers import reset_providers
from sessions.staff import audit
from tests.staff.helpers import (
    SESSIONS,
    at,
    messages_of,
    open_session,
    recorded_session,
    superuser_client,
)
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(world):
    return superuser_client(world)


def listed_ids(response) -> set[str]:
    return {str(s.pk) for s in response.context["cl"].result_list}


# --- The list ----------------------------------------------------------------------------


def test_the_list_filters_by_status_reason_user_preset_and_date(staff, world):
    mine = recorded_session(world)
    bobs = recorded_session(world, owner=world.bob, preset=world.retell, reason="expired")
    live = recorded_session(world, status="active", created_at=at(86400 * 3))
    failed = recorded_session(world, owner=world.bob, status="failed", reason="error")

    def ids(query: str) -> set[str]:
        response = staff.get(f"{SESSIONS}?{query}")
        assert response.status_code == 200, query
        return listed_ids(response)

    assert ids("") == {str(s.pk) for s in (mine, bobs, live, failed)}
    assert ids("status__exact=active") == {str(live.pk)}
    assert ids("close_reason__exact=expired") == {str(bobs.pk)}
    assert ids(f"owner__id__exact={world.bob.pk}") == {str(bobs.pk), str(failed.pk)}
    assert ids(f"preset__id__exact={world.retell.pk}") == {str(bobs.pk)}
    assert ids(
        "created_at__gte=2026-03-04T00:00:00%2B00:00&created_at__lt=2026-03-06T00:00:00%2B00:00"
    ) == {str(live.pk)}
    assert ids("created_at__year=2026&created_at__month=3&created_at__day=5") == {str(live.pk)}
    # Combined: bob's sessions that ended in an error.
    assert ids(f"owner__id__exact={world.bob.pk}&close_reason__exact=error") == {str(failed.pk)}


def test_the_user_and_preset_filters_offer_only_those_with_sessions(staff, world):
    recorded_session(world)
    page = staff.get(SESSIONS).text
    filters = page.split('id="changelist-filter"')[1]
    assert "alice" in filters
    assert f"owner__id__exact={world.bob.pk}" not in filters
    assert f"preset__id__exact={world.preset.pk}" in filters
    assert f"preset__id__exact={world.hidden.pk}" not in filters


def test_search_finds_sessions_by_user_and_id_but_not_by_what_was_said(staff, world):
    mine = recorded_session(world)
    bobs = recorded_session(world, owner=world.bob)
    TranscriptEntry.objects.create(session=bobs, role="user", mid="u9", text="Refund please")
    assert listed_ids(staff.get(f"{SESSIONS}?q=bob")) == {str(bobs.pk)}
    assert listed_ids(staff.get(f"{SESSIONS}?q={str(mine.pk)[:8]}")) == {str(mine.pk)}
    # Searching by what users said would probe their words unrecorded: it finds nothing
    # (reading a transcript is on the staff record, a search over them is not).
    assert listed_ids(staff.get(f"{SESSIONS}?q=refund")) == set()
    assert listed_ids(staff.get(f"{SESSIONS}?q=sundays")) == set()


def test_the_list_shows_reserved_and_used_minutes_and_links_live_sessions(staff, world):
    recorded_session(world)
    live = open_session(world)
    page = staff.get(SESSIONS).text
    assert "10:00" in page and "4:00" in page  # reserved 600 s, used 240 s
    assert f'href="{SESSIONS}{live.pk}/live/"' in page
    assert '<span class="badge status-active">Live</span>' in page
    assert f"{SESSIONS}export.csv" in page and f"{SESSIONS}export.json" in page


# --- The session page --------------------------------------------------------------------


def test_the_session_page_shows_transcript_event_log_and_timings(staff, world):
    session = recorded_session(world)
    response = staff.get(f"{SESSIONS}{session.pk}/change/")
    page = response.text
    assert response.status_code == 200
    # Transcript, in order, the user named.
    transcript = page.split('id="transcript"')[1].split("</ol>")[0]
    order = [
        "What are your opening hours?",
        "We open at nine.",
        "And on Sundays?",
        "Closed on Sundays, I am afraid.",
    ]
    positions = [transcript.index(text) for text in order]
    assert positions == sorted(positions)
    assert '<span class="who">alice</span>' in transcript
    # Event log: state changes, commands, limits hit and errors, counted.
    assert "4 state changes · 1 command · 1 limit hit · 1 error" in " ".join(page.split())
    for text in ("set-params", "Too many messages: wait a minute.", "stream violation"):
        assert text in page
    assert "voice_id=sandbox_voice_calm" in page
    # Timings derived from the record.
    rows = dict(
        (label, value)
        for label, value, _ in response.context["timings"]  # (label, value, note)
    )
    assert rows["Reserved"] == "10:00 min"
    assert rows["Used"] == "4:00 min"
    assert rows["Start"] == "1.5 s"
    assert rows["First avatar words"] == "9.8 s"  # 1.5 s -> 11.25 s
    assert rows["Replies (2)"] == "first 1.2 s, median 1.6 s, slowest 2.0 s"
    assert rows["Close"] == "500 ms"
    assert "40% of the reserved time" in page
    # Read-only, and the session's credentials stay out.
    assert 'name="_save"' not in page
    assert "rtc-secret-never-shown" not in page
    assert "Watch live" not in page and "End session" not in page


def test_timings_are_derived_from_transcript_and_events(world):
    session = recorded_session(world)
    t = audit.timings(session, session.transcript.all(), session.events.all())
    assert t.reserved_seconds == 600 and t.used_seconds == 240
    assert t.start_seconds == 1.5
    assert t.first_avatar_seconds == 9.75
    assert (t.replies, t.first_reply_seconds, t.median_reply_seconds) == (2, 1.25, 1.625)
    assert t.max_reply_seconds == 2.0
    assert t.close_seconds == 0.5


def test_reply_latency_counts_from_the_latest_unanswered_line():
    lines = [
        TranscriptEntry(role="user", created_at=at(0)),
        TranscriptEntry(role="user", created_at=at(5)),
        TranscriptEntry(role="avatar", created_at=at(6)),
        TranscriptEntry(role="avatar", created_at=at(9)),  # a second line: not a reply
        TranscriptEntry(role="user", created_at=at(20)),  # never answered
    ]
    assert audit.reply_latencies(lines) == [1.0]


def test_timings_of_a_session_that_never_started(world):
    session = AvatarSession.objects.create(
        owner=world.alice,
        principal="user:1",
        provider="sandbox",
        avatar_id="x",
        duration=300,
        status="failed",
        close_reason="error",
    )
    t = audit.timings(session, [], [])
    assert (t.used_seconds, t.start_seconds, t.first_avatar_seconds, t.replies) == (
        None,
        None,
        None,
        0,
    )
    rows = audit.display_rows(t)
    assert rows[1][:2] == ("Used", "—")


def test_a_live_session_page_offers_watch_and_close(staff, world):
    session = open_session(world)
    page = staff.get(f"{SESSIONS}{session.pk}/change/").text
    assert f'href="{SESSIONS}{session.pk}/live/"' in page
    assert f'href="{SESSIONS}{session.pk}/close/"' in page  # its confirmation page
    assert session.rtc["token"] not in page


# --- Closing live sessions ---------------------------------------------------------------


@pytest.fixture
def akool(settings) -> Iterator[FakeAkool]:
    with FakeAkool() as fake:
        settings.AVATAR_PROVIDER = "akool"
        settings.AKOOL_BASE_URL = fake.base_url
        settings.AKOOL_API_KEY = fake.api_key
        settings.AKOOL_CLIENT_ID = ""
        settings.AKOOL_CLIENT_SECRET = ""
        settings.AKOOL_RETRIES = 0
        settings.AKOOL_READ_TIMEOUT = 2
        reset_providers()
        yield fake


def test_the_close_action_closes_upstream_too(staff, world, akool):
    first, second = open_session(world), open_session(world, world.bob)
    ended = recorded_session(world)
    assert akool.live_ids() == {first.upstream_id, second.upstream_id}

    response = staff.post(
        SESSIONS,
        {
            "action": "close_live",
            "_selected_action": [str(first.pk), str(second.pk), str(ended.pk)],
        },
        follow=True,
    )

    assert messages_of(response) == ["Ended 2 sessions."]
    assert akool.live_ids() == set()
    assert sorted(r.json["id"] for r in akool.requests_to("close")) == sorted(
        [first.upstream_id, second.upstream_id]
    )
    for session in (first, second):
        session.refresh_from_db()
        assert (session.status, session.close_reason) == ("closed", "admin")
        assert session.events.filter(message="closing", data__reason="admin").exists()
    ended.refresh_from_db()
    assert ended.close_reason == "user"


def test_the_close_button_closes_one_session_upstream(staff, world, akool):
    session = open_session(world)
    response = staff.post(f"{SESSIONS}{session.pk}/close/", follow=True)
    assert response.redirect_chain == [(f"{SESSIONS}{session.pk}/change/", 302)]
    assert messages_of(response) == ["Ended 1 session."]
    assert akool.live_ids() == set()
    session.refresh_from_db()
    assert (session.status, session.close_reason) == ("closed", "admin")
    assert "End session" not in response.text


def test_a_refused_close_is_reported_and_left_to_the_reaper(staff, world, akool):
    session = open_session(world)
    akool.fail("close", "http500")
    response = staff.post(f"{SESSIONS}{session.pk}/close/", follow=True)
    said = messages_of(response)
    # The admin capitalises messages (capfirst): compare without case.
    assert (
        said[0]
        .lower()
        .startswith(f"{session.pk}: the avatar service did not confirm the close".lower())
    )
    assert said[1] == "1 session could not be ended yet (the reaper retries it)."
    session.refresh_from_db()
    assert (session.status, session.close_reason) == ("closing", "admin")
    assert akool.live_ids() == {session.upstream_id}
    # Retrying from the page works once the upstream answers again.
    akool.heal()
    staff.post(f"{SESSIONS}{session.pk}/close/")
    session.refresh_from_db()
    assert session.status == "closed"


def test_closing_a_session_that_is_no_longer_live_says_so(staff, world):
    ended = recorded_session(world)
    response = staff.post(f"{SESSIONS}{ended.pk}/close/", follow=True)
    assert messages_of(response) == ["None of those sessions was live: nothing to end."]
    confirm = staff.get(f"{SESSIONS}{ended.pk}/close/")  # no confirmation page for it
    assert confirm.status_code == 302 and confirm["Location"] == f"{SESSIONS}{ended.pk}/change/"
