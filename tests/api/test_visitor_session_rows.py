"""Attack finding 6 on issue 15: in anonymous mode a cookieless POST /api/v1/sessions with
only the csrftoken cookie saved a Django session before its body was read or a limit
checked, so invalid JSON, an unknown preset or a refused start each left a row (20 failed
requests, 20 rows). The row is saved only once the avatar session is made."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from sessions.models import AvatarSession
from tests.api.test_auth import Visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous(settings, world):
    settings.ANONYMOUS_SESSIONS = True
    settings.TRUSTED_PROXIES = []


def cookieless_post(csrf: str, body: bytes):
    # A fresh client each time, as the reviewer's script: the csrftoken cookie, no sessionid.
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = csrf
    return client.post(
        "/api/v1/sessions", body, content_type="application/json", headers={"X-CSRFToken": csrf}
    )


def test_failed_cookieless_starts_leave_no_session_rows(anonymous):
    csrf = Visitor().csrf
    before = Session.objects.count()
    for i in range(20):
        response = cookieless_post(csrf, b'{"preset": "nope"}' if i % 2 else b"garbage")
        assert response.status_code in (400, 404, 422)
        assert "sessionid" not in response.cookies
    assert Session.objects.count() == before


def test_a_start_refused_by_a_limit_leaves_no_session_row(anonymous, settings):
    settings.SESSION_CREATES_PER_HOUR = 1
    csrf = Visitor().csrf
    assert cookieless_post(csrf, b'{"preset": "ada"}').status_code == 201
    before = Session.objects.count()
    for _ in range(5):
        assert cookieless_post(csrf, b'{"preset": "ada"}').status_code == 429
    assert Session.objects.count() == before


def test_a_successful_start_saves_the_row_its_cookie_names(anonymous):
    visitor = Visitor()
    before = Session.objects.count()

    created = visitor.post("/sessions", {"preset": "ada"})

    assert created.status_code == 201
    assert Session.objects.count() == before + 1
    key = created.cookies["sessionid"].value
    assert Session.objects.filter(session_key=key).exists()
    # The cookie is the one the session is owned by: the visitor sees and closes it.
    session_id = created.json()["id"]
    assert visitor.get(f"/sessions/{session_id}").json()["rtc"] is not None
    assert visitor.post(f"/sessions/{session_id}/close").status_code == 200
    assert AvatarSession.objects.get(pk=session_id).close_reason == "user"
