"""Who is asking, and what they may see: the only home of both rules.

A caller is a user (by the session cookie), an API token (Bearer), or, when
ANONYMOUS_SESSIONS allows it, an anonymous visitor (by their Django session, limited per
client IP). HTTP requests and websocket scopes are read into the same `Caller` and
resolved by the same `resolve`, so the API and the sockets agree on who someone is,
what they own and whose limits they count against. `AvatarSession.objects.visible_to`
and `Principal.owns` are the only ownership tests in the project.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import embed_tokens, keys

if TYPE_CHECKING:
    from django.http import HttpRequest

    from sessions.models import AvatarSession

# Writing last_used_at on every request would make each API call a write; a minute's
# precision is plenty for "last used" in the admin.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Quota:
    """One principal key's caps: sessions at once, sessions started per hour, minutes
    reserved per UTC day (0: no cap). `shared`: many people count against it (a
    website's embed key), which the refusals say."""

    key: str
    concurrent: int
    per_hour: int
    minutes_per_day: int = 0
    shared: bool = False


@dataclass(frozen=True)
class EmbedGrant:
    """A visitor of a website's embed (sessions.embed_tokens): the key's id, the host
    page's origin, the presets it offers and its quotas (the visitor's, the key's)."""

    key_id: int
    origin: str
    preset_ids: frozenset[int]
    quotas: tuple[Quota, ...]


@dataclass(frozen=True)
class Principal:
    user: Any | None  # a User, or None for an anonymous visitor
    key: str  # whose limits: "user:<id>", "token:<id>" or "ip:<address>"
    token_id: int | None = None
    visitor_key: str = ""  # anonymous visitors: hash of their Django session key
    # Staff acting on others' sessions need the Django permission for it: `view` to
    # watch and read, `change` to close. Read once, when the caller is resolved.
    may_view_others: bool = False
    may_close_others: bool = False
    embed: EmbedGrant | None = None  # a visitor of a website's embed

    @property
    def limit_keys(self) -> tuple[str, ...]:
        """Whose caps a session of this principal counts against: a token's count against
        its user's too, so that several tokens do not multiply the user's caps."""
        return tuple(quota.key for quota in self.quotas)

    @property
    def quotas(self) -> tuple[Quota, ...]:
        """The caps a new session counts against: an embed visitor's and its key's (the
        key's own figures), else the site's settings for the principal (and a token's
        user)."""
        if self.embed is not None:
            return self.embed.quotas
        owners = [self.key]
        if self.token_id is not None and self.user is not None:
            owners.append(keys.user_principal(self.user.pk))
        return tuple(
            Quota(key, settings.SESSION_CONCURRENT_PER_PRINCIPAL, settings.SESSION_CREATES_PER_HOUR)
            for key in owners
        )

    @property
    def is_staff(self) -> bool:
        return bool(self.user is not None and self.user.is_staff)

    def owns(self, session: AvatarSession) -> bool:
        if self.user is not None:
            return session.owner_id == self.user.pk
        return bool(self.visitor_key) and session.visitor_key == self.visitor_key

    def can_see(self, session: AvatarSession) -> bool:
        return self.may_view_others or self.owns(session)

    def can_close(self, session: AvatarSession) -> bool:
        return self.may_close_others or self.owns(session)

    def ownership(self) -> dict[str, Any]:
        """The fields that make a new session this principal's."""
        return {
            "owner": self.user,
            "principal": self.key,
            "visitor_key": self.visitor_key,
            "embed_key_id": self.embed.key_id if self.embed is not None else None,
        }


class SessionQuerySet(models.QuerySet):
    """AvatarSession.objects: who may see which sessions."""

    def owned_by(self, principal: Principal) -> SessionQuerySet:
        if principal.user is not None:
            return self.filter(owner=principal.user)
        if principal.visitor_key:
            return self.filter(visitor_key=principal.visitor_key)
        return self.none()

    def visible_to(self, principal: Principal) -> SessionQuerySet:
        """Their own sessions; every session for staff allowed to view them."""
        return self if principal.may_view_others else self.owned_by(principal)


@dataclass(frozen=True)
class Caller:
    """What an edge knows of whoever is calling, read the same way for both edges."""

    authorization: str | None  # the Authorization header, if any
    user: Any  # Django's user: AnonymousUser when not signed in
    session_key: str | None  # the Django session's key (anonymous visitors)
    remote_addr: str
    forwarded_for: str  # X-Forwarded-For, believed only from TRUSTED_PROXIES

    @classmethod
    def from_request(cls, request: HttpRequest) -> Caller:
        return cls(
            authorization=request.headers.get("Authorization"),
            user=request.user,
            session_key=request.session.session_key,
            remote_addr=request.META.get("REMOTE_ADDR", ""),
            forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
        )

    @classmethod
    def from_scope(cls, scope: dict[str, Any]) -> Caller:
        headers = {
            name.decode("latin1").lower(): value.decode("latin1")
            for name, value in scope.get("headers", [])
        }
        session = scope.get("session")
        client = scope.get("client") or ("", 0)
        authorization = headers.get("authorization")
        protocols = scope.get("subprotocols") or []
        if authorization is None and embed_tokens.SOCKET_PROTOCOL in protocols:
            # An embed page's socket (a page cannot set a socket's headers) stands on its
            # token alone: without one it is a refused embed visitor, never the cookie's.
            token = embed_tokens.from_subprotocols(protocols) or embed_tokens.TOKEN_PREFIX
            authorization = f"Bearer {token}"
        return cls(
            authorization=authorization,
            user=scope.get("user"),
            session_key=session.session_key if session is not None else None,
            remote_addr=client[0] or "",
            forwarded_for=headers.get("x-forwarded-for", ""),
        )


class InvalidToken(Exception):
    """A Bearer token was sent, and it is not a usable one. Its message, when it has
    one, is what to tell the caller (an embed page's visitor never saw a token)."""

    def say(self, default: Any) -> str:
        """What to tell the caller: its own words, else `default`."""
        return str(self) or str(default)


def resolve(caller: Caller) -> Principal | None:
    """The principal behind a caller (sync: it may query), None when anonymous and
    anonymous sessions are off. A Bearer header wins over the cookie; one that is
    invalid raises InvalidToken rather than falling back to the cookie."""
    if caller.authorization is not None:
        raw = bearer_from_header(caller.authorization)
        if raw and raw.startswith(embed_tokens.TOKEN_PREFIX):
            principal = embed_principal(raw, client_ip(caller.remote_addr, caller.forwarded_for))
            if principal is None:
                raise InvalidToken(embed_access_lost())
        else:
            principal = token_principal(raw) if raw else None
        if principal is None:
            raise InvalidToken
        return principal
    if caller.user is not None and caller.user.is_authenticated:
        return user_principal(caller.user)
    if anonymous_allowed() and caller.session_key:
        ip = client_ip(caller.remote_addr, caller.forwarded_for)
        return visitor_principal(caller.session_key, ip)
    return None


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


def visitor_network(ip: str) -> str:
    """The address a visitor's caps count against (anonymous or a website's): an IPv4
    address as it is, an IPv6 client's /64 (one subscriber's network: they may use any
    address in it, so per address they would have 2**64 visitors' caps)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def token_principal(raw: str) -> Principal | None:
    """Resolve a raw Bearer token (sync: call through sync_to_async in async code)."""
    from sessions.models import ApiToken, hash_token

    token = ApiToken.objects.usable().select_related("owner").filter(digest=hash_token(raw)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return Principal(
        user=token.owner, key=f"token:{token.pk}", token_id=token.pk, **_staff_rights(token.owner)
    )


async def still_valid(principal: Principal) -> bool:
    """Whether the principal may still act (see still_valid_many: the one rule)."""
    return (await still_valid_many([principal]))[0]


async def still_valid_many(principals: Sequence[Principal]) -> list[bool]:
    """Whether each principal may still act: its token unrevoked, its user active, its
    embed key on and still listing the page's origin. However many principals, one hop
    to the async ORM's thread (on its connection: channels' database_sync_to_async would
    close it after each call) and at most one query per kind: the presence beat checks
    every socket of the process at once."""
    return await sync_to_async(_still_valid_many)(list(principals))


def _still_valid_many(principals: list[Principal]) -> list[bool]:
    from sessions.embed_models import EmbedKey
    from sessions.models import ApiToken

    def ids(kind: Callable[[Principal], Any]) -> set[Any]:
        return {found for principal in principals if (found := kind(principal)) is not None}

    # (An empty `pk__in` runs no query: only the kinds present cost one.)
    token_ids = ids(lambda p: p.token_id)
    tokens = set(ApiToken.objects.usable().filter(pk__in=token_ids).values_list("pk", flat=True))
    # A token's user is checked by usable(). The user model, never type(user): a cookie
    # sign-in's user is channels' UserLazyObject, whose type has no manager.
    user_ids = ids(lambda p: p.user.pk if p.user is not None and p.token_id is None else None)
    users = get_user_model().objects.filter(pk__in=user_ids, is_active=True)
    active = set(users.values_list("pk", flat=True))
    # As embed_tokens.read on every request: the key on, and the page's origin still one
    # of its own (a socket outlives the request that checked its token).
    key_ids = ids(lambda p: p.embed.key_id if p.embed is not None else None)
    embed_keys = {key.pk: key for key in EmbedKey.objects.usable().filter(pk__in=key_ids)}

    def valid(principal: Principal) -> bool:
        if principal.token_id is not None:
            return principal.token_id in tokens
        if principal.embed is not None:
            key = embed_keys.get(principal.embed.key_id)
            return key is not None and key.allows_origin(principal.embed.origin)
        return principal.user is None or principal.user.pk in active

    return [valid(principal) for principal in principals]


def embed_access_lost() -> str:
    """What an embed page's visitor is told when their token is refused (expired, its key
    off, the page's origin no longer listed): they never saw a token."""
    return _("The avatar is not available on this website right now. Reload the page to try again.")


