"""F5: the staff log never ties a user's name to their sessions, and once the account is
deleted it keeps nothing that says who they were (their id, their token's name); who on
the staff did what, and when, stays."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from sessions.models import ApiToken, StaffAction
from tests.conftest import Api
from tests.staff.helpers import SESSIONS, client_for, open_session

pytestmark = pytest.mark.django_db(transaction=True)


def _the_log() -> str:
    rows = StaffAction.objects.all()
    return json.dumps([[a.actor_name, a.what, a.session_id_text, a.data] for a in rows])


def test_the_staff_log_forgets_a_deleted_user(world, auditor):
    world.staff.is_superuser = True  # may mint tokens too
    world.staff.save()
    session = open_session(world)
    staff = client_for(auditor)
    assert staff.get(f"{SESSIONS}{session.pk}/change/").status_code == 200
    assert staff.get(f"{SESSIONS}{session.pk}/live/").status_code == 200
    added = staff.post(
        "/admin/avatar_sessions/apitoken/add/", {"owner": world.alice.pk, "name": "alice laptop"}
    )
    assert added.status_code == 200
    staff_api = Api(token=ApiToken.issue(auditor, "staff cli")[1])
    assert staff_api.get(f"/sessions/{session.pk}/transcript").status_code == 200
    assert staff_api.post(f"/sessions/{session.pk}/close").status_code == 200
    assert all("alice" not in a.what for a in StaffAction.objects.all())
    count = StaffAction.objects.count()
    assert count == 5

    alice = Client()
    alice.force_login(world.alice)
    alice.get("/accounts/delete/")
    deleted = alice.post(
        "/accounts/delete/",
        {"password": "alice-pw-123", "csrfmiddlewaretoken": alice.cookies["csrftoken"].value},
    )

    assert deleted.status_code == 200
    log = _the_log()
    assert "alice" not in log
    assert f'"owner": {world.alice.pk}' not in log
    assert StaffAction.objects.count() == count  # what staff did is still on the record
    assert set(StaffAction.objects.values_list("actor_name", flat=True)) == {"staff"}
