"""Staff manage webhooks in the admin: an endpoint's secret is shown once (when made and
when rotated) and nowhere after; deliveries are listed with their attempts and sent again
by hand; a URL the tools' rule refuses is a form error; every change is in the staff log."""

from __future__ import annotations

import html

import pytest
from asgiref.sync import async_to_sync

from sessions.models import StaffAction
from sessions.services import webhooks
from sessions.webhook_models import WebhookDelivery, WebhookEndpoint
from tests.staff.helpers import client_for, grant, messages_of

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = "/admin/avatar_sessions/webhookendpoint/"
DELIVERIES = "/admin/avatar_sessions/webhookdelivery/"


@pytest.fixture
def staff(world):
    grant(
        world.staff,
        "view_webhookendpoint",
        "add_webhookendpoint",
        "change_webhookendpoint",
        "view_webhookdelivery",
        "change_webhookdelivery",
    )
    return client_for(world.staff)


def add(staff, url: str, events=("session.closed",)):
    return staff.post(
        f"{ENDPOINTS}add/", {"name": "CRM", "url": url, "events": list(events), "active": "on"}
    )


def test_a_new_endpoint_shows_its_secret_once_and_never_again(staff, receiver):
    response = add(staff, receiver.url, ("session.started", "session.closed"))
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in response.text
    assert "no-store" in response["Cache-Control"]
    assert endpoint.events == ["session.started", "session.closed"]
    for page in (ENDPOINTS, f"{ENDPOINTS}{endpoint.pk}/change/"):
        shown = staff.get(page)
        assert shown.status_code == 200 and endpoint.secret not in shown.text
    action = StaffAction.objects.get(kind="webhook")
    assert action.data["action"] == "webhook_create" and endpoint.secret not in str(action.data)


def test_rotating_shows_the_new_secret_once_and_the_old_one_stops_signing(
    staff, receiver, endpoint
):
    old = endpoint.secret
    response = staff.post(
        ENDPOINTS, {"action": "rotate_secret", "_selected_action": [str(endpoint.pk)]}
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret in response.text
    WebhookDelivery.objects.create(endpoint=endpoint, event="session.closed", payload={})
    receiver.secret = old
    async_to_sync(webhooks.send_due)()
    assert receiver.requests[0]["verified"] is False
    assert StaffAction.objects.filter(data__action="webhook_rotate").count() == 1


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5/hooks", "https://127.0.0.1/hooks", "https://user:pw@example.com/", "ftp://x"],
)
def test_a_url_the_tools_rule_refuses_is_a_form_error(staff, world, settings, url):
    settings.TOOL_HTTP_HOSTS = []
    response = add(staff, url)
    assert response.status_code == 200
    assert 'class="errorlist' in response.text
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_needs_an_event(staff, receiver):
    response = add(staff, receiver.url, events=())
    assert 'class="errorlist' in response.text and not WebhookEndpoint.objects.exists()


def test_deliveries_are_listed_with_their_attempts_and_sent_again_by_hand(
    staff, receiver, endpoint
):
    receiver.answers = [404]
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event="session.closed", session_id_text="s-1", payload={"id": "s-1"}
    )
    async_to_sync(webhooks.send_due)()
    listing = staff.get(DELIVERIES)
    assert listing.status_code == 200
    row = html.unescape(listing.text)
    assert "HTTP 404" in row and "Failed" in row

    response = staff.post(
        DELIVERIES, {"action": "send_again", "_selected_action": [str(failed.pk)]}, follow=True
    )
    assert messages_of(response) == ["1 delivery will be sent again."]
    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.status, again.payload, again.attempts) == ("pending", {"id": "s-1"}, 0)
    async_to_sync(webhooks.send_due)()
    assert receiver.requests[-1]["delivery"] == str(again.pk)
    assert receiver.requests[-1]["verified"]
    action = StaffAction.objects.get(data__action="webhook_resend")
    assert action.session_id_text == "s-1" and action.data["new_delivery"] == str(again.pk)


def test_without_the_permissions_staff_see_nothing_and_cannot_re_send(world, receiver, endpoint):
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="session.closed")
    plain = client_for(world.staff)
    assert plain.get(ENDPOINTS).status_code == 403
    assert plain.get(DELIVERIES).status_code == 403
    viewer = client_for(grant(world.staff, "view_webhookdelivery"))
    response = viewer.post(
        DELIVERIES, {"action": "send_again", "_selected_action": [str(delivery.pk)]}
    )
    assert WebhookDelivery.objects.count() == 1
    assert response.status_code in (200, 302, 403)
