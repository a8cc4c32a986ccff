"""A user's own data (issue 16): History's JSON export and transcript deletion (their
own, never another's), deleting an account (usage rows kept, named by nobody), and the
password change and reset pages (a change through the page ends the other sign-ins'
sockets)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import mail
from django.test import Client
from django.utils import timezone

from avatarsite.asgi import application
from sessions.models import ApiToken, AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import revocation
from tests.support.wsutil import ORIGIN


def make_session(world, user, *, status: str = "closed", principal: str = "") -> AvatarSession:
    start = timezone.now() - timedelta(hours=1)
    session = AvatarSession.objects.create(
        owner=user,
        principal=principal or f"user:{user.pk}",
        preset=world.preset,
        preset_slug="ada",
        provider="sandbox",
        avatar_id="sandbox_ada",
        duration=600,
        status=status,
        created_at=start,
        started_at=start,
        closed_at=None if status in ("starting", "active") else start + timedelta(minutes=2),
        expires_at=start + timedelta(minutes=10),
        rtc={"token": "join-credential"} if status == "active" else {},
    )
    TranscriptEntry.objects.create(
        session=session, role="user", mid="u1", text=f"{user.username}'s words", final=True
    )
    return session


def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/history/")  # the page sets the csrftoken cookie
    return client


def csrf(client: Client) -> dict:
    return {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}


# --- export -------------------------------------------------------------------------------


def test_export_is_one_download_of_all_ones_own_sessions_and_nobody_elses(world):
    by_page = make_session(world, world.alice)
    by_token = make_session(world, world.alice, principal=f"token:{world.alice_token_obj.pk}")
    make_session(world, world.bob)

    response = browser(world.alice).get("/history/export/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    body = json.loads(response.content)
    assert body["user"] == "alice"
    assert {s["id"] for s in body["sessions"]} == {str(by_page.pk), str(by_token.pk)}
    for exported in body["sessions"]:
        assert [m["text"] for m in exported["transcript"]] == ["alice's words"]
        assert "rtc" not in exported
    assert b"bob" not in response.content


def test_export_needs_a_sign_in(world):
    response = Client().get("/history/export/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- deleting a transcript -------------------------------------------------------------------


def test_deleting_a_transcript_asks_first_then_deletes_it(world):
    session = make_session(world, world.alice)
    client = browser(world.alice)

    confirm = client.get(f"/history/{session.pk}/delete/")
    assert confirm.status_code == 200
    assert b"Yes, delete the transcript" in confirm.content
    assert TranscriptEntry.objects.filter(session=session).exists()  # a GET deletes nothing

    response = client.post(f"/history/{session.pk}/delete/", csrf(client))

    assert response.status_code == 302
    assert not TranscriptEntry.objects.filter(session=session).exists()
    session.refresh_from_db()
    assert session.transcript_deleted_at is not None
    assert SessionEvent.objects.filter(
        session=session, message="transcript deleted: by its owner"
    ).exists()
    entry = client.get(response["Location"])
    assert b"This transcript was deleted on" in entry.content
    assert b"Deleted on" in client.get("/history/").content


def test_deleting_needs_the_csrf_token(world):
    session = make_session(world, world.alice)
    response = browser(world.alice).post(f"/history/{session.pk}/delete/")
    assert response.status_code == 403
    assert TranscriptEntry.objects.filter(session=session).exists()


def test_another_users_session_is_not_found(world):
    theirs = make_session(world, world.bob)
    client = browser(world.alice)

    assert client.get(f"/history/{theirs.pk}/delete/").status_code == 404
    assert client.post(f"/history/{theirs.pk}/delete/", csrf(client)).status_code == 404
    assert TranscriptEntry.objects.filter(session=theirs).exists()


def test_a_live_sessions_transcript_cannot_be_deleted(world):
    live = make_session(world, world.alice, status="active")
    client = browser(world.alice)

    response = client.post(f"/history/{live.pk}/delete/", csrf(client))

    assert response.status_code == 409
    assert b"still going on" in response.content
    assert TranscriptEntry.objects.filter(session=live).exists()
    assert b"delete-transcript-link" not in client.get(f"/history/{live.pk}/").content


# --- deleting an account ---------------------------------------------------------------------


def test_a_wrong_password_deletes_nothing(world):
    client = browser(world.alice)
    response = client.post("/accounts/delete/", {"password": "nope", **csrf(client)})
    assert response.status_code == 400
    assert b"That is not your password" in response.content
    world.alice.refresh_from_db()
    assert world.alice.is_active


def test_deleting_an_account_keeps_anonymous_usage_rows(world):
    closed = make_session(world, world.alice)
    by_token = make_session(world, world.alice, principal=f"token:{world.alice_token_obj.pk}")
    live = make_session(world, world.alice, status="active")
    bobs = make_session(world, world.bob)
    client = browser(world.alice)

    response = client.post("/accounts/delete/", {"password": "alice-pw-123", **csrf(client)})

    assert response.status_code == 200
    assert b"Your account was deleted" in response.content
    assert not type(world.alice).objects.filter(username="alice").exists()
    assert not ApiToken.objects.filter(pk=world.alice_token_obj.pk).exists()
    rows = AvatarSession.objects.filter(pk__in=[closed.pk, by_token.pk, live.pk])
    assert rows.count() == 3  # the usage figures keep them
    principals = {row.principal for row in rows}
    assert len(principals) == 1  # one account, one count
    (marker,) = principals
    assert re.fullmatch(r"deleted:[0-9a-f]{16}", marker)
    for row in rows:
        assert row.owner_id is None and row.transcript_deleted_at is not None
        assert row.status == "closed" and row.rtc == {}
    assert not TranscriptEntry.objects.filter(session__in=rows).exists()
    # Signed out: History asks for a sign-in again.
    assert client.get("/history/").status_code == 302
    # Nobody else's data goes.
    assert TranscriptEntry.objects.filter(session=bobs).exists()


# --- passwords -------------------------------------------------------------------------------


def test_the_sign_in_page_offers_a_reset_and_the_mail_link_works(world):
    world.alice.email = "alice@example.com"
    world.alice.save()
    login = Client().get("/accounts/login/")
    assert b"Forgot your password?" in login.content

    client = Client()
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert b"Check your email" in client.get(response["Location"]).content
    assert len(mail.outbox) == 1
    (link,) = re.findall(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body)

    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    new = "A-fresh-Password-4471"
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert b"Your new password is set" in done.content
    world.alice.refresh_from_db()
    assert world.alice.check_password(new)
    # The link works once.
    assert b"This link no longer works" in Client().get(link, follow=True).content


def test_a_reset_for_an_unknown_address_says_the_same_and_sends_nothing(world):
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_reset_mails_are_throttled_per_address(world, settings):
    settings.PASSWORD_RESETS_PER_HOUR = 2
    world.alice.email = "alice@example.com"
    world.alice.save()
    for _ in range(2):
        ok = Client().post("/accounts/password/reset/", {"email": "alice@example.com"})
        assert ok.status_code == 302

    refused = Client().post("/accounts/password/reset/", {"email": "ALICE@example.com "})

    assert refused.status_code == 429
    assert b"Too many password reset requests. Please try again in" in refused.content
    assert len(mail.outbox) == 2


@pytest.mark.first_pass  # fresh interpreters with clean environments (tests/test_settings.py)
def test_mail_goes_to_the_console_only_in_development():
    from tests.test_settings import PRODUCTION, started

    console = "django.core.mail.backends.console.EmailBackend"
    assert started({}, "EMAIL_BACKEND")["EMAIL_BACKEND"] == console
    production = started(PRODUCTION, "EMAIL_BACKEND", "TRANSCRIPT_RETENTION_DAYS")
    assert production == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "TRANSCRIPT_RETENTION_DAYS": 90,
    }


def test_the_password_change_page_asks_for_the_old_password(world):
    client = browser(world.alice)
    assert b"Change your password" in client.get("/accounts/password/change/").content
    new = "A-fresh-Password-4471"
    response = client.post(
        "/accounts/password/change/",
        {"old_password": "wrong", "new_password1": new, "new_password2": new, **csrf(client)},
    )
    assert response.status_code == 200
    assert b"old password was entered incorrectly" in response.content


class SignIn:
    """A browser signed in with alice's password."""

    def __init__(self) -> None:
        self.client = Client()

    async def sign_in(self) -> SignIn:
        response = await sync_to_async(self.client.post)(
            "/accounts/login/", {"username": "alice", "password": "alice-pw-123"}
        )
        assert response.status_code == 302, response.content
        return self

    async def socket(self, session_id: str) -> WebsocketCommunicator:
        cookie = f"sessionid={self.client.cookies['sessionid'].value}"
        socket = WebsocketCommunicator(
            application,
            f"/ws/sessions/{session_id}/",
            headers=[ORIGIN, (b"cookie", cookie.encode())],
        )
        assert (await socket.connect())[0]
        assert json.loads(await socket.receive_from())["type"] == "session"
        return socket


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_password_change_through_the_page_ends_the_other_sign_ins_socket(
    world, monkeypatch
):
    monkeypatch.setattr(revocation, "SIGNIN_RECHECK", 0.1)
    changer, other = await SignIn().sign_in(), await SignIn().sign_in()
    response = await sync_to_async(changer.client.post)(
        "/api/v1/sessions", json.dumps({"preset": "ada"}), content_type="application/json"
    )
    session_id = response.json()["id"]
    mine, theirs = await changer.socket(session_id), await other.socket(session_id)

    new = "A-fresh-Password-4471"
    form = {"old_password": "alice-pw-123", "new_password1": new, "new_password2": new}
    changed = await sync_to_async(changer.client.post)("/accounts/password/change/", form)
    assert changed.status_code == 302
    assert changed["Location"] == "/accounts/password/change/done/"

    while (output := await theirs.receive_output(timeout=5))["type"] != "websocket.close":
        last = json.loads(output["text"])
    assert output["code"] == 4401
    assert last["code"] == "access_revoked"
    assert await mine.receive_nothing(timeout=0.5)  # the changer's sign-in goes on
    await mine.disconnect()
