"""Issue 15 item 12: deeply nested JSON (RecursionError is not a ValueError) is a client's
mistake everywhere: an error answer, the socket kept open, and nothing logged at ERROR, on
the session socket, the sandbox avatar's socket and the HTTP API."""

from __future__ import annotations

import json
import logging

import pytest

from sessions.stream.parser import parse
from tests.conftest import Api, assert_error
from tests.support.wsutil import create_session, open_page, open_sandbox

DEEP = "[" * 5000 + "]" * 5000  # under every size limit, far past the parser's depth
DEEP_OBJECT = '{"type": "chat", "text": ' + DEEP + "}"


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_session_socket_answers_deep_json_with_an_error_frame(world, caplog):
    caplog.set_level(logging.INFO)
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    try:
        assert json.loads(await page.receive_from())["type"] == "session"
        for payload in (DEEP, DEEP_OBJECT):
            await page.send_to(text_data=payload)
            while (frame := json.loads(await page.receive_from()))["type"] != "error":
                pass
            assert frame["code"] in ("bad_json", "bad_message")
        # Still open and working.
        await page.send_to(text_data=json.dumps({"type": "interrupt"}))
        while (frame := json.loads(await page.receive_from()))["type"] == "transcript":
            pass
        assert frame["type"] != "error" or frame["code"] not in ("bad_json", "bad_message")
    finally:
        await page.disconnect()
    assert errors_logged(caplog) == []
    assert "Traceback" not in caplog.text


def test_the_sandbox_parser_takes_deep_json_for_not_a_message():
    # What the sandbox avatar's socket parses (its frames are capped at 1 KB before this).
    assert parse(DEEP) is None
    assert parse('{"v": 2, "type": "chat", "pld": ' + DEEP + "}") is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_sandbox_socket_survives_deep_json(world, caplog):
    caplog.set_level(logging.INFO)
    session = await create_session(world.alice_token)
    avatar = await open_sandbox(session)
    shallow = "[" * 500 + "]" * 500  # deep, and under the sandbox's 1 KB frame cap
    try:
        for payload in (shallow, '{"v": 2, "type": "chat", "pld": ' + shallow[:900] + "}"):
            await avatar.send_to(text_data=payload)
        # Still open and answering: a chat gets the avatar's reply.
        chat = {"v": 2, "type": "chat", "mid": "m1", "pld": {"text": "Hello?", "from": "user"}}
        await avatar.send_to(text_data=json.dumps(chat))
        reply = json.loads(await avatar.receive_from(timeout=3))
        assert reply["v"] == 2
    finally:
        await avatar.disconnect()
    assert errors_logged(caplog) == []
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_the_http_api_answers_deep_json_with_bad_json_or_invalid_request(world, caplog):
    caplog.set_level(logging.INFO)
    api = Api(token=world.alice_token)
    for body in (DEEP, '{"preset": ' + DEEP + "}"):
        response = api.post("/sessions", raw=body)
        assert response.status_code in (400, 422)
        assert_error(response, response.status_code)
    assert errors_logged(caplog) == []
    assert "Traceback" not in caplog.text
