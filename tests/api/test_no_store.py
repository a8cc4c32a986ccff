"""Responses that carry a session's `rtc` credentials are never cached (issue 15,
hardening): create, detail, list and close."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_every_answer_with_rtc_says_no_store(alice_api):
    created = alice_api.post("/sessions", {"preset": "ada"})
    session_id = created.json()["id"]
    assert created.json()["rtc"]
    responses = [
        created,
        alice_api.get(f"/sessions/{session_id}"),
        alice_api.get("/sessions"),
        alice_api.post(f"/sessions/{session_id}/close"),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        assert response["Cache-Control"] == "no-store"
    assert alice_api.get("/sessions")["Cache-Control"] == "no-store"
    # Errors too (the same path), and nothing else is touched.
    assert alice_api.get("/sessions/" + "0" * 32)["Cache-Control"] == "no-store"
    assert "no-store" not in alice_api.get("/presets").get("Cache-Control", "")
