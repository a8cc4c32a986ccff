"""Rate limits and quotas, counted in the Django cache (Redis in production).

Every counter is one atomic cache operation (`add` then `incr`, or `add` of a slot),
so the limits hold across processes sharing the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from django.conf import settings

from sessions import errors, keys, shared_cache

# Slots outlive the session a little: if a process dies holding one, it frees itself
# soon after the session's own time is over, by which time the upstream has ended it.
SLOT_MARGIN_SECONDS = 300
# When a concurrency cap is full, when to try again is unknowable; this is a hint.
CONCURRENCY_RETRY_AFTER = 30


async def hit_window(name: str, who: str, limit: int, window: int, message: str) -> None:
    """Count one event in a fixed window; refuse (LimitExceeded) past `limit`."""
    now = time.time()
    index = int(now // window)
    key = keys.limit_window(name, who, index)
    count = await shared_cache.counter_add(key, 1, timeout=window + 5)
    if count > limit:
        retry_after = (index + 1) * window - now
        raise errors.LimitExceeded(
            f"{name}_limit",
            f"{message} (limit {limit}). Try again in {int(retry_after) + 1} s.",
            retry_after=retry_after,
        )


async def _take_slot(scope: str, cap: int, holder: str, ttl: int) -> str | None:
    """A free slot of `scope` for `holder`; returns its id (stored on the session)."""
    ids = [keys.slot_id(scope, index) for index in range(cap)]
    # One round trip to see which slots are taken, then an atomic add per free one
    # (usually one): trying every slot in turn cost a round trip per busy slot.
    taken = await shared_cache.get_many([keys.slot(i) for i in ids])
    for slot_id in ids:
        key = keys.slot(slot_id)
        if key not in taken and await shared_cache.add(key, holder, timeout=ttl):
            return slot_id
    return None


async def acquire_session_slots(
    principal_keys: Sequence[str], session_id: str, duration: int
) -> list[str]:
    """Reserve a concurrency slot for each of the principal's keys (a token's sessions
    count against the token and its user alike: several tokens do not multiply the cap)
    and one of the account's global slots.

    Returns the slot ids to store on the session and release on close.
    """
    ttl = duration + SLOT_MARGIN_SECONDS
    taken: list[str] = []
    for key in principal_keys:
        mine = await _take_slot(
            keys.principal_slots(key), settings.SESSION_CONCURRENT_PER_PRINCIPAL, session_id, ttl
        )
        if mine is None:
            await release_slots(taken, session_id)
            raise errors.LimitExceeded(
                "concurrent_sessions_limit",
                f"You already have {settings.SESSION_CONCURRENT_PER_PRINCIPAL} live "
                "session(s); end one before starting another.",
                retry_after=CONCURRENCY_RETRY_AFTER,
            )
        taken.append(mine)
    shared = await _take_slot(
        keys.GLOBAL_SLOTS, settings.SESSION_CONCURRENT_GLOBAL, session_id, ttl
    )
    if shared is None:
        await release_slots(taken, session_id)
        raise errors.LimitExceeded(
            "global_sessions_limit",
            "All avatar sessions are in use right now; please try again in a little while.",
            retry_after=CONCURRENCY_RETRY_AFTER,
        )
    return [*taken, shared]


async def release_slots(slot_ids: list[str], session_id: str) -> None:
    for slot_id in slot_ids:
        key = keys.slot(slot_id)
        # Only free a slot this session still holds (it may have expired and been
        # taken by another session meanwhile).
        if await shared_cache.get(key) == session_id:
            await shared_cache.delete(key)


async def check_session_creation(principal_key: str) -> None:
    await hit_window(
        "session_creation",
        principal_key,
        settings.SESSION_CREATES_PER_HOUR,
        3600,
        "Too many sessions started in the last hour",
    )


async def check_chat(session_id: str, text: str) -> None:
    if len(text) > settings.CHAT_MAX_CHARS:
        raise errors.Invalid(
            "message_too_long",
            f"The message has {len(text)} characters; the limit is {settings.CHAT_MAX_CHARS}.",
        )
    await hit_window(
        "chat_rate",
        session_id,
        settings.CHAT_MESSAGES_PER_MINUTE,
        60,
        "Too many messages this minute",
    )


def _llm_keys(session_id: str, principal_key: str) -> tuple[str, str]:
    day = int(time.time() // 86400)
    return keys.llm_tokens_of_session(session_id), keys.llm_tokens_of_principal(principal_key, day)


async def check_llm_budget(session_id: str, principal_key: str) -> None:
    """Refuse a new LLM answer once the session's or the principal's daily tokens are spent."""
    session_key, principal_day_key = _llm_keys(session_id, principal_key)
    if (await shared_cache.get(session_key) or 0) >= settings.LLM_TOKENS_PER_SESSION:
        raise errors.LimitExceeded(
            "llm_session_tokens",
            "This session has used up its answers from the assistant; start a new session.",
            retry_after=60,
        )
    if (await shared_cache.get(principal_day_key) or 0) >= settings.LLM_TOKENS_PER_DAY:
        now = time.time()
        raise errors.LimitExceeded(
            "llm_daily_tokens",
            "You have used up today's answers from the assistant; please come back tomorrow.",
            retry_after=(int(now // 86400) + 1) * 86400 - now,
        )


async def spend_llm_tokens(session_id: str, principal_key: str, tokens: int) -> None:
    for key, ttl in zip(_llm_keys(session_id, principal_key), (86400, 2 * 86400), strict=True):
        await shared_cache.counter_add(key, tokens, timeout=ttl)


class MessageBudget:
    """Messages of any kind one socket may send per window (WS_MESSAGES_PER_10S): every
    message costs work, so past the budget they are refused unread. Kept per socket, in
    memory: a socket lives in one process. `first_refusal` tells the window's first
    refusal from the rest of a flood (worth one record, not one per message)."""

    WINDOW = 10.0  # seconds
    CODE = "message_rate_limit"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start = clock()
        self.count = 0
        self.refused = 0  # in the current window

    @property
    def first_refusal(self) -> bool:
        """The last refusal was the first of its window."""
        return self.refused == 1

    def spend(self) -> None:
        now = self.clock()
        if now - self.start >= self.WINDOW:
            self.start, self.count, self.refused = now, 0, 0
        self.count += 1
        if self.count > settings.WS_MESSAGES_PER_10S:
            self.refused += 1
            raise errors.LimitExceeded(
                self.CODE,
                f"Too many messages (more than {settings.WS_MESSAGES_PER_10S} in 10 s).",
                retry_after=self.WINDOW - (now - self.start),
            )
