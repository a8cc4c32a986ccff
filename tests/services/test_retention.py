"""Retention: the reaper's pass deletes the words of sessions closed longer ago than
TRANSCRIPT_RETENTION_DAYS, and nothing else; the session rows stay for usage figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from sessions.models import AvatarSession, SessionEvent, TranscriptEntry, TranscriptPiece
from sessions.services import retention
from sessions.services.reaper import reap

DAY = timedelta(days=1)


def make_session(world, *, closed_ago: timedelta | None, status: str = "closed") -> AvatarSession:
    now = timezone.now()
    closed_at = None if closed_ago is None else now - closed_ago
    start = (closed_at or now) - timedelta(minutes=5)
    session = AvatarSession.objects.create(
        owner=world.alice,
        principal=f"user:{world.alice.pk}",
        preset=world.preset,
        preset_slug="ada",
        provider="sandbox",
        avatar_id="sandbox_ada",
        duration=600,
        status=status,
        close_reason="user" if status == "closed" else "",
        created_at=start,
        started_at=start,
        closed_at=closed_at,
        expires_at=start + timedelta(minutes=10),
        chat_count=3,
        error="the page said: my secret plan",
    )
    TranscriptEntry.objects.create(
        session=session, role="user", mid="u1", text="my secret plan", final=True
    )
    TranscriptEntry.objects.create(
        session=session, role="avatar", mid="a1", text="tell me more", final=True
    )
    TranscriptPiece.objects.create(session=session, role="avatar", mid="a1", idx=0, text="tell")
    SessionEvent.objects.create(
        session=session, kind="error", message="the page failed: my secret plan", data={"q": 1}
    )
    SessionEvent.objects.create(session=session, kind="state", message="closed", data={"x": 1})
    return session


def words_kept(session: AvatarSession) -> bool:
    return (
        TranscriptEntry.objects.filter(session=session).exists()
        and TranscriptPiece.objects.filter(session=session).exists()
    )


@pytest.fixture
def ninety(settings):
    settings.TRANSCRIPT_RETENTION_DAYS = 90


# The reaper runs its queries on channels' database thread, which closes stale
# connections: outside a test transaction of its own (as a served process runs it).
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_reapers_pass_deletes_old_words_and_keeps_the_row(world, ninety):
    old = await sync_to_async(make_session)(world, closed_ago=91 * DAY)

    result = await reap()

    assert result.transcripts_deleted == 1
    await sync_to_async(check_only_words_went)(old)


def check_only_words_went(old: AvatarSession) -> None:
    old.refresh_from_db()
    assert not TranscriptEntry.objects.filter(session=old).exists()
    assert not TranscriptPiece.objects.filter(session=old).exists()
    assert old.transcript_deleted_at is not None
    assert old.error == ""
    # The row keeps what the usage figures need.
    assert (old.status, old.chat_count, old.duration) == ("closed", 3, 600)
    assert old.used_seconds == 300
    events = list(old.events.all())
    assert all(e.data == {} for e in events)
    assert not any("secret" in e.message for e in events)
    assert [e.message for e in events if e.kind == "state"] == [
        "closed",
        "transcript deleted: retention",
    ]


def test_the_boundary_day(world, ninety):
    just_inside = make_session(world, closed_ago=90 * DAY - timedelta(minutes=1))
    just_past = make_session(world, closed_ago=90 * DAY + timedelta(minutes=1))

    assert retention.purge_expired() == 1

    assert words_kept(just_inside)
    assert not words_kept(just_past)


def test_live_sessions_are_never_touched(world, ninety):
    # Created long ago and still running (or being closed): nothing of theirs goes.
    live = [
        make_session(world, closed_ago=None, status=status)
        for status in ("starting", "active", "closing")
    ]
    for session in live:
        AvatarSession.objects.filter(pk=session.pk).update(created_at=timezone.now() - 200 * DAY)

    assert retention.purge_expired() == 0
    assert all(words_kept(s) for s in live)
    assert not AvatarSession.objects.filter(transcript_deleted_at__isnull=False).exists()


def test_a_failed_session_without_a_close_time_counts_from_its_creation(world, ninety):
    failed = make_session(world, closed_ago=None, status="failed")
    AvatarSession.objects.filter(pk=failed.pk).update(created_at=timezone.now() - 100 * DAY)

    assert retention.purge_expired() == 1
    assert not words_kept(failed)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_zero_keeps_everything_forever(world, settings):
    settings.TRANSCRIPT_RETENTION_DAYS = 0
    ancient = await sync_to_async(make_session)(world, closed_ago=3650 * DAY)

    assert (await reap()).transcripts_deleted == 0
    assert await sync_to_async(words_kept)(ancient)


def test_a_pass_works_in_bounded_batches(world, ninety, monkeypatch):
    monkeypatch.setattr(retention, "SESSIONS_PER_BATCH", 2)
    monkeypatch.setattr(retention, "BATCHES_PER_PASS", 2)
    monkeypatch.setattr(retention, "ROWS_PER_STATEMENT", 1)
    old = [make_session(world, closed_ago=(100 + n) * DAY) for n in range(5)]

    assert retention.purge_expired() == 4  # two batches of two; the last waits
    assert retention.purge_expired() == 1
    assert not any(words_kept(s) for s in old)
    assert retention.purge_expired() == 0  # nothing is deleted twice


def test_an_owner_cannot_delete_a_transcript_that_went_live_meanwhile(world):
    session = make_session(world, closed_ago=DAY)
    # Read as closed, then (another request) it is live again: the database decides.
    AvatarSession.objects.filter(pk=session.pk).update(status="active", closed_at=None)

    with pytest.raises(retention.SessionLive):
        retention.delete_own_transcript(session)
    assert words_kept(session)
