"""Issue 17: a session's `connected` says whether a page of its owner holds it now (any
tab, any device), so a page opened on a second device asks before taking it over."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def read(token: str, path: str) -> dict:
    response = await AsyncClient().get(
        f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.content
    return response.json()


async def test_connected_while_an_owner_page_holds_the_session(world):
    session = await create_session(world.alice_token)
    assert (await read(world.alice_token, f"/sessions/{session['id']}"))["connected"] is False

    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from(timeout=3))["type"] == "session"
    one = await read(world.alice_token, f"/sessions/{session['id']}")
    listed = (await read(world.alice_token, "/sessions"))["items"]
    assert one["connected"] is True
    assert [s["connected"] for s in listed if s["id"] == session["id"]] == [True]

    await page.disconnect()
    assert (await read(world.alice_token, f"/sessions/{session['id']}"))["connected"] is False


async def test_a_closed_session_is_never_connected(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from(timeout=3)
    closed = await AsyncClient().post(
        f"/api/v1/sessions/{session['id']}/close",
        {},
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert closed.status_code == 200
    assert (await read(world.alice_token, f"/sessions/{session['id']}"))["connected"] is False
    await page.disconnect()
