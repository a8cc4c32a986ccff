"""Revoking a token, deactivating a user, signing out or changing the password ends the
live sockets that stood on it at once.

Each session socket joins a group per principal it stands for, and a cookie socket one
for its sign-in; saving a revoked token or an inactive user, or signing out, sends those
groups a `principal.revoked` event, and the sockets close (code 4401). A password change
asks the user's sockets to check their sign-in as Django checks each request (the
session auth hash): the sign-in that changed it goes on, the others close. Bulk updates
skip signals, and a signal may be missed in another process, so sockets also re-check
with every heartbeat.
"""

from __future__ import annotations

import asyncio
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model, user_logged_out
from django.core.cache import cache
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare

from sessions import keys
from sessions.models import ApiToken

SIGNED_OUT = "You were signed out. Sign in again to go on."
# A sign-in that fails the check is checked again this much later before its sockets
# close: the request that changed the password saves its own session's new hash only
# as it answers.
SIGNIN_RECHECK = 1.0


def _end(group: str, why: str) -> None:
    async_to_sync(get_channel_layer().group_send)(
        group, {"type": keys.PRINCIPAL_REVOKED, "why": why}
    )


@receiver(post_save, sender=ApiToken, dispatch_uid="avatarsite.token_revoked")
def token_saved(sender: type, instance: ApiToken, **kwargs: Any) -> None:
    if instance.revoked_at is not None:
        _end(keys.token_group(instance.pk), "The API token was revoked.")


@receiver(post_save, sender=get_user_model(), dispatch_uid="avatarsite.user_deactivated")
def user_saved(sender: type, instance: Any, **kwargs: Any) -> None:
    if not instance.is_active:
        _end(keys.user_group(instance.pk), "The account was deactivated.")
    elif getattr(instance, "_password", None) is not None:
        # set_password keeps the new password there until save() is done: it changed.
        async_to_sync(get_channel_layer().group_send)(
            keys.user_group(instance.pk), {"type": keys.SIGNIN_CHECK}
        )


@receiver(user_logged_out, dispatch_uid="avatarsite.signed_out")
def signed_out(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        _end(keys.signin_group(session.session_key), SIGNED_OUT)


def signin_current(session_key: str, user_id: Any) -> bool:
    """Whether a cookie sign-in still stands as Django judges each request (its session
    exists, for this user, with the user's current session auth hash). Follows the keys
    Django gave the session in its place (sessions/signin_store.py). Sync: it queries."""
    for _ in range(20):
        successor = cache.get(keys.signin_successor(session_key))
        if not successor:
            break
        session_key = successor
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    stored = data.get(HASH_SESSION_KEY) or ""
    return user is not None and constant_time_compare(stored, user.get_session_auth_hash())


async def signin_lost(session_key: str, user_id: Any) -> bool:
    # On the async ORM's thread and connection, as every beat's other query (channels'
    # database_sync_to_async would close the connection after each check).
    check = sync_to_async(signin_current)
    if await check(session_key, user_id):
        return False
    await asyncio.sleep(SIGNIN_RECHECK)
    return not await check(session_key, user_id)
