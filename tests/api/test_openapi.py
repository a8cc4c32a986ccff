"""The API's OpenAPI document: published, and describing the create body and its errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


# --- OpenAPI -----------------------------------------------------------------------------------


def test_it_publishes_the_openapi_document(alice_api):
    response = alice_api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/close",
        "/api/v1/sessions/{session_id}/transcript",
        "/api/v1/presets",
    ):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/sessions"])


def test_its_openapi_document_describes_the_create_body_and_errors(alice_api):
    document = alice_api.get("/openapi.json").json()

    create_op = document["paths"]["/api/v1/sessions"]["post"]
    assert "201" in create_op["responses"]
    assert "429" in create_op["responses"]
    schemas = document["components"]["schemas"]
    body = schemas["CreateSessionIn"]
    assert body["required"] == ["preset"]
    assert set(body["properties"]) == {"preset", "voice", "language", "mode", "duration", "consent"}
    assert set(schemas["ErrorOut"]["properties"]) == {"error"}


def test_it_takes_a_whole_number_written_as_a_float(alice_api):
    # JSON has one number type: 600.0 is the integer the schema asks for.
    response = alice_api.post("/sessions", {"preset": "ada", "duration": 600.0, "mode": 2.0})
    assert response.status_code == 201, response.content
    assert (response.json()["duration"], response.json()["mode"]) == (600, 2)


def test_the_docs_page_loads_its_scripts_from_this_site(client, db):
    """/api/v1/docs was blank: the CSP (script-src 'self') blocked Swagger UI from a CDN.
    Its scripts and styles now come from our own static files."""
    import re

    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    styles += re.findall(r'<link[^>]*href="([^"]+)"[^>]*rel="stylesheet"', html)
    assert any("swagger-ui-bundle" in src for src in scripts)
    assert styles
    for src in scripts + styles:
        assert src.startswith("/static/"), src  # same origin: allowed by script-src 'self'
        assert client.get(src).status_code == 200, src
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "'unsafe-eval'" not in page["Content-Security-Policy"]
