"""Webhooks against a fake receiver: a session's life queued as signed deliveries where
its state changes, sent by a pass, retried after 500s and timeouts, never sent again once
acknowledged; a refused answer or URL fails without a flood of retries."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.utils import timezone

from sessions.models import AvatarSession, TranscriptEntry
from sessions.services import webhooks
from sessions.webhook_models import WebhookDelivery, WebhookEndpoint
from tests.support.wsutil import create_session

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def close(token: str, session_id: str) -> None:
    response = await AsyncClient().post(
        f"/api/v1/sessions/{session_id}/close",
        {},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content


@sync_to_async
def deliveries(**filters) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(**filters).order_by("created_at"))


@sync_to_async
def queue(endpoint: WebhookEndpoint, **fields) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event="session.closed", payload={"id": "x"}, **fields
    )


async def test_a_session_s_start_and_close_arrive_signed_with_the_transcript(
    world, receiver, endpoint
):
    session = await create_session(world.alice_token)
    # Queued where the state changed, not sent in the request: nothing arrived yet.
    assert [d.event for d in await deliveries()] == ["session.started"]
    assert receiver.requests == []
    await TranscriptEntry.objects.acreate(
        session_id=session["id"], role="user", mid="u1", text="Hello there", final=True
    )
    await close(world.alice_token, session["id"])

    assert await webhooks.send_due() == {"delivered": 2, "retry": 0, "failed": 0}
    started, closed = sorted(receiver.requests, key=lambda r: r["event"] != "session.started")
    assert started["verified"] and closed["verified"]
    assert started["body"]["data"] == {
        "id": session["id"],
        "preset": "ada",
        "principal": "token",
        "created_at": started["body"]["data"]["created_at"],
        "started_at": started["body"]["data"]["started_at"],
        "duration_reserved_seconds": session["duration"],
        "embed_key": None,
    }
    data = closed["body"]["data"]
    assert data["reason"] == "user" and data["minutes_reserved"] == round(
        session["duration"] / 60, 2
    )
    assert data["minutes_used"] >= 0
    assert [(line["role"], line["text"]) for line in data["transcript"]] == [
        ("user", "Hello there")
    ]
    # The delivery's id, in the header and the body: what receivers dedupe on.
    row = (await deliveries(event="session.closed"))[0]
    assert closed["delivery"] == closed["body"]["delivery"] == str(row.id)
    assert row.status == "delivered" and row.attempts == 1 and row.last_status_code == 200


async def test_a_wrong_secret_does_not_verify(world, receiver, endpoint):
    receiver.secret = "whsec_not-the-one"
    await queue(endpoint)
    await webhooks.send_due()
    assert receiver.requests[0]["verified"] is False


async def test_retried_after_a_500_and_a_timeout_then_delivered_and_never_sent_again(
    world, receiver, endpoint, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.answers = [500, "hang", 200]
    row = await queue(endpoint)
    results = [await webhooks.send_due() for _ in range(3)]
    assert results == [
        {"delivered": 0, "retry": 1, "failed": 0},
        {"delivered": 0, "retry": 1, "failed": 0},
        {"delivered": 1, "retry": 0, "failed": 0},
    ]
    assert [r["delivery"] for r in receiver.requests] == [str(row.id)] * 3
    assert all(r["verified"] for r in receiver.requests)
    await row.arefresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)

    # Acknowledged: never sent again, even if it were somehow due, or a late report
    # of an earlier attempt came in.
    await WebhookDelivery.objects.filter(pk=row.pk).aupdate(next_attempt_at=timezone.now())
    assert await webhooks.send_due() == {"delivered": 0, "retry": 0, "failed": 0}
    await sync_to_async(webhooks._record)(row, webhooks.Outcome(retry=True, error="late"))
    await row.arefresh_from_db()
    assert row.status == "delivered" and len(receiver.requests) == 3


async def test_a_timeout_is_recorded_briefly_and_waits_its_backoff(
    world, receiver, endpoint, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    settings.WEBHOOK_RETRY_SECONDS = 60.0
    receiver.answers = ["hang"]
    row = await queue(endpoint)
    await webhooks.send_due()
    await row.arefresh_from_db()
    assert row.status == "pending" and row.last_error == "No answer within 0.2 s."
    wait = (row.next_attempt_at - timezone.now()).total_seconds()
    assert 40 < wait < 80  # 60 s give or take a quarter
    assert await webhooks.send_due() == {"delivered": 0, "retry": 0, "failed": 0}


async def test_a_client_error_fails_at_once_and_attempts_run_out(
    world, receiver, endpoint, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.answers = [404, 503, 503]
    refused = await queue(endpoint)
    await webhooks.send_due()
    flaky = await queue(endpoint)
    await webhooks.send_due()
    await webhooks.send_due()
    await refused.arefresh_from_db()
    await flaky.arefresh_from_db()
    assert (refused.status, refused.attempts, refused.last_error) == ("failed", 1, "HTTP 404")
    assert (flaky.status, flaky.attempts, flaky.last_status_code) == ("failed", 2, 503)
    assert len(receiver.requests) == 3


async def test_429_and_408_are_retried(world, receiver, endpoint):
    receiver.answers = [429, 408]
    row = await queue(endpoint)
    for _ in range(3):
        await webhooks.send_due()
    await row.arefresh_from_db()
    assert (row.status, row.attempts) == ("delivered", 3)


async def test_a_claimed_delivery_is_not_claimed_again(world, receiver, endpoint):
    await queue(endpoint)
    first = await sync_to_async(webhooks._claim)(10)
    second = await sync_to_async(webhooks._claim)(10)
    assert len(first) == 1 and second == []
    assert first[0].attempts == 1


async def test_an_endpoint_that_is_no_longer_allowed_is_not_called(
    world, receiver, endpoint, settings
):
    settings.TOOL_HTTP_HOSTS = []  # loopback over plain http: refused
    row = await queue(endpoint)
    await webhooks.send_due()
    await row.arefresh_from_db()
    assert receiver.requests == []
    assert row.status == "pending" and "https" in row.last_error


async def test_an_endpoint_turned_off_gets_nothing(world, receiver, endpoint):
    row = await queue(endpoint)
    await WebhookEndpoint.objects.filter(pk=endpoint.pk).aupdate(active=False)
    await webhooks.send_due()
    await row.arefresh_from_db()
    assert receiver.requests == [] and row.status == "failed"
    # ...and new events are not queued for it.
    session = await create_session(world.alice_token)
    assert await deliveries(session_id_text=session["id"]) == []


async def test_only_the_events_an_endpoint_wants_are_queued(world, receiver, endpoint):
    await WebhookEndpoint.objects.filter(pk=endpoint.pk).aupdate(events=["session.closed"])
    session = await create_session(world.alice_token)
    assert await deliveries() == []
    await close(world.alice_token, session["id"])
    assert [d.event for d in await deliveries()] == ["session.closed"]


async def test_a_queue_failure_never_fails_the_session(world, receiver, endpoint, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(webhooks, "_enqueue", broken)
    session = await create_session(world.alice_token)
    await close(world.alice_token, session["id"])
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.status == "closed"


async def test_the_timestamp_is_signed_with_the_body():
    signature = webhooks.sign("whsec_abc", "1767225600", b'{"a":1}')
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert signature != webhooks.sign("whsec_abc", "1767225601", b'{"a":1}')
    assert signature != webhooks.sign("whsec_abc", "1767225600", b'{"a":2}')


async def test_the_readme_s_check_verifies_a_delivery_and_refuses_an_old_one():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    code = next(block for block in blocks if '"v1="' in block)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own snippet
    verified = namespace["verified"]
    body, now = b'{"event": "session.closed"}', str(int(time.time()))
    headers = {
        "X-Avatarsite-Timestamp": now,
        "X-Avatarsite-Signature": webhooks.sign("whsec_k", now, body),
    }
    assert verified("whsec_k", headers, body)
    assert not verified("whsec_other", headers, body)
    old = str(int(time.time()) - 400)
    stale = {
        "X-Avatarsite-Timestamp": old,
        "X-Avatarsite-Signature": webhooks.sign("whsec_k", old, body),
    }
    assert not verified("whsec_k", stale, body)
