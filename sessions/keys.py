"""Every cache key, channel-layer group name and event type, built here from ids.

Cache keys and groups are shared by every process of a deployment (Redis), so their
format is a contract between processes, and between a release and the next one: change
one here, and only here. Nothing is built from user text but principal keys, which we
make ourselves ("user:<id>", "token:<id>", "ip:<address>").
"""

from __future__ import annotations

import hashlib
from typing import Any

# --- limits -----------------------------------------------------------------------------


def user_principal(user_id: Any) -> str:
    """A user's principal key: whose limits, whichever of their tokens or sign-ins acts."""
    return f"user:{user_id}"


def limit_window(name: str, who: str, index: int) -> str:
    """The counter of one fixed window of a rate limit."""
    return f"limit:{name}:{who}:{index}"


def slot_id(scope: str, index: int) -> str:
    """A concurrency slot as a session stores it (`AvatarSession.slots`)."""
    return f"{scope}:{index}"


def embed_visitor(embed_key_id: Any, ip: str) -> str:
    """An embed visitor's principal key: one address (access.visitor_network: an IPv6
    client's /64) on one website's key."""
    return f"embed:{embed_key_id}:ip:{ip}"


def embed_site(embed_key_id: Any) -> str:
    """A website's embed key as a whole: every visitor counts against it."""
    return f"embed:{embed_key_id}"


def daily_minutes(principal_key: str, day: int) -> str:
    """Seconds a principal key's sessions reserved on one UTC day (embed keys' caps)."""
    return f"limit:minutes:{principal_key}:{day}"


def principal_slots(principal_key: str) -> str:
    return f"principal:{principal_key}"


GLOBAL_SLOTS = "global"


def slot(slot_id: str) -> str:
    """The cache key that holds a slot (its value: the holding session's id). Sessions
    opened before slots were stored as ids hold the key itself: read both."""
    return slot_id if slot_id.startswith("slot:") else f"slot:{slot_id}"


def llm_tokens_of_session(session_id: Any) -> str:
    return f"llm-tokens:session:{session_id}"


def llm_tokens_of_principal(principal_key: str, day: int) -> str:
    return f"llm-tokens:principal:{principal_key}:{day}"


def transcript_size(session_id: Any) -> str:
    """Characters recorded in a session's transcript (TRANSCRIPT_MAX_CHARS)."""
    return f"transcript-size:{session_id}"


def pending_command(session_id: Any, mid: str) -> str:
    """A set-params waiting for the avatar's ack: any socket of the session (another tab,
    a reconnected page, another process) may receive the ack and apply it."""
    return f"command:{session_id}:{mid}"


def command_acked(session_id: Any, mid: str) -> str:
    """Taken by the first ack of a set-params: a second copy of it changes nothing."""
    return f"command-acked:{session_id}:{mid}"


def spoken_asked(session_id: Any, mid: str) -> str:
    """Taken when a session's spoken line `mid` is asked of our LLM: asked once, whichever
    socket or process hears its end. The id is the page's: the key carries its hash."""
    digest = hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"spoken-asked:{session_id}:{digest}"


def llm_answer(digest: str) -> str:
    """A cached LLM answer to a preset's first question (digest: llm.conversation.cache_key)."""
    return f"llm-answer:{digest}"


def spend_total(period: str, start: Any) -> str:
    """Seconds reserved by sessions created in one UTC period ("day" or "month", by its
    first day): the spend caps' counter."""
    return f"spend:{period}:{start}"


def spend_alert(period: str, start: Any, percent: int) -> str:
    """Taken by the first process to raise one period's alert at `percent` of its cap."""
    return f"spend-alert:{period}:{start}:{percent}"


# --- presence ---------------------------------------------------------------------------


def presence_count(session_id: Any) -> str:
    return f"presence:count:{session_id}"


def presence_owners(session_id: Any) -> str:
    return f"presence:owners:{session_id}"


def presence_marker(session_id: Any) -> str:
    return f"presence:marker:{session_id}"


def presence_left(session_id: Any) -> str:
    """The marker the page held when its pagehide beacon came."""
    return f"presence:left:{session_id}"


def presence_alive(session_id: Any) -> str:
    return f"presence:alive:{session_id}"


def process_alive(boot_id: str) -> str:
    return f"presence:process:{boot_id}"


def socket_list(scope: str) -> str:
    """The open sockets of one scope ("session:<id>", "observers:<id>", "owner:<who>"),
    oldest first, for the socket caps (presence.admit_socket)."""
    return f"sockets:{scope}"


def socket_list_lock(scope: str) -> str:
    return f"sockets:{scope}:lock"


def leave_pending(session_id: Any, marker: str | None) -> str:
    """A page's beacon is being acted on (one close pending per session and marker)."""
    return f"leave:{session_id}:{marker}"


