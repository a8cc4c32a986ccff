"""What the webhook tests share: a receiver on loopback (allowed by TOOL_HTTP_HOSTS, the
rule webhooks share with tools) and an endpoint pointing at it."""

from __future__ import annotations

import pytest

from sessions.webhook_models import WebhookEndpoint, WebhookEvent
from tests.support.fakes.webhook_receiver import WebhookReceiver

ALL_EVENTS = [event.value for event in WebhookEvent]


@pytest.fixture
def receiver(settings):
    settings.TOOL_HTTP_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_RETRY_SECONDS = 0.0  # retries are due at once: the tests send passes
    with WebhookReceiver() as fake:
        yield fake


@pytest.fixture
def endpoint(receiver, transactional_db):
    made = WebhookEndpoint.objects.create(name="CRM", url=receiver.url, events=ALL_EVENTS)
    receiver.secret = made.secret
    return made
