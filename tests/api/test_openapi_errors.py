"""Each operation of the OpenAPI document declares the error statuses it can answer, and
only those (issue 17: GET /presets listed every status there is). One home:
sessions.api.http_errors.error_map."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from sessions.api.http_errors import error_map
from tests.api.helpers import create
from tests.conftest import Api

pytestmark = pytest.mark.django_db

DECLARED = {
    ("get", "/api/v1/presets"): {401, 500, 503},
    ("get", "/api/v1/sessions"): {401, 422, 500, 503},
    ("post", "/api/v1/sessions"): {400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504},
    ("get", "/api/v1/sessions/{session_id}"): {401, 404, 422, 500, 503},
    ("post", "/api/v1/sessions/{session_id}/close"): {
        *(400, 401, 403, 404, 413, 422),
        *(500, 502, 503, 504),
    },
    ("post", "/api/v1/sessions/{session_id}/leave"): {401, 403, 404, 413, 422, 500, 503},
    ("get", "/api/v1/sessions/{session_id}/transcript"): {401, 404, 422, 500, 503},
    ("post", "/api/v1/sessions/{session_id}/extend"): {
        *(400, 401, 403, 404, 409, 413, 422, 429),
        *(500, 502, 503, 504),
    },
    # 400 unknown_network; 409 session_not_live, fallback_used, no_fallback.
    ("post", "/api/v1/sessions/{session_id}/fallback"): {
        *(400, 401, 403, 404, 409, 413, 422),
        *(500, 502, 503, 504),
    },
    # The embed page's token renewal: only a valid embed token (401 otherwise).
    ("post", "/api/v1/embed/token"): {401, 500, 503},
}


def error_statuses(document: dict, method: str, path: str) -> set[int]:
    responses = document["paths"][path][method]["responses"]
    return {int(code) for code in responses if int(code) >= 400}


@pytest.fixture
def document(alice_api) -> dict:
    return alice_api.get("/openapi.json").json()


def test_each_operation_declares_only_the_errors_it_can_answer(document):
    found = {
        (method, path): error_statuses(document, method, path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert found == DECLARED


def test_get_presets_declares_no_error_it_cannot_answer(document):
    declared = error_statuses(document, "get", "/api/v1/presets")
    # Nothing to find, nothing to send, no limit, no avatar service behind it.
    assert not declared & {400, 403, 404, 405, 409, 413, 422, 429, 502, 504}
    for status, response in document["paths"]["/api/v1/presets"]["get"]["responses"].items():
        if int(status) >= 400:  # each in the one error shape
            assert response["content"]["application/json"]["schema"]["$ref"].endswith("ErrorOut")


def test_every_error_the_api_answers_is_declared_on_its_operation(
    document, world, alice_api, bob_api, settings
):
    """The errors a client can provoke, each answered with a status its operation declares."""
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    settings.API_MAX_BODY_BYTES = 200
    mine = create(alice_api)["id"]
    cookie = Client(enforce_csrf_checks=True)  # signed in, without the CSRF token
    cookie.force_login(world.alice)
    somebody_elses = f"/sessions/{uuid.uuid4()}"
    attacks = [
        ("get", "/api/v1/presets", Api().get("/presets"), 401),
        ("get", "/api/v1/sessions", alice_api.get("/sessions?page=0"), 422),
        ("post", "/api/v1/sessions", alice_api.post("/sessions", raw="{"), 400),
        ("post", "/api/v1/sessions", alice_api.post("/sessions", {"preset": "nope"}), 404),
        ("post", "/api/v1/sessions", alice_api.post("/sessions", {"preset": "ada"}), 429),
        ("post", "/api/v1/sessions", alice_api.post("/sessions", {"preset": "x" * 300}), 413),
        (
            "post",
            "/api/v1/sessions",
            cookie.post("/api/v1/sessions", "{}", content_type="application/json"),
            403,
        ),
        ("post", "/api/v1/sessions", alice_api.post("/sessions", {"duration": "x"}), 422),
        ("get", "/api/v1/sessions/{session_id}", alice_api.get(somebody_elses), 404),
        ("get", "/api/v1/sessions/{session_id}", alice_api.get("/sessions/null"), 422),
        ("get", "/api/v1/sessions/{session_id}", bob_api.get(f"/sessions/{mine}"), 404),
        (
            "get",
            "/api/v1/sessions/{session_id}/transcript",
            bob_api.get(f"/sessions/{mine}/transcript"),
            404,
        ),
        (
            "post",
            "/api/v1/sessions/{session_id}/close",
            alice_api.post(f"/sessions/{mine}/close", {"reason": "nope"}),
            422,
        ),
        (
            "post",
            "/api/v1/sessions/{session_id}/close",
            bob_api.post(f"/sessions/{mine}/close"),
            404,
        ),
        (
            "post",
            "/api/v1/sessions/{session_id}/leave",
            alice_api.post("/sessions/0/leave"),
            422,
        ),
        (
            "post",
            "/api/v1/sessions/{session_id}/extend",
            bob_api.post(f"/sessions/{mine}/extend"),
            404,
        ),
        (
            "post",
            "/api/v1/sessions/{session_id}/extend",
            alice_api.post(f"/sessions/{mine}/extend"),
            403,  # the preset does not allow it
        ),
    ]
    for method, path, response, status in attacks:
        assert response.status_code == status, (method, path, response.content)
        assert status in error_statuses(document, method, path), (method, path, status)


def test_a_status_no_error_answers_cannot_be_declared():
    assert set(error_map(404)) == {401, 404, 500, 503}
    with pytest.raises(ValueError, match="418"):
        error_map(418)
