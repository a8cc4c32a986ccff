"""Staff accountability: each staff watch of a live session (the live page and the
observer socket), read of a record, export, close (one, or the bulk action), token mint
and revoke, and catalog import is on the record (who, what, which session); the log is
for superusers' eyes only and nobody can change it. The spend alerts likewise stay as
raised."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from avatarsite.asgi import application
from sessions.models import ApiToken, SpendAlert, StaffAction
from tests.staff.helpers import SESSIONS, client_for, grant, open_session, superuser_client
from tests.support.wsutil import ORIGIN, bearer, create_session, open_page

pytestmark = pytest.mark.django_db(transaction=True)

LOG = "/admin/avatar_sessions/staffaction/"
ALERTS = "/admin/avatar_sessions/spendalert/"
TOKENS = "/admin/avatar_sessions/apitoken/"


def recorded() -> list[tuple[str, str, str, str]]:
    """(who, kind, what, session) of every staff action, oldest first."""
    rows = StaffAction.objects.order_by("at", "id")
    return [(a.actor_name, a.kind, a.what, a.session_id_text) for a in rows]


def test_opening_the_live_view_is_recorded(world, auditor):
    session = open_session(world)

    assert client_for(auditor).get(f"{SESSIONS}{session.pk}/live/").status_code == 200

    assert recorded() == [
        (
            "staff",
            "watch",
            f"Opened the live view of session {session.pk}.",
            str(session.pk),
        )
    ]
    assert StaffAction.objects.get().actor == auditor


def test_a_refused_live_view_records_nothing(world):
    session = open_session(world)
    assert client_for(world.staff).get(f"{SESSIONS}{session.pk}/live/").status_code == 403
    assert recorded() == []


@pytest.mark.asyncio
async def test_watching_through_the_observer_socket_is_recorded(world, auditor):
    staff_token = (await database_sync_to_async(ApiToken.issue)(auditor, "staff"))[1]
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)  # the owner's own: not recorded
    observer = WebsocketCommunicator(
        application, session["ws_path"], headers=[ORIGIN, bearer(staff_token)]
    )
    connected, _ = await observer.connect()
    assert connected
    assert (await observer.receive_json_from(timeout=5))["type"] == "session"

    rows = await database_sync_to_async(recorded)()

    assert rows == [
        (
            "staff",
            "watch",
            f"Watched session {session['id']} live (its transcript as it is said).",
            session["id"],
        )
    ]
    await observer.disconnect()
    await page.disconnect()


def test_reading_a_session_record_is_recorded(world, auditor):
    session = open_session(world)

    assert client_for(auditor).get(f"{SESSIONS}{session.pk}/change/").status_code == 200

    assert recorded() == [
        ("staff", "view", f"Read the record of session {session.pk}.", str(session.pk))
    ]


def test_an_export_is_recorded_with_what_it_covered(world, auditor):
    one = open_session(world)
    open_session(world, world.bob)
    staff = client_for(auditor)

    everything = staff.get(f"{SESSIONS}export.csv")
    single = staff.get(f"{SESSIONS}export.json?id__exact={one.pk}")

    assert everything.status_code == single.status_code == 200
    assert recorded() == [
        ("staff", "export", "Exported 2 sessions with transcripts as CSV.", ""),
        ("staff", "export", "Exported 1 session with transcripts as JSON.", str(one.pk)),
    ]
    assert StaffAction.objects.order_by("at", "id").last().data == {
        "format": "json",
        "filters": f"id__exact={one.pk}",
    }


def test_the_export_action_is_recorded(world, auditor):
    sessions = [open_session(world), open_session(world, world.bob)]
    response = client_for(auditor).post(
        SESSIONS, {"action": "export_json", "_selected_action": [str(s.pk) for s in sessions]}
    )
    assert response.status_code == 200
    assert recorded() == [("staff", "export", "Exported 2 sessions with transcripts as JSON.", "")]


def test_ending_one_session_is_recorded(world, auditor):
    session = open_session(world)

    response = client_for(auditor).post(f"{SESSIONS}{session.pk}/close/")

    assert response.status_code == 302
    assert recorded() == [
        ("staff", "close", f"Ended session {session.pk} (ended).", str(session.pk))
    ]
    assert StaffAction.objects.get().data == {"via": "page", "outcome": "ended"}


def test_the_bulk_end_action_records_each_session(world, auditor):
    sessions = [open_session(world), open_session(world, world.bob)]
    response = client_for(auditor).post(
        SESSIONS, {"action": "close_live", "_selected_action": [str(s.pk) for s in sessions]}
    )
    assert response.status_code == 302
    rows = StaffAction.objects.filter(kind="close")
    assert sorted(a.session_id_text for a in rows) == sorted(str(s.pk) for s in sessions)
    assert {a.data["via"] for a in rows} == {"action"}


def test_minting_a_token_is_recorded(world):
    staff = superuser_client(world)

    assert staff.post(f"{TOKENS}add/", {"owner": world.bob.pk, "name": "CRM"}).status_code == 200

    token = ApiToken.objects.get(name="CRM")
    assert recorded() == [("staff", "token", f"Minted API token {token.prefix} for a user.", "")]
    assert StaffAction.objects.get().data == {
        "token": token.pk,
        "action": "mint",
        "owner": world.bob.pk,
        "name": "CRM",
    }


def test_revoking_tokens_is_recorded(world):
    staff = superuser_client(world)
    tokens = [world.alice_token_obj, world.bob_token_obj]

    response = staff.post(
        TOKENS, {"action": "revoke", "_selected_action": [str(t.pk) for t in tokens]}
    )

    assert response.status_code == 302
    assert sorted(what for _, kind, what, _ in recorded() if kind == "token") == sorted(
        [
            f"Revoked API token {world.alice_token_obj.prefix} of a user.",
            f"Revoked API token {world.bob_token_obj.prefix} of a user.",
        ]
    )


def test_a_catalog_import_is_recorded(world):
    staff = superuser_client(world)

    response = staff.post("/admin/avatar_sessions/avatarpreset/import/")

    assert response.status_code == 302
    [(who, kind, what, session)] = recorded()
    assert (who, kind, session) == ("staff", "import", "")
    assert what.startswith("Imported the sandbox catalog: ")


# --- who reads the log, and that nobody changes it -------------------------------------


def test_only_superusers_see_the_log(world, auditor):
    open_session(world)
    client_for(auditor).get(f"{SESSIONS}")  # nothing recorded for a list
    grant(auditor, "view_staffaction", "view_usage")
    staff = client_for(auditor)
    staff.get(f"{SESSIONS}{open_session(world).pk}/live/")
    row = StaffAction.objects.get()

    assert staff.get(LOG).status_code == 403
    assert staff.get(f"{LOG}{row.pk}/change/").status_code == 403
    assert "Staff actions" not in staff.get("/admin/").text

    boss = superuser_client(world)
    listing = boss.get(LOG)
    assert listing.status_code == 200
    assert "Opened the live view of session" in listing.text
    assert "Staff actions" in boss.get("/admin/").text
    assert "Opened the live view" in boss.get(f"{LOG}?actor=staff&kind__exact=watch").text
    assert "Opened the live view" not in boss.get(f"{LOG}?kind__exact=export").text
    assert boss.get(f"{LOG}?actor=nobody").text.count("Opened the live view") == 0
    # Only the list's own filters: no pattern over what was done.
    assert boss.get(f"{LOG}?what__startswith=Opened").status_code == 400


def test_nobody_can_add_change_or_delete_a_log_row(world, auditor):
    client_for(auditor).get(f"{SESSIONS}{open_session(world).pk}/live/")
    row = StaffAction.objects.get()
    boss = superuser_client(world)

    assert boss.get(f"{LOG}add/").status_code == 403
    assert boss.post(f"{LOG}{row.pk}/change/", {"what": "nothing"}).status_code == 403
    assert boss.post(f"{LOG}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    boss.post(LOG, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    page = boss.get(f"{LOG}{row.pk}/change/").text
    assert 'name="_save"' not in page and "deletelink" not in page
    assert 'name="action"' not in boss.get(LOG).text  # no actions at all
    row.refresh_from_db()
    assert row.what.startswith("Opened the live view")


def test_spend_alerts_are_shown_to_usage_viewers_and_edited_by_nobody(world):
    alert = SpendAlert.objects.create(
        period="day", period_start="2026-03-02", percent=80, minutes=480, cap=600
    )
    assert client_for(world.staff).get(ALERTS).status_code == 403
    viewer = client_for(grant(world.staff, "view_usage"))
    listing = viewer.get(ALERTS)
    assert listing.status_code == 200 and "480" in listing.text
    boss = superuser_client(world)
    assert boss.get(f"{ALERTS}add/").status_code == 403
    assert boss.post(f"{ALERTS}{alert.pk}/delete/", {"post": "yes"}).status_code == 403
    assert boss.post(f"{ALERTS}{alert.pk}/change/", {"cap": 1}).status_code == 403
    alert.refresh_from_db()
    assert alert.cap == 600
