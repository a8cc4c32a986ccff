"""Management commands: the demo seed, API tokens, the catalog import, and the reaper's
interval."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from sessions.models import ApiToken, AvatarPreset, VoicePreset, hash_token
from sessions.providers import reset_providers
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_demo_seed_can_run_twice_without_duplicating_or_overwriting():
    first = run("seed_demo")
    assert "demo/demo-password" in first
    ada = AvatarPreset.objects.get(slug="ada")
    ada.name = "Ada (edited by staff)"
    ada.save()
    run("seed_demo")
    assert AvatarPreset.objects.count() == 3
    assert VoicePreset.objects.count() == 4
    assert get_user_model().objects.filter(username="demo").count() == 1
    assert AvatarPreset.objects.get(slug="ada").name == "Ada (edited by staff)"
    assert get_user_model().objects.get(username="admin").is_staff


def test_the_demo_user_has_an_email_so_a_password_reset_can_be_tried():
    users = get_user_model().objects
    users.create_user("demo", "", "demo-password")  # seeded before it had one
    run("seed_demo")
    assert users.get(username="demo").email == "demo@example.com"
    users.filter(username="demo").update(email="me@example.org")  # a person's own
    run("seed_demo")
    assert users.get(username="demo").email == "me@example.org"


def test_create_api_token_prints_a_token_stored_only_as_a_hash(world):
    raw = run("create_api_token", "alice", "--name", "ci").strip()
    token = ApiToken.objects.get(name="ci")
    assert token.owner == world.alice
    assert token.digest == hash_token(raw)
    assert not ApiToken.objects.filter(digest=raw).exists()
    assert raw.startswith(token.prefix)


def test_create_api_token_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("create_api_token", "nobody")


def test_sync_catalog_imports_the_sandbox_catalog_and_is_idempotent(db):
    assert "avatars: 3 new" in run("sync_catalog")
    assert AvatarPreset.objects.filter(avatar_id="sandbox_ben").exists()
    assert "avatars: 0 new" in run("sync_catalog")
    assert AvatarPreset.objects.count() == 3


def test_sync_catalog_from_akool_paginates_and_keeps_staff_edits(db, settings):
    with FakeAkool(avatar_count=130) as fake:
        settings.AVATAR_PROVIDER = "akool"
        settings.AKOOL_BASE_URL = fake.base_url
        settings.AKOOL_API_KEY = fake.api_key
        reset_providers()
        run("sync_catalog")
        assert AvatarPreset.objects.count() == 130
        preset = AvatarPreset.objects.order_by("pk").first()
        preset.name = "Our star"
        preset.active = False
        preset.save()
        run("sync_catalog")
        preset.refresh_from_db()
        assert (preset.name, preset.active) == ("Our star", False)
        assert AvatarPreset.objects.count() == 130


def test_sync_catalog_reports_an_upstream_failure_clearly(db, settings):
    with FakeAkool() as fake:
        fake.fail("avatars", "code", code=1102, msg="authorization missing")
        settings.AVATAR_PROVIDER = "akool"
        settings.AKOOL_BASE_URL = fake.base_url
        settings.AKOOL_API_KEY = fake.api_key
        settings.AKOOL_RETRIES = 0
        reset_providers()
        with pytest.raises(CommandError, match="authorization missing"):
            run("sync_catalog")


@pytest.mark.parametrize("every", ["nan", "inf", "-inf", "0", "-1"])
def test_reap_sessions_every_refuses_what_is_not_a_finite_interval(settings, every):
    # A cache of this process's own would be refused too: the interval is checked first.
    settings.CACHES = {"default": {"BACKEND": "sessions.memory_cache.MemoryCache"}}
    with pytest.raises(CommandError, match="a finite number of seconds above 0"):
        call_command("reap_sessions", f"--every={every}")
