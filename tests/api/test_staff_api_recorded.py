"""F1: staff reading or closing someone else's session through the API is on the staff
record, like the admin's views of it (README "Staff accountability"); the owner's own
reads and closes are not."""

from __future__ import annotations

import pytest

from sessions.models import ApiToken, StaffAction
from tests.conftest import Api
from tests.staff.helpers import open_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_token_api(world, auditor) -> Api:
    """The attack's caller: staff with view/change permission, through an API token."""
    return Api(token=ApiToken.issue(auditor, "staff cli")[1])


def recorded() -> list[tuple[str, str, str, dict]]:
    rows = StaffAction.objects.order_by("at", "id")
    return [(a.kind, a.what, a.session_id_text, a.data) for a in rows]


def test_staff_reading_a_transcript_through_the_api_is_recorded(world, staff_token_api):
    session = open_session(world)

    assert staff_token_api.get(f"/sessions/{session.pk}/transcript").status_code == 200

    assert recorded() == [
        (
            "view",
            f"Read the transcript of session {session.pk} through the API.",
            str(session.pk),
            {"via": "api"},
        )
    ]
    assert StaffAction.objects.get().actor == world.staff


def test_staff_reading_a_session_through_the_api_is_recorded(world, staff_token_api):
    session = open_session(world)

    assert staff_token_api.get(f"/sessions/{session.pk}").status_code == 200

    assert [(kind, sid) for kind, _, sid, _ in recorded()] == [("view", str(session.pk))]


def test_staff_closing_through_the_api_is_recorded(world, staff_token_api):
    session = open_session(world)

    response = staff_token_api.post(f"/sessions/{session.pk}/close")

    assert response.status_code == 200
    assert response.json()["close_reason"] == "admin"
    assert recorded() == [
        (
            "close",
            f"Ended session {session.pk} through the API (ended).",
            str(session.pk),
            {"via": "api", "outcome": "ended"},
        )
    ]
    # Closing it again changes nothing and records nothing more.
    assert staff_token_api.post(f"/sessions/{session.pk}/close").status_code == 200
    assert StaffAction.objects.count() == 1


def test_the_owner_reading_and_closing_is_not_a_staff_action(world, alice_api):
    session = open_session(world)

    assert alice_api.get(f"/sessions/{session.pk}").status_code == 200
    assert alice_api.get(f"/sessions/{session.pk}/transcript").status_code == 200
    assert alice_api.post(f"/sessions/{session.pk}/close").status_code == 200

    assert recorded() == []


def test_staff_without_permission_read_nothing_and_nothing_is_recorded(world):
    session = open_session(world)
    plain_staff = Api(token=ApiToken.issue(world.staff, "staff cli")[1])

    assert plain_staff.get(f"/sessions/{session.pk}/transcript").status_code == 404
    assert recorded() == []