def access_lost_words(principal: Principal) -> str:
    """What a socket says as it closes because still_valid said no."""
    return embed_access_lost() if principal.embed is not None else _("Your access was revoked.")


def embed_principal(raw: str, ip: str) -> Principal | None:
    """A visitor of a website's embed (sync: it queries): known by the token's visitor id,
    limited per address and for the whole key by the key's own figures, whatever
    ANONYMOUS_SESSIONS says."""
    grant = embed_tokens.read(raw)
    if grant is None:
        return None
    key = grant.key
    visitor = Quota(
        keys.embed_visitor(key.pk, visitor_network(ip)),
        key.visitor_concurrent,
        key.visitor_sessions_per_hour,
        key.visitor_minutes_per_day,
    )
    site = Quota(
        keys.embed_site(key.pk),
        key.key_concurrent,
        key.key_sessions_per_hour,
        key.key_minutes_per_day,
        shared=True,
    )
    preset_ids = frozenset(key.presets.filter(active=True).values_list("pk", flat=True))
    return Principal(
        user=None,
        key=visitor.key,
        visitor_key=hashlib.sha256(f"embed:{key.pk}:{grant.visitor}".encode()).hexdigest(),
        embed=EmbedGrant(key.pk, grant.origin, preset_ids, (visitor, site)),
    )


