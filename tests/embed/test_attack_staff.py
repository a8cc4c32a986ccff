"""Issue 20 attacked by a curious staff member: the staff log says which website a key was
opened to and which figures changed (before and after), not only that a field changed,
so letting one's own site in for an hour and taking it out again leaves its name behind;
and staff without the embed key permissions reach no key page."""

from __future__ import annotations

import pytest

from sessions.models import EmbedKey, StaffAction
from tests.staff.helpers import client_for, grant
from tests.staff.test_embed_admin import KEYS, SHOP, form_data

pytestmark = pytest.mark.django_db

EVIL = "https://mine.test"


@pytest.fixture
def keeper(world):
    return grant(world.staff, "view_embedkey", "add_embedkey", "change_embedkey")


@pytest.fixture
def embed_key(world):
    key = EmbedKey.objects.create(name="Shop", allowed_origins=SHOP)
    key.presets.add(world.preset)
    return key


def test_the_log_names_the_websites_let_in_and_taken_out(world, keeper, embed_key):
    client = client_for(keeper)
    url = f"{KEYS}{embed_key.pk}/change/"
    opened = client.post(
        url, form_data(allowed_origins=f"{SHOP}\n{EVIL}", presets=[world.preset.pk])
    )
    assert opened.status_code == 302
    closed = client.post(url, form_data(allowed_origins=SHOP, presets=[world.preset.pk]))
    assert closed.status_code == 302
    first, second = StaffAction.objects.order_by("pk")
    assert first.data["changes"] == {"allowed_origins": [SHOP, f"{SHOP}\n{EVIL}"]}
    assert second.data["changes"] == {"allowed_origins": [f"{SHOP}\n{EVIL}", SHOP]}


def test_the_log_says_what_a_cap_and_the_presets_were_and_became(world, keeper, embed_key):
    response = client_for(keeper).post(
        f"{KEYS}{embed_key.pk}/change/",
        form_data(key_minutes_per_day=6000, host_may_say="on", presets=[world.retell.pk]),
    )
    assert response.status_code == 302
    changes = StaffAction.objects.get().data["changes"]
    assert changes["key_minutes_per_day"] == [600, 6000]
    assert changes["host_may_say"] == [False, True]
    assert changes["presets"] == [[world.preset.slug], [world.retell.slug]]


def test_a_new_key_is_logged_with_its_websites(world, keeper):
    response = client_for(keeper).post(
        f"{KEYS}add/", form_data(allowed_origins=f"{SHOP}\n{EVIL}", presets=[world.preset.pk])
    )
    assert response.status_code == 302
    assert StaffAction.objects.get().data["origins"] == [SHOP, EVIL]


def test_staff_without_the_embed_permissions_reach_no_key(world, embed_key):
    client = client_for(grant(world.staff, "view_avatarsession", "change_avatarsession"))
    for path in (KEYS, f"{KEYS}add/", f"{KEYS}{embed_key.pk}/change/"):
        assert client.get(path).status_code == 403, path
    turned = client.post(
        KEYS, {"action": "turn_off_keys", "_selected_action": [embed_key.pk], "post": "yes"}
    )
    assert turned.status_code == 403
    embed_key.refresh_from_db()
    assert embed_key.active


def test_the_form_says_what_0_means_beside_each_cap(keeper):
    page = client_for(keeper).get(f"{KEYS}add/").content.decode()
    assert page.count("0: no daily cap") == 2
    assert page.count("0: no session starts.") == 4
