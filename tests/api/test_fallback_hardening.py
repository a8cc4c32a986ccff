"""The fallback against a hostile or slow AKool: an answer whose credentials no database
stores or no page can use fails the move cleanly (upstream closed, 502, never a 500); any
failure after the second create closes that upstream session; and two fallbacks that race
past the lock (say, after it expired behind a slow close) move the session once, whatever
the lock does: the database decides, the loser's new upstream session is closed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from asgiref.sync import async_to_sync
from django.db import DataError, connection

from sessions import keys, shared_cache
from sessions.providers.akool import parsing
from sessions.services import fallback as fallback_service
from sessions.services.reaper import reap
from tests.api.test_fallback import assert_failed_and_slot_freed, create, fallback, row
from tests.conftest import Api, assert_error
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings) -> Iterator[FakeAkool]:
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    settings.AKOOL_NETWORKS = ["agora", "livekit", "trtc"]
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, dict]:
    """Run `call` (a request) in another thread; its answer lands in the dict."""
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(response=call()), daemon=True)
    thread.start()
    return thread, answer


def lock_of(session: dict) -> str:
    return keys.falling_back(session["id"])


# --- hostile answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["tok\u0000en", "t" * 5_000_000])
def test_a_second_answer_with_unusable_credentials_fails_the_move_cleanly(alice_api, fake, token):
    session = create(alice_api)
    fake.credential_values = {"livekit_token": token}

    assert_error(fallback(alice_api, session), 502, "upstream_bad_response")

    assert fake.count("create") == 2 and fake.live_ids() == set()  # the second closed too
    failed = alice_api.get(f"/sessions/{session['id']}").json()
    assert failed["status"] == "failed" and failed["fallback_networks"] == []
    assert "rtc" not in failed or not failed["rtc"]
    fake.credential_values = {}
    assert_failed_and_slot_freed(alice_api, fake)


def test_a_first_answer_with_a_5_mb_token_never_reaches_the_page(alice_api, fake, settings):
    settings.AKOOL_STREAM_TYPE = "livekit"
    fake.credential_values = {"livekit_token": "t" * 5_000_000}

    response = alice_api.post("/sessions", {"preset": "ada"})

    assert_error(response, 502, "upstream_bad_response")
    assert len(response.content) < 2000 and fake.live_ids() == set()
    assert (row().status, row().rtc) == ("failed", {})


# --- a failure after the second create ---------------------------------------------------------


@pytest.mark.parametrize("close_fails", [False, True])
def test_a_failure_recording_the_new_session_closes_it(alice_api, fake, monkeypatch, close_fails):
    session = create(alice_api)

    def refused_by_the_database(*args):
        if close_fails:
            fake.fail("close", "http500")
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    monkeypatch.setattr(fallback_service, "rtc_dict", refused_by_the_database)

    assert_error(fallback(alice_api, session), 503, "internal_error")

    failed = row()
    assert failed.status == "failed" and failed.rtc == {}
    assert alice_api.get(f"/sessions/{session['id']}").json()["fallback_networks"] == []
    if close_fails:
        # Its id is on the failed row: the reaper's reconciliation closes it.
        assert failed.upstream_id in fake.live_ids()
        fake.heal()
        async_to_sync(reap)()
    assert fake.live_ids() == set()
    assert_failed_and_slot_freed(alice_api, fake)


def test_a_nul_the_database_refuses_after_the_second_create_closes_it(alice_api, fake, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores a NUL; PostgreSQL (the second pass) refuses it")
    # Past the parser (as a rule it does not know yet would be): PostgreSQL refuses the NUL.
    monkeypatch.setattr(parsing, "_credential", lambda value, limit=0: parsing._text(value))
    session = create(alice_api)
    fake.credential_values = {"livekit_token": "tok\u0000en"}

    assert_error(fallback(alice_api, session), 503, "internal_error")

    assert row().status == "failed" and fake.live_ids() == set()


# --- races past the lock -------------------------------------------------------------------------


def test_two_fallbacks_past_the_lock_move_the_session_once(alice_api, fake, world):
    session = create(alice_api)
    arrived, release = fake.hold("close")
    slow, first = in_thread(lambda: fallback(alice_api, session))
    assert arrived.wait(10)
    # The first's lock expired behind its slow close: a second fallback passes the lock.
    async_to_sync(shared_cache.delete)(lock_of(session))

    second = fallback(Api(token=world.alice_token), session, {"network": "trtc"})
    release.set()
    slow.join(10)

    assert second.status_code == 200, second.content
    assert_error(first["response"], 409, "fallback_used")
    moved = row()
    assert (moved.status, moved.network) == ("active", "trtc")
    assert fake.count("create") == 2 and fake.live_ids() == {moved.upstream_id}


def test_a_fallback_while_another_creates_is_refused(alice_api, fake, world):
    session = create(alice_api)
    arrived, release = fake.hold("create")
    slow, first = in_thread(lambda: fallback(alice_api, session))
    assert arrived.wait(10)
    async_to_sync(shared_cache.delete)(lock_of(session))
    other = Api(token=world.alice_token)

    # Mid-move (no upstream session on the row): no other network is offered or taken.
    assert other.get(f"/sessions/{session['id']}").json()["fallback_networks"] == []
    assert_error(fallback(other, session, {"network": "trtc"}), 409, "fallback_used")
    release.set()
    slow.join(10)

    assert first["response"].status_code == 200, first["response"].content
    moved = row()
    assert moved.network == "livekit" and fake.live_ids() == {moved.upstream_id}


def test_a_fallback_releases_only_its_own_lock(alice_api, fake):
    session = create(alice_api)
    arrived, release = fake.hold("close")
    slow, first = in_thread(lambda: fallback(alice_api, session))
    assert arrived.wait(10)
    # Its lock expired and another fallback holds the session's lock now.
    async_to_sync(shared_cache.set)(lock_of(session), "another's", 60)
    release.set()
    slow.join(10)

    assert first["response"].status_code == 200
    assert async_to_sync(shared_cache.get)(lock_of(session)) == "another's"


def test_the_lock_outlasts_the_slowest_fallback(settings):
    settings.AKOOL_CONNECT_TIMEOUT, settings.AKOOL_READ_TIMEOUT, settings.AKOOL_RETRIES = 5, 20, 3
    # A close and a state check and a token fetch, each 4 attempts of 45 s; one create.
    assert fallback_service._lock_seconds() > 3 * 4 * 45 + 45
