"""A session of a website's embed key: `embed.session.closed` names the key and the host
page it was started on (kept when it became active); session.started says it came
through an embed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from sessions.embed_models import EmbedKey
from sessions.models import AvatarSession
from sessions.services import webhooks
from sessions.webhook_models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_embed_session_s_close_names_its_key_and_host_page(world, receiver, endpoint):
    key = EmbedKey.objects.create(name="Shop", allowed_origins="https://shop.example")
    now = timezone.now()
    session = AvatarSession.objects.create(
        principal="embed-visitor",
        preset=world.preset,
        preset_slug="ada",
        provider="sandbox",
        avatar_id="sandbox_ada",
        duration=300,
        status="active",
        started_at=now,
        embed_key=key,
    )
    visitor = SimpleNamespace(embed=SimpleNamespace(origin="https://shop.example"))
    async_to_sync(webhooks.session_started)(session, visitor)
    AvatarSession.objects.filter(pk=session.pk).update(
        status="closed", closed_at=now, close_reason="user"
    )
    session.refresh_from_db()
    async_to_sync(webhooks.session_closed)(session)

    rows = {d.event: d.payload for d in WebhookDelivery.objects.all()}
    assert set(rows) == {"session.started", "session.closed", "embed.session.closed"}
    assert rows["session.started"]["principal"] == "embed"
    assert rows["session.started"]["embed_key"] == key.public_key
    embed = rows["embed.session.closed"]
    assert (embed["embed_key"], embed["origin"], embed["reason"]) == (
        key.public_key,
        "https://shop.example",
        "user",
    )
    assert "embed_key" not in rows["session.closed"]

    async_to_sync(webhooks.send_due)()
    assert sorted(r["event"] for r in receiver.requests if r["verified"]) == [
        "embed.session.closed",
        "session.closed",
        "session.started",
    ]


def test_a_session_of_no_website_has_no_embed_event(world, receiver, endpoint):
    session = AvatarSession.objects.create(
        principal="ip:1.2.3.4", provider="sandbox", avatar_id="x", duration=60, status="closed"
    )
    async_to_sync(webhooks.session_closed)(session)
    assert [d.event for d in WebhookDelivery.objects.all()] == ["session.closed"]
    assert WebhookDelivery.objects.get().payload["minutes_used"] == 0
