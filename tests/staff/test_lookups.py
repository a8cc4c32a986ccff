"""Issue 15, item 1: staff with only the view permission recovered a live session's join
token by bisection (`?rtc__token__regex=^<prefix>[A-M]` answered a count of 1 or 0 on
the audit list and its exports; `__contains` was a 500 on SQLite). Only the declared
filters may come from the query string; the credentials are emptied once a session
ends, and staff never see them."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync

from sessions.models import AvatarSession, CloseReason
from sessions.services import lifecycle
from sessions.staff.lookups import REFUSED
from tests.staff.helpers import SESSIONS, client_for, grant, open_session

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]

TOKENS = "/admin/avatar_sessions/apitoken/"
PLACES = {
    "list": SESSIONS,
    "json": f"{SESSIONS}export.json",
    "csv": f"{SESSIONS}export.csv",
}


@pytest.fixture
def viewer(world):
    """world.staff with only the view permission on sessions (and on tokens)."""
    grant(world.staff, "view_avatarsession", "view_apitoken")
    return client_for(world.staff)


def probes(secret: str) -> dict[str, tuple[str, str]]:
    """Each attack as (a query the secret matches, one it does not)."""
    first, wrong = secret[0], "!" if secret[0] != "!" else "#"
    return {
        "regex": (f"rtc__token__regex=^{first}", f"rtc__token__regex=^{wrong}"),
        "iregex": (f"rtc__token__iregex=^{first}", f"rtc__token__iregex=^{wrong}"),
        "contains": (f"rtc__token__contains={secret[:4]}", "rtc__token__contains=!!!"),
        "startswith": (f"rtc__token__startswith={first}", f"rtc__token__startswith={wrong}"),
        "whole rtc": (f"rtc__icontains={secret[:4]}", "rtc__icontains=!!!"),
        "exact": (f"rtc__token={secret}", "rtc__token=nope"),
    }


def answer(client, url: str) -> tuple[int, bytes]:
    response = client.get(url)
    return response.status_code, b"".join(response) if response.streaming else response.content


def test_bisecting_the_join_token_is_refused_on_the_list_and_both_exports(viewer, world):
    session = open_session(world)
    secret = session.rtc["token"]
    assert secret
    for attack, (hit, miss) in probes(secret).items():
        for place, url in PLACES.items():
            hit_answer = answer(viewer, f"{url}?{hit}")
            miss_answer = answer(viewer, f"{url}?{miss}")
            # Refused alike whether it matched or not: nothing to tell them apart, no 500.
            assert hit_answer == miss_answer == (400, REFUSED.encode()), (attack, place)


def test_an_export_action_posted_with_a_forbidden_filter_is_refused(viewer, world):
    session = open_session(world)
    grant(world.staff, "change_avatarsession")
    response = viewer.post(
        f"{SESSIONS}?rtc__token__regex=^{session.rtc['token'][0]}",
        {"action": "export_json", "_selected_action": [str(session.pk)]},
    )
    assert (response.status_code, response.content) == (400, REFUSED.encode())


def test_undeclared_lookups_on_visible_fields_are_refused_too(viewer, world):
    open_session(world)
    for query in (
        "visitor_key__startswith=a",
        "upstream_id__regex=.",
        "owner__password__regex=.",
        "owner__username__gte=a",
        "provider__lt=m",  # a range bisects a string as well as a pattern does
        "status__year=2026",
    ):
        assert answer(viewer, f"{SESSIONS}?{query}")[0] == 400, query
    # The same rule on every list of the staff tools.
    grant(world.staff, "view_avatarpreset")
    presets = "/admin/avatar_sessions/avatarpreset/"
    assert answer(viewer, f"{presets}?avatar_id__regex=.")[0] == 400
    assert viewer.get(f"{presets}?active__exact=1").status_code == 200


def test_the_declared_filters_search_and_links_still_work(viewer, world):
    live = open_session(world)
    day = live.created_at
    for query in (
        "status__exact=active",
        f"owner__id__exact={world.alice.pk}",
        "owner__isnull=True",
        "close_reason__exact=user",
        "provider__exact=sandbox",
        f"preset__id__exact={world.preset.pk}",
        urlencode({"created_at__gte": str(day), "created_at__lt": str(day + timedelta(1))}),
        f"created_at__year={day.year}&created_at__month={day.month}",
        f"id__exact={live.pk}",
        "preset_slug__exact=ada",
        "q=alice",
    ):
        response = viewer.get(f"{SESSIONS}?{query}")
        assert response.status_code == 200, query
    shown = viewer.get(f"{SESSIONS}?status__exact=active").context["cl"].result_list
    assert list(shown) == [live]
    exported = json.loads(answer(viewer, f"{PLACES['json']}?id__exact={live.pk}")[1])
    assert [s["id"] for s in exported["sessions"]] == [str(live.pk)]


def test_a_token_s_hash_cannot_be_bisected_from_the_token_list(viewer, world):
    digest = world.alice_token_obj.digest
    for query in (f"digest__startswith={digest[:2]}", "digest__regex=^0"):
        assert answer(viewer, f"{TOKENS}?{query}") == (400, REFUSED.encode()), query
    assert viewer.get(f"{TOKENS}?state=active").status_code == 200
    assert viewer.get(f"{TOKENS}?owner__id__exact={world.alice.pk}").status_code == 200


def test_staff_never_see_a_live_session_s_join_credentials(viewer, world):
    session = open_session(world)
    secret = session.rtc["token"]
    pages = [
        f"{SESSIONS}",
        f"{SESSIONS}{session.pk}/change/",
        f"{SESSIONS}{session.pk}/live/",
        PLACES["json"],
        PLACES["csv"],
    ]
    for url in pages:
        status, body = answer(viewer, url)
        assert status == 200, url
        assert secret.encode() not in body, url
        assert b'"rtc"' not in body, url


@pytest.mark.parametrize("how", ["close", "fail"])
def test_the_join_credentials_are_emptied_when_a_session_ends(world, how):
    session = open_session(world)
    assert session.rtc
    if how == "close":
        async_to_sync(lifecycle.close_session)(session.pk, CloseReason.USER)
    else:
        async_to_sync(lifecycle.fail)(session, "the upstream went away")
    ended = AvatarSession.objects.get(pk=session.pk)
    assert ended.status == ("closed" if how == "close" else "failed")
    assert ended.rtc == {}
