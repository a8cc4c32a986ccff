"""Rows written together (services/write_behind.py): a group commit that stores each
row before its writer goes on, and fails only the bad row; rows added written within
WRITE_BEHIND_SECONDS, also when the process stops."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import IntegrityError

from sessions.models import AvatarSession, TranscriptEntry
from sessions.services import write_behind
from sessions.services.write_behind import GATHER_SECONDS, Batch
from sessions.tool_models import TurnTiming

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def session(world):
    return AvatarSession.objects.create(
        owner=world.alice, principal="user:1", provider="sandbox", avatar_id="x", duration=60
    )


def line(session, mid, text="hello"):
    return TranscriptEntry(session_id=session.pk, role="user", mid=mid, text=text, final=True)


async def test_each_write_returns_once_its_row_is_stored_and_rows_written_at_once_share_batches(
    session, monkeypatch
):
    batches = []
    insert = write_behind._insert

    def counted(model, rows):
        batches.append(len(rows))
        return insert(model, rows)

    monkeypatch.setattr(write_behind, "_insert", counted)
    lines = Batch(TranscriptEntry)

    async def write(i):
        await lines.write(line(session, f"m{i}"))
        # Stored by the time the writer goes on.
        assert await TranscriptEntry.objects.filter(mid=f"m{i}").aexists()

    await asyncio.gather(*(write(i) for i in range(40)))
    assert await TranscriptEntry.objects.acount() == 40
    assert sum(batches) == 40
    assert len(batches) < 40  # written together, not one round trip each


async def test_a_row_that_cannot_be_stored_fails_alone(session):
    lines = Batch(TranscriptEntry)
    await lines.write(line(session, "taken"))
    results = await asyncio.gather(
        lines.write(line(session, "a")),
        lines.write(line(session, "taken")),  # (session, role, mid) is unique
        lines.write(line(session, "b")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    mids = [m async for m in TranscriptEntry.objects.values_list("mid", flat=True)]
    assert sorted(mids) == ["a", "b", "taken"]


async def test_added_rows_are_written_together_within_the_setting(session, settings, monkeypatch):
    settings.WRITE_BEHIND_SECONDS = 0.2
    calls = []
    bulk_create = TurnTiming.objects.bulk_create
    monkeypatch.setattr(
        TurnTiming.objects, "bulk_create", lambda rows: calls.append(len(rows)) or bulk_create(rows)
    )
    turns = Batch(TurnTiming)
    for ms in range(5):
        turns.add(TurnTiming(session_id=session.pk, first_frame_ms=ms))
    assert await TurnTiming.objects.acount() == 0  # not yet: they wait for the others
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await TurnTiming.objects.acount() == 5:
            break
    assert await TurnTiming.objects.acount() == 5
    assert calls == [5]  # one insert for the five


async def test_rows_waiting_are_written_when_the_process_stops(session, settings):
    settings.WRITE_BEHIND_SECONDS = 3600
    turns = Batch(TurnTiming)
    turns.add(TurnTiming(session_id=session.pk, first_frame_ms=7))
    await asyncio.sleep(0)
    # What serve.py does at the end: cancel the tasks still pending, let them finish.
    turns._writer.cancel()
    await asyncio.gather(turns._writer, return_exceptions=True)
    assert await TurnTiming.objects.filter(first_frame_ms=7).aexists()


async def test_rows_on_their_way_still_count_as_waiting_and_a_reader_waits_for_them(
    session, monkeypatch
):
    # The timed write has taken the rows and its insert is under way (the ORM's one thread
    # may be busy with others' queries): a reader flushing now (a replay, the API's
    # transcript, a close) must not read the table before they are in, and the echo check
    # must still see them.
    started, release = threading.Event(), threading.Event()
    insert = write_behind._insert

    def slow(model, rows):
        started.set()
        release.wait(5)
        return insert(model, rows)

    monkeypatch.setattr(write_behind, "_insert", slow)
    lines = Batch(TranscriptEntry)
    lines.add(line(session, "m1"))
    timed = asyncio.ensure_future(lines.flush())
    while not started.is_set():
        await asyncio.sleep(0.01)
    assert lines.waiting(lambda row: row.mid == "m1")
    reader = asyncio.ensure_future(lines.flush())
    await asyncio.sleep(0.05)
    assert not reader.done()
    release.set()
    await reader
    assert not lines.waiting(lambda row: row.mid == "m1")
    assert await TranscriptEntry.objects.filter(mid="m1").aexists()
    await timed


async def test_a_row_written_as_the_process_stops_is_stored_and_its_writer_told(session):
    # A socket closing at shutdown writes its line (the sandbox avatar's, as it stands);
    # serve.py then cancels the group commit still gathering: the row is written anyway.
    lines = Batch(TranscriptEntry)
    writer = asyncio.ensure_future(lines.write(line(session, "last")))
    await asyncio.sleep(GATHER_SECONDS / 2)  # the commit gathers
    lines._committer.cancel()
    await asyncio.gather(lines._committer, return_exceptions=True)
    await asyncio.wait_for(writer, 5)  # told it is stored, not cancelled
    assert await TranscriptEntry.objects.filter(mid="last").aexists()
