"""POST /api/v1/sessions/{id}/fallback against a fake AKool on loopback: the same session
(id, socket path, slot) moves once to another network, its first upstream session closed
before the second is opened, both in its event log; every refusal of the contract; a failed
move fails the session and frees its slot; the reaper closes the right upstream session
afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from sessions.models import AvatarSession, SessionEvent
from sessions.services.reaper import reap
from tests.conftest import Api, assert_error
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool

# Transactional: the reaper's tests run its async passes in other threads.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings) -> Iterator[FakeAkool]:
    # One slot: a held slot shows up as a refused create, a freed one as a granted create.
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    settings.AKOOL_NETWORKS = ["agora", "livekit", "trtc"]
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


def create(api: Api) -> dict:
    response = api.post("/sessions", {"preset": "ada"})
    assert response.status_code == 201, response.content
    return response.json()


def fallback(api: Api, session: dict, body: dict | None = None):
    return api.post(f"/sessions/{session['id']}/fallback", body)


def row() -> AvatarSession:
    return AvatarSession.objects.get()


def assert_failed_and_slot_freed(api: Api, fake: FakeAkool) -> None:
    failed = AvatarSession.objects.order_by("created_at").first()
    assert (failed.status, failed.close_reason) == ("failed", "error") and failed.rtc == {}
    fake.heal()
    create(api)  # the slot came free


# --- the move --------------------------------------------------------------------------------


def test_the_same_session_moves_to_the_first_other_network(alice_api, fake):
    session = create(alice_api)
    first_id = row().upstream_id

    response = fallback(alice_api, session)

    assert response.status_code == 200, response.content
    moved = response.json()
    assert (moved["id"], moved["ws_path"], moved["status"]) == (
        session["id"],
        session["ws_path"],
        "active",
    )
    assert moved["network"] == "livekit" and moved["fallback_networks"] == []
    second_id = row().upstream_id
    credentials = fake.sessions[second_id]["credentials"]
    assert moved["rtc"] == {
        "provider": "livekit",
        "url": credentials["livekit_url"],
        "token": credentials["livekit_token"],
        "room": credentials["livekit_room_name"],
        "identity": credentials["livekit_client_identity"],
        "avatar_identity": credentials["livekit_server_identity"],
    }
    # The first upstream session was closed before the second was asked for.
    assert [r.endpoint for r in fake.requests if r.endpoint != "token"] == [
        "create",
        "close",
        "create",
    ]
    assert fake.requests_to("close")[0].json["id"] == first_id
    assert fake.requests_to("create")[1].json["stream_type"] == "livekit"
    assert fake.live_ids() == {second_id} and second_id != first_id
    # Its end stays: the new upstream session is asked for the rest of its time.
    assert moved["expires_at"] == session["expires_at"]
    assert 0 < fake.requests_to("create")[1].json["duration"] <= session["duration"]
    assert alice_api.get(f"/sessions/{session['id']}").json()["rtc"] == moved["rtc"]


def test_the_event_log_shows_both_upstream_sessions_and_both_networks(alice_api, fake):
    session = create(alice_api)
    first_id = row().upstream_id
    fallback(alice_api, session, {"network": "trtc"})

    [moved] = SessionEvent.objects.filter(session_id=session["id"], message__startswith="fell")
    assert moved.message == "fell back from Agora to TRTC"
    assert moved.data == {
        "old_upstream_id": first_id,
        "upstream_id": row().upstream_id,
        "old_network": "agora",
        "network": "trtc",
    }
    [closed] = SessionEvent.objects.filter(session_id=session["id"], message__startswith="falling")
    assert closed.data == {"upstream_id": first_id, "network": "agora"}


def test_the_moved_session_keeps_its_one_slot(alice_api, fake):
    session = create(alice_api)
    slots = row().slots

    fallback(alice_api, session)

    assert row().slots == slots
    assert_error(alice_api.post("/sessions", {"preset": "ada"}), 429)
    alice_api.post(f"/sessions/{session['id']}/close")
    create(alice_api)


def test_a_named_network_is_the_one_moved_to(alice_api, fake):
    session = create(alice_api)

    moved = fallback(alice_api, session, {"network": "trtc"}).json()

    assert moved["network"] == "trtc" and moved["rtc"]["provider"] == "trtc"
    assert fake.requests_to("create")[1].json["stream_type"] == "trtc"


# --- refusals --------------------------------------------------------------------------------


def test_a_second_fallback_is_refused(alice_api, fake):
    session = create(alice_api)
    fallback(alice_api, session)

    assert_error(fallback(alice_api, session, {"network": "trtc"}), 409, "fallback_used")
    assert fake.count("create") == 2 and row().network == "livekit"


def test_an_ended_session_cannot_move(alice_api, fake):
    session = create(alice_api)
    alice_api.post(f"/sessions/{session['id']}/close")

    assert_error(fallback(alice_api, session), 409, "session_not_live")
    assert fake.count("create") == 1


def test_an_overdue_session_cannot_move(alice_api, fake):
    session = create(alice_api)
    AvatarSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(fallback(alice_api, session), 409, "session_not_live")


@pytest.mark.parametrize(
    ("networks", "setting"), [(["agora"], "offer"), (["agora", "trtc"], "off")]
)
def test_no_fallback_when_there_is_no_other_network_or_it_is_off(
    alice_api, fake, settings, networks, setting
):
    settings.AKOOL_NETWORKS, settings.AKOOL_FALLBACK = networks, setting
    session = create(alice_api)

    error = assert_error(fallback(alice_api, session), 409, "no_fallback")

    assert error["message"] == "There is no other network to try for this session."
    assert fake.count("close") == 0 and row().status == "active"


@pytest.mark.parametrize("name", ["webrtc", "agora", "AGORA", ""])
def test_a_network_it_cannot_move_to_is_refused(alice_api, fake, settings, name):
    settings.AKOOL_NETWORKS = ["agora", "trtc"]
    session = create(alice_api)

    error = assert_error(fallback(alice_api, session, {"network": name}), 400, "unknown_network")

    assert error["message"].endswith("it can move to trtc.")
    assert fake.count("close") == 0 and row().status == "active"


def test_a_network_outside_akool_networks_is_refused(alice_api, fake, settings):
    settings.AKOOL_NETWORKS = ["agora", "trtc"]
    session = create(alice_api)

    assert_error(fallback(alice_api, session, {"network": "livekit"}), 400, "unknown_network")


def test_someone_elses_session_is_not_found(alice_api, bob_api, fake, auditor):
    session = create(alice_api)

    assert_error(fallback(bob_api, session), 404, "session_not_found")
    staff = Api(user=auditor)
    assert_error(fallback(staff, session), 404, "session_not_found")
    assert fake.count("close") == 0


def test_it_needs_a_sign_in_and_csrf_like_close(alice_api, anon_api, world, fake):
    session = create(alice_api)

    assert_error(fallback(anon_api, session), 401, "not_authenticated")
    browser = Api(user=world.alice)
    del browser.headers["X-CSRFToken"]
    assert_error(fallback(browser, session), 403)
    assert fake.count("close") == 0


def test_a_body_with_other_keys_is_refused(alice_api, fake):
    session = create(alice_api)

    assert_error(fallback(alice_api, session, {"net": "trtc"}), 422, "invalid_request")


# --- failures on the way -----------------------------------------------------------------------


def test_a_refused_second_create_fails_the_session_and_frees_its_slot(alice_api, fake):
    session = create(alice_api)
    fake.fail("create", "code", code=1005, msg="too many sessions", times=1)

    error = assert_error(fallback(alice_api, session), 502, "upstream_refused")

    assert "too many sessions" in error["message"]
    assert fake.live_ids() == set()  # the first was closed, the second never made
    assert_failed_and_slot_freed(alice_api, fake)


def test_an_unanswered_second_create_is_left_for_the_reaper_to_match(alice_api, fake):
    session = create(alice_api)
    fake.fail("create", "drop", times=1, after=True)

    assert_error(fallback(alice_api, session), 503, "upstream_unavailable")

    failed = row()
    assert failed.status == "failed" and failed.upstream_id == ""
    assert failed.create_unanswered_at is not None
    [orphan] = fake.live_ids()
    async_to_sync(reap)()
    assert fake.live_ids() == set()  # matched to this row's create, and closed
    assert AvatarSession.objects.get().upstream_id == orphan


def test_an_unusable_second_answer_fails_the_session(alice_api, fake):
    session = create(alice_api)
    fake.omit_credentials = ("livekit_token",)

    assert_error(fallback(alice_api, session), 502, "upstream_bad_response")

    assert fake.live_ids() == set()
    fake.omit_credentials = ()
    assert_failed_and_slot_freed(alice_api, fake)


def test_a_failed_close_of_the_first_fails_the_session_and_the_reaper_closes_it(alice_api, fake):
    session = create(alice_api)
    first_id = row().upstream_id
    fake.fail("close", "http500")

    assert_error(fallback(alice_api, session), 502)

    failed = row()
    assert (failed.status, failed.upstream_id) == ("failed", first_id)
    assert fake.count("create") == 1  # no second session while the first may still run
    fake.heal()
    async_to_sync(reap)()
    assert fake.live_ids() == set()


# --- the reaper after a fallback ----------------------------------------------------------------


def test_the_reaper_closes_the_new_upstream_session_when_it_expires(alice_api, fake):
    session = create(alice_api)
    fallback(alice_api, session)
    second_id = row().upstream_id
    AvatarSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert async_to_sync(reap)().expired == 1

    assert fake.requests_to("close")[-1].json["id"] == second_id
    assert fake.live_ids() == set() and row().status == "closed"


def test_the_reconciliation_closes_the_new_upstream_session_of_a_closed_row(alice_api, fake):
    session = create(alice_api)
    fallback(alice_api, session)
    second_id = row().upstream_id
    # Recorded closed here (say, a close whose upstream call was lost), still live there.
    AvatarSession.objects.update(status="closed", closed_at=timezone.now())

    assert async_to_sync(reap)().reconciled == 1

    assert fake.live_ids() == set()
    assert fake.requests_to("close")[-1].json["id"] == second_id


def test_a_dedicated_accounts_reaper_spares_a_fallbacks_create_in_flight(alice_api, fake, settings):
    settings.AKOOL_ACCOUNT_DEDICATED = True
    create(alice_api)
    # Mid-fallback: the first upstream session closed, the second made but not yet recorded.
    AvatarSession.objects.update(upstream_id="", rtc={})
    for upstream_id in list(fake.sessions):
        fake.set_status(upstream_id, 3)
    in_flight = fake.add_session()

    async_to_sync(reap)()

    assert fake.live_ids() == {in_flight}  # left for the next pass, when it is recorded
