"""What the staff tests share: the audit's address, clients for staff, permissions to
grant, a live session and a finished one with a known history, and the admin's messages."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.test import Client

from sessions.access import user_principal
from sessions.models import AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import lifecycle

SESSIONS = "/admin/avatar_sessions/avatarsession/"


def grant(user, *codenames: str):
    """Give `user` these avatar_sessions permissions (e.g. "view_avatarsession")."""
    perms = Permission.objects.filter(
        content_type__app_label="avatar_sessions", codename__in=codenames
    )
    assert perms.count() == len(codenames), codenames
    user.user_permissions.add(*perms)
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def superuser_client(world) -> Client:
    world.staff.is_superuser = True
    world.staff.save()
    return client_for(world.staff)


def open_session(world, user=None, *, preset=None, duration: int = 600) -> AvatarSession:
    return async_to_sync(lifecycle.open_session)(
        user_principal(user or world.alice),
        preset=preset or world.preset,
        voice_id="sandbox_voice_warm",
        language="en",
        mode=2,
        duration=duration,
    )


def messages_of(response) -> list[str]:
    """The admin's message list of a page, as text."""
    found = re.findall(
        r'<li class="(?:success|info|warning|error)">(.*?)</li>', response.text, re.S
    )
    return [html.unescape(m).strip() for m in found]


T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt_timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def recorded_session(world, *, owner=None, preset=None, status="closed", reason="user", **kw):
    """A finished session with a known history: created at T0, active 1.5 s later,
    two exchanges, closed after 4 minutes."""
    preset = preset or world.preset
    session = AvatarSession.objects.create(
        owner=owner or world.alice,
        principal=f"user:{(owner or world.alice).pk}",
        preset=preset,
        preset_slug=preset.slug,
        provider="sandbox",
        upstream_id="sbx_recorded",
        avatar_id=preset.avatar_id,
        duration=600,
        status=status,
        close_reason=reason if status in ("closed", "failed") else "",
        created_at=kw.pop("created_at", T0),
        started_at=kw.pop("started_at", at(1.5)),
        closed_at=kw.pop("closed_at", at(241.5) if status in ("closed", "failed") else None),
        rtc={"token": "rtc-secret-never-shown", "channel": "c"},
        **kw,
    )
    lines = [
        ("user", "u1", "What are your opening hours?", 10.0),
        ("avatar", "a1", "We open at nine.", 11.25),
        ("user", "u2", "And on Sundays?", 30.0),
        ("avatar", "a2", "Closed on Sundays, I am afraid.", 32.0),
    ]
    for role, mid, text, when in lines:
        TranscriptEntry.objects.create(
            session=session, role=role, mid=mid, text=text, final=True, created_at=at(when)
        )
    for kind, message, when, data in [
        ("state", "starting", 0, {"state": "starting", "provider": "sandbox"}),
        ("state", "active", 1.5, {"state": "active", "upstream_id": "sbx_recorded"}),
        ("command", "set-params", 20, {"voice_id": "sandbox_voice_calm"}),
        ("limit", "Too many messages: wait a minute.", 25, {"code": "rate_limited"}),
        ("error", "stream violation: rate_exceeded", 26, {}),
        ("state", "closing", 241, {"state": "closing", "reason": reason}),
        ("state", "closed", 241.5, {"state": "closed", "reason": reason}),
    ]:
        SessionEvent.objects.create(
            session=session, kind=kind, message=message, data=data, created_at=at(when)
        )
    return session
