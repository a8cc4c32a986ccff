"""A session as the admin names it (issue 17): its preset's name, its status in words and
when it started, never its slug, a protocol status and a uuid."""

from __future__ import annotations

import html
import re

import pytest
from django.test import override_settings

from sessions.models import AvatarSession
from tests.staff.helpers import SESSIONS, recorded_session, superuser_client

pytestmark = pytest.mark.django_db


def breadcrumbs(page: str) -> str:
    crumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', page, re.S).group(1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", crumbs)).split())


@override_settings(TIME_ZONE="UTC")
def test_the_session_page_names_it_in_words(world):
    world.preset.name = "Ada Lovelace"
    world.preset.save()
    session = recorded_session(world)  # started 2026-01-05 10:00:01.5 UTC
    page = superuser_client(world).get(f"{SESSIONS}{session.pk}/change/").text
    assert breadcrumbs(page).endswith("Ada Lovelace: ended, started " + session_time(session))
    assert str(session.pk) not in breadcrumbs(page)


@override_settings(TIME_ZONE="UTC")
def test_the_words_for_each_status_and_a_session_without_a_preset(world):
    session = recorded_session(world, status="active")
    assert str(session) == f"{world.preset.name}: live, started {session_time(session)}"
    session.preset, session.preset_slug = None, ""
    session.status, session.started_at = "failed", None
    assert str(session) == f"Avatar {session.avatar_id}: failed, created {session_time(session)}"


def session_time(session: AvatarSession) -> str:
    return (session.started_at or session.created_at).strftime("%Y-%m-%d %H:%M")
