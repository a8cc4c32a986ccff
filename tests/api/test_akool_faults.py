"""AKool failing in each way while we close sessions or list them: a clear error for
the user, no server error, and no session left open once AKool is back."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from sessions.models import AvatarSession
from sessions.services.reaper import reap
from tests.conftest import assert_error
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool
from tools import services

pytestmark = pytest.mark.django_db(transaction=True)

FAULTS = [
    ("http500", 502),
    ("hang", 504),
    ("code", 502),
    ("malformed", 502),
    ("empty", 502),
    ("nocode", 502),
]


@pytest.fixture
def fake(settings):
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        settings.AKOOL_READ_TIMEOUT = 0.3
        yield server


def start(api) -> dict:
    response = api.post("/sessions", {"preset": "ada"})
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(("mode", "status"), FAULTS)
def test_a_close_that_fails_is_explained_and_finished_once_akool_is_back(
    alice_api, fake, mode, status
):
    session = start(alice_api)
    fake.fail("close", mode)
    error = assert_error(alice_api.post(f"/sessions/{session['id']}/close"), status)
    assert "retried" in error["message"]
    assert AvatarSession.objects.get(pk=session["id"]).status == "closing"
    assert fake.live_ids()

    fake.heal()
    result = async_to_sync(reap)()
    assert result.retried == 1
    row = AvatarSession.objects.get(pk=session["id"])
    assert (row.status, row.close_reason) == ("closed", "user")
    assert not fake.live_ids()


def test_a_close_while_akool_is_unreachable_is_finished_once_it_is_back(alice_api, fake, settings):
    session = start(alice_api)
    use_akool(settings, f"http://127.0.0.1:{services.free_port()}", fake.api_key)
    assert_error(alice_api.post(f"/sessions/{session['id']}/close"), 503)
    use_akool(settings, fake.base_url, fake.api_key)
    async_to_sync(reap)()
    assert AvatarSession.objects.get(pk=session["id"]).status == "closed"
    assert not fake.live_ids()


@pytest.mark.parametrize(("mode", "_status"), FAULTS)
def test_a_failing_upstream_list_is_reported_and_retried_next_pass(alice_api, fake, mode, _status):
    fake.fail("list", mode)
    first = async_to_sync(reap)()
    assert any("listing upstream sessions failed" in e for e in first.errors)
    fake.heal()
    assert not async_to_sync(reap)().errors


def test_a_create_that_fails_leaves_nothing_open_and_a_retry_works(alice_api, fake):
    for mode, status in FAULTS:
        fake.fail("create", mode)
        assert_error(alice_api.post("/sessions", {"preset": "ada"}), status)
        fake.heal()
    assert not fake.live_ids()
    assert set(AvatarSession.objects.values_list("status", flat=True)) == {"failed"}
    session = start(alice_api)
    assert session["status"] == "active"
