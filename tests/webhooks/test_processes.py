"""Webhooks across real served processes: a delivery queued by a process that dies
before sending it is sent by the process started after it; two senders draining one
queue at once deliver each delivery once (the claim PostgreSQL makes with SKIP LOCKED;
SQLite's conditional update is tests/webhooks/test_delivery.py's). Second pass only: each
costs served processes, and the embedded setup's claim is tested in-process."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from tests.support.fakes.webhook_receiver import WebhookReceiver
from tests.support.live import LiveServer
from tools.serving import manage

SECRET = "whsec_process-test-DO-NOT-LEAK-51f0"  # noqa: S105 - a test's own


pytestmark = pytest.mark.second_pass


def add_endpoint(server: LiveServer, url: str, then: str = "") -> str:
    """The endpoint made in the process's database (before it starts: one manage.py
    less), and `then` run after it (its output returned)."""
    return server.manage(
        "shell",
        "-c",
        "from sessions.webhook_models import WebhookEndpoint as E; "
        f"e = E.objects.create(name='CRM', url='{url}', secret='{SECRET}', "
        "events=['session.started', 'session.closed']); " + then,
    )


def statuses(server: LiveServer) -> list[tuple[str, str]]:
    return sorted(server.query("SELECT event, status FROM avatar_sessions_webhookdelivery"))


@pytest.mark.asyncio
async def test_a_delivery_queued_before_a_crash_is_sent_by_the_restarted_process(tmp_path):
    with WebhookReceiver(SECRET) as receiver:
        # This process queues but never sends (its pass is off), then dies.
        server = LiveServer(tmp_path, TOOL_HTTP_HOSTS="127.0.0.1", WEBHOOK_POLL_SECONDS="0")
        token = add_endpoint(
            server,
            receiver.url,
            "from sessions.models import ApiToken; from django.contrib.auth.models import User; "
            "print(ApiToken.issue(User.objects.get(username='demo'), 'hooks')[1])",
        ).splitlines()[-1]  # after the shell's own banner
        server.start()
        try:
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
                created = await http.post("/api/v1/sessions", json={"preset": "ada"})
                assert created.status_code == 201, created.text
                closed = await http.post(f"/api/v1/sessions/{created.json()['id']}/close", json={})
                assert closed.status_code == 200, closed.text
            assert statuses(server) == [
                ("session.closed", "pending"),
                ("session.started", "pending"),
            ]
            server.kill()
            assert receiver.requests == []

            server.env["WEBHOOK_POLL_SECONDS"] = "0.2"
            server.start()
            deadline = time.monotonic() + 10
            while len(receiver.delivered()) < 2:
                assert time.monotonic() < deadline, receiver.requests
                await asyncio.sleep(0.05)
            assert sorted(r["event"] for r in receiver.requests) == [
                "session.closed",
                "session.started",
            ]
            assert all(r["verified"] for r in receiver.requests)
            while statuses(server) != [
                ("session.closed", "delivered"),
                ("session.started", "delivered"),
            ]:
                assert time.monotonic() < deadline + 5, statuses(server)
                await asyncio.sleep(0.05)
        finally:
            server.stop()


def test_two_senders_at_once_deliver_each_delivery_once(tmp_path):
    deliveries = 40
    with WebhookReceiver(SECRET, delay=0.01) as receiver:
        # Its database only: the senders are two `manage.py send_webhooks`.
        server = LiveServer(tmp_path, TOOL_HTTP_HOSTS="127.0.0.1", WEBHOOK_POLL_SECONDS="0")
        try:
            add_endpoint(
                server,
                receiver.url,
                "from sessions.webhook_models import WebhookDelivery as D; "
                "D.objects.bulk_create("
                f"[D(endpoint=e, event='session.closed') for _ in range({deliveries})])",
            )
            outputs: list[str] = []
            senders = [
                threading.Thread(target=lambda: outputs.append(manage(server.env, "send_webhooks")))
                for _ in range(2)
            ]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join(timeout=60)
            assert len(outputs) == 2, "a sender failed"
            sent = [int(out.split()[1].rstrip(",")) for out in outputs]  # "delivered N, ..."
            assert sum(sent) == deliveries, outputs
            ids = [r["delivery"] for r in receiver.requests]
            assert len(ids) == deliveries and len(set(ids)) == deliveries
            assert all(r["verified"] for r in receiver.requests)
            assert statuses(server) == [("session.closed", "delivered")] * deliveries
        finally:
            server.stop()