def _staff_rights(user: Any) -> dict[str, bool]:
    if not user.is_staff:
        return {}
    return {
        # As in Django's admin, who may change may view.
        "may_view_others": user.has_perm("avatar_sessions.view_avatarsession")
        or user.has_perm("avatar_sessions.change_avatarsession"),
        "may_close_others": user.has_perm("avatar_sessions.change_avatarsession"),
    }


def user_principal(user: Any) -> Principal:
    """A signed-in user (sync: reading staff permissions may query)."""
    return Principal(user=user, key=keys.user_principal(user.pk), **_staff_rights(user))


def visitor_principal(session_key: str, ip: str) -> Principal:
    # Counted per visitor network, like an embed's visitors (an IPv6 client's /64).
    key = f"ip:{visitor_network(ip)}"
    return Principal(user=None, key=key, visitor_key=visitor_key_for(session_key))


def sessionless_visitor(caller: Caller) -> Principal:
    """An anonymous visitor who has no Django session yet: owns nothing, so it may read
    what is public (presets) and finds no session of its own, without a session row
    being created for a mere read."""
    ip = client_ip(caller.remote_addr, caller.forwarded_for)
    return Principal(user=None, key=f"ip:{visitor_network(ip)}")


def bearer_from_header(value: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def anonymous_allowed() -> bool:
    return settings.ANONYMOUS_SESSIONS
