"""Who is asking: a user (by cookie), an API token, or an anonymous visitor.

The same resolution serves HTTP requests and websocket scopes, so both sockets and
the API agree on identity, ownership and whose limits a call counts against.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from sessions.models import ApiToken, AvatarSession, hash_token

# Writing last_used_at on every request would make each API call a write; a minute's
# precision is plenty for "last used" in the admin.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    user: Any | None  # a User, or None for an anonymous visitor
    key: str  # whose limits: "user:<id>", "token:<id>" or "ip:<address>"
    token_id: int | None = None
    visitor_key: str = ""  # anonymous visitors: hash of their Django session key

    @property
    def is_staff(self) -> bool:
        return bool(self.user is not None and self.user.is_staff)

    def owns(self, session: AvatarSession) -> bool:
        if self.user is not None:
            return session.owner_id == self.user.pk
        return bool(self.visitor_key) and session.visitor_key == self.visitor_key

    def staff_may(self, action: str) -> bool:
        """Staff acting on others' sessions need the Django permission for it
        (`view` to watch and read, `change` to close). Sync: it may query."""
        return self.is_staff and self.user.has_perm(f"avatar_sessions.{action}_avatarsession")

    async def can_see(self, session: AvatarSession) -> bool:
        return self.owns(session) or await sync_to_async(self.staff_may)("view")

    async def can_close(self, session: AvatarSession) -> bool:
        return self.owns(session) or await sync_to_async(self.staff_may)("change")


def visitor_key_for(session_key: str) -> str:
    return hashlib.sha256(f"visitor:{session_key}".encode()).hexdigest()


def client_ip(remote_addr: str, forwarded_for: str) -> str:
    """The client's address; X-Forwarded-For counts only when a trusted proxy sent it.

    Walks the forwarded chain from the right, skipping our own proxies, so a client
    cannot pick its own address by sending the header itself.
    """
    trusted = set(settings.TRUSTED_PROXIES)
    if remote_addr not in trusted or not forwarded_for:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote_addr  # garbage in the chain: trust nothing of it
        if hop not in trusted:
            return hop
    return remote_addr


def token_principal(raw: str) -> Principal | None:
    """Resolve a raw Bearer token (sync: call through sync_to_async in async code)."""
    token = ApiToken.objects.usable().select_related("owner").filter(digest=hash_token(raw)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return Principal(user=token.owner, key=f"token:{token.pk}", token_id=token.pk)


async def still_valid(principal: Principal) -> bool:
    """Whether the principal may still act: its token unrevoked, its user active."""
    if principal.token_id is not None:
        return await ApiToken.objects.usable().filter(pk=principal.token_id).aexists()
    if principal.user is not None:
        # The user model, never type(user): a cookie sign-in's user is channels'
        # UserLazyObject, whose type has no manager.
        users = get_user_model().objects
        return await users.filter(pk=principal.user.pk, is_active=True).aexists()
    return True


def user_principal(user: Any) -> Principal:
    return Principal(user=user, key=f"user:{user.pk}")


def visitor_principal(session_key: str, ip: str) -> Principal:
    return Principal(user=None, key=f"ip:{ip}", visitor_key=visitor_key_for(session_key))


def bearer_from_header(value: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def anonymous_allowed() -> bool:
    return settings.ANONYMOUS_SESSIONS
