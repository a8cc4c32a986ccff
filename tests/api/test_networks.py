"""The network a session streams on, through the API against a fake AKool on loopback:
the `stream_type` sent (the preset's network, else AKOOL_STREAM_TYPE), each network's
`rtc` as the owner gets it, `network` and `fallback_networks` in the session's JSON, and an
answer that cannot be joined (the upstream session closed, a clear 502, the slot freed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.test import Client

from sessions.models import AvatarSession
from tests.conftest import Api, assert_error
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings) -> Iterator[FakeAkool]:
    # One slot: a slot a failure leaked shows up as a refused next create.
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


def create(api: Api) -> dict:
    response = api.post("/sessions", {"preset": "ada"})
    assert response.status_code == 201, response.content
    return response.json()


def sent_stream_type(fake: FakeAkool) -> str:
    return fake.requests_to("create")[-1].json["stream_type"]


def test_the_operators_default_network_is_agora(alice_api, fake):
    session = create(alice_api)

    assert sent_stream_type(fake) == "agora"
    assert session["network"] == "agora" and session["rtc"]["provider"] == "agora"
    assert AvatarSession.objects.get().network == "agora"


def test_a_preset_without_a_network_streams_on_the_operators_default(alice_api, fake, settings):
    settings.AKOOL_STREAM_TYPE = "trtc"

    session = create(alice_api)

    assert sent_stream_type(fake) == "trtc"
    assert session["network"] == "trtc"
    assert set(session["rtc"]) == {"provider", "app_id", "room", "user_id", "user_sig"}
    assert session["rtc"]["provider"] == "trtc"


def test_a_presets_network_wins_over_the_operators_default(alice_api, fake, settings, world):
    settings.AKOOL_STREAM_TYPE = "trtc"
    world.preset.network = "livekit"
    world.preset.save()

    session = create(alice_api)

    upstream = next(iter(fake.sessions.values()))["credentials"]
    assert sent_stream_type(fake) == "livekit"
    assert session["network"] == "livekit"
    assert session["rtc"] == {
        "provider": "livekit",
        "url": upstream["livekit_url"],
        "token": upstream["livekit_token"],
        "room": upstream["livekit_room_name"],
        "identity": upstream["livekit_client_identity"],
        "avatar_identity": upstream["livekit_server_identity"],
    }


def test_fallback_networks_are_the_other_networks_in_order(alice_api, fake, settings):
    settings.AKOOL_STREAM_TYPE = "livekit"
    settings.AKOOL_NETWORKS = ["trtc", "livekit", "agora"]

    session = create(alice_api)

    assert session["fallback_networks"] == ["trtc", "agora"]
    assert alice_api.get(f"/sessions/{session['id']}").json()["fallback_networks"] == [
        "trtc",
        "agora",
    ]


@pytest.mark.parametrize(
    ("networks", "fallback"), [(["agora"], "offer"), (["agora", "trtc"], "off")]
)
def test_no_fallback_networks_when_there_is_none_or_fallback_is_off(
    alice_api, fake, settings, networks, fallback
):
    settings.AKOOL_NETWORKS, settings.AKOOL_FALLBACK = networks, fallback

    assert create(alice_api)["fallback_networks"] == []


def test_a_closed_session_has_no_fallback_networks(alice_api, fake, settings):
    settings.AKOOL_NETWORKS = ["agora", "trtc"]
    session = create(alice_api)

    closed = alice_api.post(f"/sessions/{session['id']}/close").json()

    assert closed["fallback_networks"] == [] and closed["network"] == "agora"


def test_an_answer_on_an_unknown_network_fails_the_session_clearly(alice_api, fake):
    fake.answer_stream_type = "webrtc"

    error = assert_error(
        alice_api.post("/sessions", {"preset": "ada"}), 502, "upstream_bad_response"
    )

    assert error["message"] == "AKool created the session on a network we do not know ('webrtc')."
    assert fake.live_ids() == set()  # the session it made was closed at once
    row = AvatarSession.objects.get()
    assert (row.status, row.close_reason) == ("failed", "error")
    fake.answer_stream_type = None
    create(alice_api)  # the slot came free


def test_credentials_that_do_not_fit_fail_the_session_clearly(alice_api, fake, world):
    world.preset.network = "trtc"
    world.preset.save()
    fake.omit_credentials = ("trtc_sdk_user_sig",)

    error = assert_error(
        alice_api.post("/sessions", {"preset": "ada"}), 502, "upstream_bad_response"
    )

    assert "no usable TRTC credentials" in error["message"]
    assert fake.live_ids() == set()


def test_the_sandbox_plays_the_presets_network(alice_api, world):
    world.preset.network = "livekit"
    world.preset.save()

    session = create(alice_api)

    assert session["network"] == "livekit"
    assert session["rtc"]["provider"] == "sandbox"
    assert session["rtc"]["network"] == "livekit"


@pytest.mark.parametrize("fallback", ["offer", "auto", "off"])
def test_the_page_is_told_what_to_do_when_a_join_fails(world, settings, fallback):
    settings.AKOOL_FALLBACK = fallback
    client = Client()
    client.force_login(world.alice)

    html = client.get("/").content.decode()

    found = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html)
    assert found and json.loads(found.group(1))["fallback"] == fallback
