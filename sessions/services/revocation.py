"""Revoking a token or deactivating a user ends that principal's live sockets at once.

Each session socket joins a group per principal it stands for; saving a revoked token
or an inactive user sends those groups a `principal.revoked` event, and the sockets
close (code 4401). Bulk updates skip signals, so sockets also re-check their principal
with every heartbeat.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from sessions import keys
from sessions.models import ApiToken


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
