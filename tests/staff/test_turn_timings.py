"""Turn latency for staff (issue 19): p50/p95 per session on the audit's session page and
per preset on the usage page, from TurnTiming rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sessions.services.turn_timing import percentile
from sessions.tool_models import TurnTiming
from tests.staff.helpers import SESSIONS, open_session, superuser_client

pytestmark = pytest.mark.django_db(transaction=True)


def turns(session, first_frames, audio_starts, **kw):
    for first, audio in zip(first_frames, audio_starts, strict=True):
        TurnTiming.objects.create(session=session, first_frame_ms=first, audio_start_ms=audio, **kw)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50, 95)
    assert percentile([7], 0.95) == 7 and percentile([], 0.5) is None


def test_the_session_page_shows_p50_and_p95_of_its_turns(world):
    session = open_session(world)
    turns(session, [100, 200, 300, 400], [500, 600, 700, 2000])
    turns(session, [150], [None], spoken=True, interrupted=True)
    page = superuser_client(world).get(f"{SESSIONS}{session.pk}/change/").text
    words = " ".join(page.split())
    assert "Turns (5)" in words and "1 spoken, 1 interrupted" in words
    assert "p50 200 ms, p95 400 ms" in words  # to the first frame
    assert "p50 600 ms, p95 2000 ms" in words  # to the avatar's voice (4 turns had one)


def test_a_session_without_turns_shows_no_turn_rows(world):
    session = open_session(world)
    page = superuser_client(world).get(f"{SESSIONS}{session.pk}/change/").text
    assert "Turns (" not in page


def test_the_usage_page_shows_turn_latency_per_preset(world):
    session = open_session(world)
    turns(session, [100, 300], [400, 800], spoken=True)
    today = timezone.localdate()
    start = (today - timedelta(days=1)).isoformat()
    page = superuser_client(world).get(f"{SESSIONS}usage/?start={start}&end={today}").text
    table = " ".join(page.split('id="usage-turns"')[1].split("</table>")[0].split())
    assert "How fast the avatar answers, per preset" in table
    name = session.preset.name if session.preset else session.preset_slug
    assert f'<th scope="row">{name}</th><td class="num">2</td><td class="num">2</td>' in table
    assert "p50 100 ms, p95 300 ms" in table and "p50 400 ms, p95 800 ms" in table
