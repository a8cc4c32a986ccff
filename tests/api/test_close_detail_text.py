"""Attack finding 8 on issue 15: a close's detail with a NUL (or a lone surrogate) was
accepted and written to the session's events, which PostgreSQL refuses: a 500 and a
close that failed. Such a detail is refused (422) before anything is recorded or closed."""

from __future__ import annotations

import pytest

from sessions.models import AvatarSession, SessionEvent
from tests.api.helpers import create
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("escaped", [r"a\u0000b", r"nul\u0000here", r"\ud800", r"x\udfffy"])
def test_a_detail_no_database_stores_is_refused_and_closes_nothing(alice_api, escaped):
    session = create(alice_api)

    # Sent as the reviewer did: the escape in the JSON text itself.
    response = alice_api.post(
        f"/sessions/{session['id']}/close", raw='{"reason":"error","detail":"' + escaped + '"}'
    )

    error = assert_error(response, 422, "invalid_request")
    assert "detail" in error["message"]
    assert "NUL" in error["message"] or "\\u0000" not in escaped
    assert AvatarSession.objects.get(pk=session["id"]).status == "active"
    assert not SessionEvent.objects.filter(session_id=session["id"], kind="error").exists()
    # The page can still say why in plain text, and the close goes through.
    closed = alice_api.post(
        f"/sessions/{session['id']}/close", {"reason": "error", "detail": "a b \U0001f600"}
    )
    assert closed.status_code == 200 and closed.json()["close_reason"] == "error"
    events = SessionEvent.objects.filter(session_id=session["id"], kind="error")
    assert [e.message for e in events] == ["the page failed: a b \U0001f600"]
