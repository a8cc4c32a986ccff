"""The reaper closes only what is ours: its reconciliation with AKool's list of live
sessions, against a fake AKool on loopback, and the parsing of the list entries' creation
time it matches by."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.utils import timezone as django_timezone

from sessions.models import AvatarSession, SessionEvent
from sessions.providers.akool import parse_session
from sessions.providers.base import UpstreamSession
from sessions.services.reaper import reap
from sessions.services.reconcile import MATCH_SLACK
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool
from tests.support.wsutil import create_session

LIVE, COMPLETED = 2, 3
SLACK = MATCH_SLACK.total_seconds()


def reaper_test(test):
    """An async test on the database (transactional: the ORM runs in other threads)."""
    return pytest.mark.asyncio(pytest.mark.django_db(transaction=True)(test))


@pytest.fixture
def fake(settings):
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


@pytest.fixture
def reaper_log(caplog):
    caplog.set_level(logging.INFO, logger="avatarsite.reaper")

    def lines(containing: str = "") -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "avatarsite.reaper" and containing in r.getMessage()
        ]

    return lines


async def row(session_id) -> AvatarSession:
    return await AvatarSession.objects.aget(pk=session_id)


async def events(session_id) -> list[str]:
    return [
        e.message
        async for e in SessionEvent.objects.filter(
            session_id=session_id, kind=SessionEvent.Kind.STATE
        )
    ]


async def attempt_create(token: str):
    return await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


async def failed_create_row(world, *, sent: datetime, gave_up: datetime) -> AvatarSession:
    """A row whose create was sent at `sent` and given up on at `gave_up`, unanswered."""
    return await sync_to_async(AvatarSession.objects.create)(
        owner=world.alice,
        principal="user:1",
        provider="akool",
        avatar_id="x",
        duration=60,
        status="failed",
        close_reason="error",
        create_unanswered_at=sent,
        closed_at=gave_up,
    )


# --- unknown sessions: someone else's unless the account is ours alone ---------------------


@reaper_test
async def test_a_session_from_elsewhere_is_left_alone_and_logged_once_a_pass(
    world, fake, reaper_log
):
    ours = await create_session(world.alice_token)
    console = [fake.add_session(), fake.add_session()]  # AKool's console, say

    for _ in range(2):
        result = await reap()
        assert result.reconciled == 0 and not result.errors

    assert fake.live_ids() == {*console, (await row(ours["id"])).upstream_id}
    # One line a pass, whatever the number of sessions left alone.
    assert len(reaper_log("left 2 live upstream session(s) alone")) == 2
    assert not reaper_log("closed upstream session")


@reaper_test
async def test_with_a_dedicated_account_every_unknown_session_is_closed(
    world, fake, settings, reaper_log
):
    settings.AKOOL_ACCOUNT_DEDICATED = True
    ours = await create_session(world.alice_token)
    console = fake.add_session()

    result = await reap()

    assert result.reconciled == 1
    assert fake.sessions[console]["status"] == COMPLETED
    assert fake.live_ids() == {(await row(ours["id"])).upstream_id}
    assert reaper_log(f"closed upstream session {console}: account dedicated")


@reaper_test
async def test_a_session_that_may_be_a_create_in_flight_waits_for_the_next_pass(
    world, fake, settings
):
    settings.AKOOL_ACCOUNT_DEDICATED = True
    # A create of ours still waiting for its answer: its row is starting, without an id.
    await sync_to_async(AvatarSession.objects.create)(
        owner=world.alice, principal="user:1", provider="akool", avatar_id="x", duration=60
    )
    maybe_its = fake.add_session()
    older = fake.add_session(created_at=time.time() - 60)

    result = await reap()

    assert result.reconciled == 1
    assert fake.sessions[maybe_its]["status"] == LIVE
    assert fake.sessions[older]["status"] == COMPLETED


# --- creates whose answer never came -------------------------------------------------------


@reaper_test
@pytest.mark.parametrize(
    ("mode", "key", "form"),
    [("hang", "create_time", "ms"), ("drop", "createdAt", "iso"), ("drop", "gmt_create", "s")],
)
async def test_a_create_that_failed_after_akool_made_the_session_is_closed_by_the_next_pass(
    world, fake, reaper_log, mode, key, form
):
    fake.created_time_key, fake.created_time_format = key, form
    # Someone else's session from a minute before: outside the window, it stays.
    console = fake.add_session(created_at=time.time() - 60)
    fake.fail("create", mode, times=1, after=True)

    response = await attempt_create(world.alice_token)

    assert response.status_code in (503, 504), response.content
    failed = await AvatarSession.objects.aget()
    assert failed.status == "failed" and failed.upstream_id == ""
    assert failed.create_unanswered_at is not None
    assert failed.create_unanswered_at <= failed.closed_at
    (made,) = fake.live_ids() - {console}  # AKool made it and bills for it

    result = await reap()

    assert result.reconciled == 1
    assert fake.sessions[made]["status"] == COMPLETED
    assert fake.sessions[console]["status"] == LIVE
    found = await row(failed.pk)
    assert (found.status, found.upstream_id) == ("failed", made)
    assert f"upstream session {made} matched a create whose answer never came: closed" in (
        await events(failed.pk)
    )
    assert reaper_log(
        f"closed upstream session {made}: matched an unanswered create of session {failed.pk}"
    )
    assert (await reap()).reconciled == 0


@reaper_test
async def test_a_refused_create_made_nothing_to_match(world, fake):
    fake.fail("create", "code", code=1005, msg="concurrent session limit reached")
    assert (await attempt_create(world.alice_token)).status_code == 502
    assert (await AvatarSession.objects.aget()).create_unanswered_at is None


@reaper_test
async def test_an_entry_without_a_creation_time_is_left_alone(world, fake, reaper_log):
    fake.created_time_key = None
    fake.fail("create", "hang", times=1, after=True)
    assert (await attempt_create(world.alice_token)).status_code == 504
    (made,) = fake.live_ids()

    result = await reap()

    assert result.reconciled == 0
    assert fake.sessions[made]["status"] == LIVE
    assert (await AvatarSession.objects.aget()).upstream_id == ""
    assert reaper_log("left 1 live upstream session(s) alone")


@reaper_test
@pytest.mark.parametrize(
    ("edge", "offset", "closed"),
    [
        ("sent", -(SLACK + 1), False),
        ("sent", -(SLACK - 1), True),
        ("gave_up", SLACK - 1, True),
        ("gave_up", SLACK + 1, False),
    ],
)
async def test_only_a_session_made_within_the_window_of_a_create_matches_it(
    world, fake, edge, offset, closed
):
    sent = django_timezone.now() - timedelta(minutes=1)
    gave_up = sent + timedelta(seconds=2)
    failed = await failed_create_row(world, sent=sent, gave_up=gave_up)
    moment = (sent if edge == "sent" else gave_up).timestamp() + offset
    made = fake.add_session(created_at=moment)

    result = await reap()

    assert result.reconciled == int(closed)
    assert fake.sessions[made]["status"] == (COMPLETED if closed else LIVE)
    assert (await row(failed.pk)).upstream_id == (made if closed else "")


@reaper_test
async def test_a_create_matches_at_most_one_session(world, fake):
    sent = django_timezone.now() - timedelta(minutes=1)
    failed = await failed_create_row(world, sent=sent, gave_up=sent + timedelta(seconds=2))
    first = fake.add_session(created_at=sent.timestamp() + 0.5)
    second = fake.add_session(created_at=sent.timestamp() + 1)

    assert (await reap()).reconciled == 1
    assert (await reap()).reconciled == 0

    assert (await row(failed.pk)).upstream_id == first
    assert fake.live_ids() == {second}


@reaper_test
async def test_a_create_cut_short_by_our_own_crash_is_matched_in_the_same_pass(world, fake):
    # Our process died mid-create: the row stayed starting, without an upstream id.
    created = django_timezone.now() - timedelta(minutes=10)
    stuck = await sync_to_async(AvatarSession.objects.create)(
        owner=world.alice,
        principal="user:1",
        provider="akool",
        avatar_id="x",
        duration=600,
        created_at=created,
    )
    made = fake.add_session(created_at=created.timestamp() + 1)

    result = await reap()

    assert (result.stuck, result.reconciled) == (1, 1)
    found = await row(stuck.pk)
    assert (found.status, found.upstream_id) == ("failed", made)
    assert found.create_unanswered_at == created
    assert fake.sessions[made]["status"] == COMPLETED


@reaper_test
async def test_a_create_noticed_late_does_not_match_a_session_made_after_its_deadline(
    world, fake, settings
):
    """The site was down for half an hour: the reaper settles a create lost then, but
    someone else's session made twenty minutes later cannot be that create's."""
    created = django_timezone.now() - timedelta(minutes=30)
    stuck = await sync_to_async(AvatarSession.objects.create)(
        owner=world.alice,
        principal="user:1",
        provider="akool",
        avatar_id="x",
        duration=600,
        created_at=created,
    )
    theirs = fake.add_session(created_at=(created + timedelta(minutes=20)).timestamp())

    result = await reap()

    assert (result.stuck, result.reconciled) == (1, 0)
    assert fake.sessions[theirs]["status"] == LIVE
    assert (await row(stuck.pk)).upstream_id == ""


# --- sessions recorded here ------------------------------------------------------------------


@reaper_test
@pytest.mark.parametrize("status", ["closed", "failed"])
async def test_a_session_recorded_here_as_ended_but_live_upstream_is_closed(
    world, fake, reaper_log, status
):
    ours = await create_session(world.alice_token)
    ended = await create_session(world.bob_token)
    upstream_id = (await row(ended["id"])).upstream_id
    await AvatarSession.objects.filter(pk=ended["id"]).aupdate(status=status)

    result = await reap()

    assert result.reconciled == 1
    assert fake.sessions[upstream_id]["status"] == COMPLETED
    assert fake.live_ids() == {(await row(ours["id"])).upstream_id}
    said = f"upstream session {upstream_id} was still live though recorded here as closed: closed"
    assert said in await events(ended["id"])
    assert reaper_log(f"closed upstream session {upstream_id}: recorded here as closed")


@reaper_test
async def test_an_upstream_listing_failure_is_reported_not_raised(world, fake):
    fake.fail("list", "http500")
    result = await reap()
    assert any("listing upstream sessions failed" in e for e in result.errors)


@reaper_test
async def test_a_failed_close_is_reported_and_retried_next_pass(world, fake):
    sent = django_timezone.now() - timedelta(minutes=1)
    failed = await failed_create_row(world, sent=sent, gave_up=sent + timedelta(seconds=2))
    made = fake.add_session(created_at=sent.timestamp() + 1)
    fake.fail("close", "http500", times=1)

    first = await reap()
    assert first.reconciled == 0
    assert any(made in error for error in first.errors)
    # The match is recorded: the next pass closes it as ours.
    assert (await row(failed.pk)).upstream_id == made
    assert (await reap()).reconciled == 1
    assert fake.sessions[made]["status"] == COMPLETED


# --- the creation time of AKool's list entries -----------------------------------------------

NOV_14 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)  # unix 1_700_000_000


def entry(**fields) -> dict:
    return {"_id": "abc", "status": 2, **fields}


@pytest.mark.parametrize(
    "key",
    [
        "create_time",
        "createTime",
        "created_at",
        "createdAt",
        "create_at",
        "created",
        "start_time",
        "startTime",
        "gmt_create",
    ],
)
def test_the_creation_time_is_read_from_its_usual_spellings(key):
    assert parse_session(entry(**{key: 1_700_000_000})).created_at == NOV_14


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, NOV_14),
        (1_700_000_000.25, NOV_14 + timedelta(milliseconds=250)),
        (1_700_000_000_000, NOV_14),  # milliseconds
        (1_700_000_000_250, NOV_14 + timedelta(milliseconds=250)),
        ("1700000000", NOV_14),
        (" 1700000000000 ", NOV_14),
        ("2023-11-14T22:13:20Z", NOV_14),
        ("2023-11-14T22:13:20.000Z", NOV_14),
        ("2023-11-14T22:13:20+00:00", NOV_14),
        ("2023-11-15T06:13:20+08:00", NOV_14),
        ("2023-11-14T22:13:20", NOV_14),  # naive: UTC
        ("2023-11-14 22:13:20", NOV_14),
    ],
)
def test_the_creation_time_is_read_in_its_usual_units(value, expected):
    created = parse_session(entry(create_time=value)).created_at
    assert created == expected
    assert created.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        "",
        "   ",
        "soon",
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        -1_700_000_000,
        0,
        12,  # 1970: no session of ours
        10**30,
        "9" * 400,
        "2023-13-45T99:00:00Z",
        "2023-11-14T22:13:20+99:00",
        {"seconds": 1_700_000_000},
        [1_700_000_000],
    ],
)
def test_a_garbled_creation_time_is_none_never_an_error(value):
    assert parse_session(entry(create_time=value)).created_at is None


def test_the_first_readable_spelling_wins_and_nested_ones_are_not_looked_for():
    assert parse_session(entry(create_time="soon", createdAt=1_700_000_000)).created_at == (NOV_14)
    assert parse_session(entry(meta={"create_time": 1_700_000_000})).created_at is None
    assert parse_session(entry()).created_at is None


def test_sessions_compare_by_their_fields_not_by_the_raw_answer():
    one = UpstreamSession(id="a", status=2, created_at=NOV_14, raw={"x": 1})
    assert one == UpstreamSession(id="a", status=2, created_at=NOV_14)
    assert one != UpstreamSession(id="a", status=2)
    assert UpstreamSession(id="a", status=2).created_at is None
