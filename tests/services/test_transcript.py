"""The transcript service on its own, without a socket: pieces in any order, from
several processes at once, after the line ended."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from sessions.models import AvatarSession, TranscriptEntry
from sessions.services import transcript
from sessions.services.transcript import Shown

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

MID = "bot-1"


@pytest.fixture
def session(world):
    return AvatarSession.objects.create(
        owner=world.alice, principal="user:1", provider="sandbox", avatar_id="x", duration=60
    )


async def piece(session, idx, text, *, fin=False, role="avatar", mid=MID, at=None):
    return await transcript.record_piece(
        session.pk,
        role=role,
        mid=mid,
        idx=idx,
        text=text,
        fin=fin,
        received_at=at or timezone.now(),
        by_page=True,
    )


async def line(session, mid=MID) -> tuple[str, bool]:
    found = await TranscriptEntry.objects.aget(session=session, mid=mid)
    return found.text, found.final


async def test_pieces_in_order_are_shown_as_they_come(session):
    shown = [
        await piece(session, 0, "a "),
        await piece(session, 1, "b "),
        await piece(session, 2, "c", fin=True),
    ]

    assert shown == [
        Shown("avatar", MID, "a ", False),
        Shown("avatar", MID, "b ", False),
        Shown("avatar", MID, "c", True),
    ]
    assert await line(session) == ("a b c", True)


async def test_a_late_piece_takes_its_place_and_the_final_update_carries_the_whole_line(session):
    await piece(session, 0, "a ")
    await piece(session, 2, "c", fin=True)  # piece 1 is late
    late = await piece(session, 1, "b ")

    assert late == Shown("avatar", MID, "a b c", True)
    assert await line(session) == ("a b c", True)


async def test_a_late_piece_into_a_line_still_spoken_waits_for_the_replay(session):
    await piece(session, 0, "a ")
    await piece(session, 2, "c ")
    assert await piece(session, 1, "b ") is None  # the page gets it with the next replay
    assert await line(session) == ("a b c ", False)


async def test_a_piece_forwarded_twice_counts_once(session):
    await piece(session, 0, "a ")
    assert await piece(session, 0, "a ") is None
    assert await line(session) == ("a ", False)


async def test_two_processes_placing_pieces_at_once_leave_the_whole_line(session):
    """Two processes (a reconnect, two tabs) record the pieces of one line at the same
    time, in any interleaving: the line ends whole and final, never shortened."""
    words = [f"w{n} " for n in range(12)]
    first = [piece(session, n, w, fin=n == 11) for n, w in enumerate(words) if n % 2 == 0]
    second = [piece(session, n, w, fin=n == 11) for n, w in enumerate(words) if n % 2 == 1]

    await asyncio.gather(*first, *second)

    assert await line(session) == ("".join(words), True)


async def test_a_process_that_read_fewer_pieces_does_not_shorten_the_line(session):
    # Another process recorded pieces 0 to 2 and wrote the line; ours read only 0 and 1.
    await TranscriptEntry.objects.acreate(
        session=session, role="avatar", mid=MID, text="a b c", final=False
    )
    await piece(session, 0, "a ")  # recorded by the other process before
    await piece(session, 1, "b ")
    assert await line(session) == ("a b c", False)


async def test_a_piece_after_the_line_ended_keeps_it_final(session):
    await piece(session, 0, "a ", fin=True)
    after = await piece(session, 1, "b")

    assert after == Shown("avatar", MID, "a b", True)
    assert await line(session) == ("a b", True)


async def test_a_line_is_placed_by_when_its_first_piece_arrived(session):
    earlier = timezone.now() - timedelta(seconds=5)
    transcript.record_user_line(session.pk, "typed", "Hello")
    await piece(session, 0, "Hi", fin=True, at=earlier)

    order = [e.mid async for e in transcript.lines(session.pk)]
    assert order == [MID, "typed"]


async def test_pieces_without_numbers_are_appended_in_arrival_order(session):
    await piece(session, None, "Hel")
    await piece(session, None, "lo", fin=True)
    assert await line(session) == ("Hello", True)


async def test_what_no_avatar_sends_is_ignored(session):
    assert await piece(session, 0, "x", mid="m" * 101) is None
    assert await piece(session, 501, "x") is None
    assert not await TranscriptEntry.objects.filter(session=session).aexists()


async def test_an_echo_of_a_typed_line_is_not_shown_twice(session):
    transcript.record_user_line(session.pk, "typed", "Hello")
    assert await piece(session, None, "Hello", role="user", mid="typed", fin=True) is None


async def test_finishing_the_avatars_lines_marks_them_cut_and_keeps_our_answer(session):
    await piece(session, 0, "spoken ")
    await transcript.start_answer(session.pk, "ours")

    finished = await transcript.finish_avatar_lines(session.pk, cut=True, keep="ours")

    assert finished == [MID]
    spoken = await TranscriptEntry.objects.aget(session=session, mid=MID)
    ours = await TranscriptEntry.objects.aget(session=session, mid="ours")
    assert (spoken.final, spoken.cut, ours.final) == (True, True, False)


async def test_a_line_the_page_reports_is_marked_so_and_one_the_server_heard_is_not(session):
    await piece(session, 0, "I promise a refund", fin=True)
    await transcript.record_piece(
        session.pk,
        role="avatar",
        mid="heard",
        idx=None,
        text="Hello",
        fin=True,
        received_at=timezone.now(),
        by_page=False,
    )
    marks = {
        mid: by_page
        async for mid, by_page in TranscriptEntry.objects.values_list("mid", "reported_by_page")
    }
    assert marks == {MID: True, "heard": False}
