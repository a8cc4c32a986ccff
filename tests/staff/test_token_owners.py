"""Issue 15, item 2: who may mint an API token for whom in the admin. A token acts as its
owner, so staff with only the token permissions mint tokens for themselves; minting for
others needs `auth.change_user`; a superuser's token needs a superuser; once created, a
token's owner and revocation stay as they are."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from sessions.models import ApiToken
from tests.staff.helpers import client_for, grant

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = "/admin/avatar_sessions/apitoken/"
NOT_A_CHOICE = "Select a valid choice. That choice is not one of the available choices."


@pytest.fixture
def minter(world):
    """world.staff with only the token permissions (add, change, view)."""
    grant(world.staff, "add_apitoken", "change_apitoken", "view_apitoken")
    return client_for(world.staff)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-pw-123")


def may_change_users(user):
    user.user_permissions.add(Permission.objects.get(codename="change_user"))
    return user


def add(client, owner, name: str):
    return client.post(f"{TOKENS}add/", {"owner": owner.pk, "name": name})


def refused(response, name: str) -> None:
    assert response.status_code == 200  # the form again, with its error
    assert NOT_A_CHOICE in response.context["adminform"].form.errors["owner"]
    assert not ApiToken.objects.filter(name=name).exists()
    assert "new-token" not in response.text


def test_staff_with_only_token_permissions_cannot_mint_for_another_user(minter, world):
    refused(add(minter, world.bob, "as bob"), "as bob")


def test_staff_with_only_token_permissions_cannot_mint_for_a_superuser(minter, root):
    refused(add(minter, root, "as root"), "as root")


def test_staff_mint_tokens_for_themselves_and_the_form_offers_only_them(minter, world):
    form = minter.get(f"{TOKENS}add/")
    assert list(form.context["adminform"].form.fields["owner"].queryset) == [world.staff]

    response = add(minter, world.staff, "my own")

    assert response.status_code == 200 and 'id="new-token"' in response.text
    assert ApiToken.objects.get(name="my own").owner == world.staff


def test_staff_who_may_change_users_mint_for_others_but_never_for_a_superuser(minter, world, root):
    may_change_users(world.staff)

    assert add(minter, world.bob, "bob's CRM").status_code == 200
    assert ApiToken.objects.get(name="bob's CRM").owner == world.bob
    refused(add(minter, root, "as root"), "as root")


def test_a_superuser_may_mint_for_a_superuser(world, root):
    other = type(root).objects.create_superuser("root2", password="root2-pw-123")
    response = add(client_for(root), other, "for root2")
    assert response.status_code == 200
    assert ApiToken.objects.get(name="for root2").owner == other


def test_the_change_form_neither_moves_a_token_nor_clears_its_revocation(minter, world):
    mine, _ = ApiToken.issue(world.staff, "mine")
    revoked_at = timezone.now()
    ApiToken.objects.filter(pk=mine.pk).update(revoked_at=revoked_at)

    response = minter.post(
        f"{TOKENS}{mine.pk}/change/",
        {"owner": world.alice.pk, "name": "renamed", "revoked_at_0": "", "revoked_at_1": ""},
    )

    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.name == "renamed"  # the name is still the staff's to change
    assert mine.owner == world.staff and mine.revoked_at == revoked_at


def test_revoking_stays_possible_but_nothing_un_revokes(minter, world):
    token = world.alice_token_obj
    minter.post(TOKENS, {"action": "revoke", "_selected_action": [str(token.pk)]})
    token.refresh_from_db()
    assert token.revoked_at is not None

    page = minter.get(f"{TOKENS}{token.pk}/change/")
    assert set(page.context["adminform"].form.fields) == {"name"}