def extending(session_id: Any) -> str:
    """A session's Extend is under way (one follow-on per session, however many clicks)."""
    return f"extend:{session_id}"


def _digest(secret: str) -> str:
    # A Django session key is a credential: names in the cache and the channel layer
    # carry only its hash.
    return hashlib.sha256(f"signin:{secret}".encode()).hexdigest()[:40]


def signin_successor(session_key: str) -> str:
    """The key Django gave a sign-in's session in place of this one (cycle_key)."""
    return f"signin:next:{_digest(session_key)}"


REAPER_LOCK = "reaper:lock"
# When some process's reaper pass last ran (time.time()): /readyz reads it.
REAPER_LAST_RUN = "reaper:last-run"
# What /readyz reads from the cache and sends to the channel layer (a group nobody joins).
READINESS_PROBE = "readiness-probe"
# One process per WEBHOOK_POLL_SECONDS sends due webhook deliveries (services/webhooks.py).
WEBHOOK_LOCK = "webhooks:lock"

# --- the sandbox provider ---------------------------------------------------------------


def sandbox_session(upstream_id: str) -> str:
    return f"sandbox:session:{upstream_id}"


def sandbox_channel(channel: str) -> str:
    return f"sandbox:channel:{channel}"


def sandbox_upstream_channel(upstream_id: str) -> str:
    return f"sandbox:upstream-channel:{upstream_id}"


def sandbox_sockets(channel: str) -> str:
    """How many avatar sockets a channel has had: each one's number, the newest wins."""
    return f"sandbox:sockets:{channel}"


def sandbox_command_applied(session_id: Any, mid: str) -> str:
    """Taken when the sandbox avatar applies our set-params `mid`: a copy replayed later
    (to undo a newer one) is refused."""
    return f"sandbox-applied:{session_id}:{mid}"


def sandbox_chats(session_id: Any) -> str:
    """Whom the sandbox avatar counts a session's chats for (limits.check_chat): a count
    of its own, since a chat the page sends reaches it after the session socket counted it."""
    return f"sandbox-avatar:{session_id}"


# --- channel-layer groups ---------------------------------------------------------------


def session_group(session_id: Any) -> str:
    """Every socket of one session (another tab, a staff observer)."""
    return f"session.{session_id}"


def user_group(user_id: Any) -> str:
    """Every socket a user stands behind (closed when the user is deactivated)."""
    return f"principal.user.{user_id}"


def token_group(token_id: Any) -> str:
    """Every socket an API token opened (closed when it is revoked)."""
    return f"principal.token.{token_id}"


def signin_group(session_key: str) -> str:
    """Every socket opened with one cookie sign-in (closed when it signs out)."""
    return f"signin.{_digest(session_key)}"


def principal_groups(user_id: Any | None, token_id: Any | None) -> list[str]:
    """The groups a socket joins for the principal it stands for."""
    groups = [] if user_id is None else [user_group(user_id)]
    return groups if token_id is None else [*groups, token_group(token_id)]


def sandbox_group(channel: str) -> str:
    """The sandbox avatar's socket of one channel."""
    return f"sandbox.{channel}"


# --- channel-layer event types (Channels calls the consumer method named after the type,
# dots as underscores: "session.state" -> session_state) ----------------------------------

SESSION_RELAY = "session.relay"  # a frame for the session's other sockets
SESSION_STATE = "session.state"  # the session's status changed
SESSION_SETTINGS = "session.settings"  # the avatar confirmed new settings
PRINCIPAL_REVOKED = "principal.revoked"  # the token was revoked or the user deactivated
SOCKET_TAKEN_OVER = "socket.taken_over"  # a newer socket of the same owner took its place
SIGNIN_CHECK = "signin.check"  # the user's password changed: is each sign-in still valid?
SANDBOX_CLOSED = "sandbox.closed"  # the sandbox session was closed: the avatar leaves
SANDBOX_TAKEN_OVER = "sandbox.taken_over"  # a newer avatar socket joined the channel
SESSION_SHOWN = "session.shown"  # a transcript update recorded beside the session's sockets


def deleted_principal(marker: str) -> str:
    """What a deleted account's sessions are counted under: the same marker for all of
    them (usage counts per principal hold), naming nobody."""
    return f"deleted:{marker}"


def opening_said(session_id: Any) -> str:
    """Taken when our server has the avatar say an own-LLM session's opening line: once
    a session, whichever socket (or process) gets there first."""
    return f"opening-said:{session_id}"


def sandbox_greeted(session_id: Any) -> str:
    """Taken when the sandbox avatar says its knowledge base's opening line: once a
    session, not again when the page reconnects."""
    return f"sandbox-greeted:{session_id}"


def falling_back(session_id: Any) -> str:
    """A session's fallback to another network is under way (one per session)."""
    return f"fallback:{session_id}"
