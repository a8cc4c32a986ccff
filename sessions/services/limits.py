"""Rate limits and quotas, counted in the Django cache (Redis in production).

Every counter is one atomic cache operation (`add` then `incr`, or `add` of a slot),
so the limits hold across processes sharing the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from sessions import errors, keys, shared_cache
from sessions.access import Quota

# Slots outlive the session a little: if a process dies holding one, it frees itself
# soon after the session's own time is over, by which time the upstream has ended it.
SLOT_MARGIN_SECONDS = 300
# When a concurrency cap is full, when to try again is unknowable; this is a hint.
CONCURRENCY_RETRY_AFTER = 30


# How often a session's page may have a failed send recorded (one event per window: a
# page that reports failures in a loop must not write a row each).
SEND_FAILED_RECORD_SECONDS = 60
# A day's minutes counter outlives its day a little.
DAILY_MINUTES_TTL = 2 * 86400
# A session's transcript size counter outlives any session (at most an hour).
TRANSCRIPT_SIZE_TTL = 2 * 3600


class Refusal(errors.LimitExceeded):
    """A limit's refusal that says whether it is worth an event row: the first of its
    window is; the rest of a flood are not (a row each would be the flood)."""

    def __init__(
        self, code: str, message: str, *, retry_after: float, worth_recording: bool
    ) -> None:
        super().__init__(code, message, retry_after=retry_after)
        self.worth_recording = worth_recording


class CapReached(errors.TooLarge):
    """A size cap of the transcript: what would go beyond it is not recorded."""


# Said in the user's language when a rate refuses; translated only then (each message
# is counted, few are refused).
CHAT_RATE_WORDS = gettext_lazy("Too many messages this minute")
COMMAND_RATE_WORDS = gettext_lazy("Too many commands this minute")
LINE_RATE_WORDS = gettext_lazy("Too many new transcript lines this minute")


async def hit_window(name: str, who: str, limit: int, window: int, message: str) -> str:
    """Count one event in a fixed window; refuse (Refusal) past `limit`. Returns the
    window's counter (to give the event back)."""
    now = time.time()
    index = int(now // window)
    key = keys.limit_window(name, who, index)
    count = await shared_cache.counter_add(key, 1, timeout=window + 5)
    if count > limit:
        retry_after = (index + 1) * window - now
        raise Refusal(
            f"{name}_limit",
            _("%(what)s (limit %(limit)d). Try again in %(seconds)d s.")
            % {"what": message, "limit": limit, "seconds": int(retry_after) + 1},
            retry_after=retry_after,
            worth_recording=count == limit + 1,
        )
    return key


async def first_in_window(name: str, who: str, window: int) -> bool:
    """True once per fixed window of `window` seconds (for `who`), False after."""
    index = int(time.time() // window)
    return await shared_cache.add(keys.limit_window(name, who, index), 1, timeout=window + 5)


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


def _already_live(cap: int) -> str:
    return ngettext(
        "You already have a live session; end it before starting another.",
        "You already have %(count)d live sessions; end one before starting another.",
        cap,
    ) % {"count": cap}


async def acquire_session_slots(
    quotas: Sequence[Quota], session_id: str, duration: int
) -> list[str]:
    """Reserve a concurrency slot for each of the principal's quotas (a token's sessions
    count against the token and its user alike: several tokens do not multiply the cap;
    an embed visitor's against the visitor and the website's key) and one of the
    account's global slots.

    Returns the slot ids to store on the session and release on close.
    """
    ttl = duration + SLOT_MARGIN_SECONDS
    taken: list[str] = []
    for quota in quotas:
        mine = await _take_slot(keys.principal_slots(quota.key), quota.concurrent, session_id, ttl)
        if mine is None:
            await release_slots(taken, session_id)
            if quota.shared:
                raise errors.LimitExceeded(
                    "site_sessions_limit",
                    _("This website's avatar is busy right now; please try again shortly."),
                    retry_after=CONCURRENCY_RETRY_AFTER,
                )
            raise errors.LimitExceeded(
                "concurrent_sessions_limit",
                _already_live(quota.concurrent),
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
            _("All avatar sessions are in use right now; please try again in a little while."),
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


async def check_session_creation(quotas: Sequence[Quota]) -> None:
    """Count a new session against each quota's sessions per hour. A refusal by one
    (a website's key full this hour) gives back what the others counted: a refused
    attempt burns no one's hourly quota (the visitor's, or a token's user's)."""
    counted: list[str] = []
    for quota in quotas:
        try:
            counter = await hit_window(
                "session_creation",
                quota.key,
                quota.per_hour,
                3600,
                _("Too many sessions started on this website in the last hour")
                if quota.shared
                else _("Too many sessions started in the last hour"),
            )
        except Refusal:
            for key in counted:
                await shared_cache.counter_add(key, -1, timeout=3600 + 5)
            raise
        counted.append(counter)


async def take_daily_minutes(quotas: Sequence[Quota], seconds: int) -> list[str]:
    """Count a new session's reserved seconds against each quota's minutes per UTC day
    (an embed key's caps); refuse the one that would pass a cap, counting nothing. One
    atomic increment per cap, so processes creating at once cannot both take the last
    minutes. Returns the counters taken from, to give back if the create fails."""
    now = time.time()
    day = int(now // 86400)
    taken: list[str] = []
    for quota in quotas:
        if not quota.minutes_per_day:
            continue
        key = keys.daily_minutes(quota.key, day)
        total = await shared_cache.counter_add(key, seconds, timeout=DAILY_MINUTES_TTL)
        if total > quota.minutes_per_day * 60:
            await shared_cache.counter_add(key, -seconds, timeout=DAILY_MINUTES_TTL)
            await give_back_minutes(taken, seconds)
            retry_after = (day + 1) * 86400 - now
            if quota.shared:
                words = _("This website's avatar has used its minutes for today.")
            else:
                words = _("You have used today's minutes with the avatar.")
            raise errors.LimitExceeded(
                "site_minutes_limit" if quota.shared else "daily_minutes_limit",
                words + " " + _("Please come back tomorrow."),
                retry_after=retry_after,
            )
        taken.append(key)
    return taken


async def give_back_minutes(counters: Sequence[str], seconds: int) -> None:
    """A create that failed after counting its minutes: they are not used."""
    for key in counters:
        await shared_cache.counter_add(key, -seconds, timeout=DAILY_MINUTES_TTL)


async def check_chat(session_id: str, text: str) -> None:
    """A user's line, typed or reported by the page (the avatar side's transcript of
    the user's speech): within the chat's length and rate."""
    if len(text) > settings.CHAT_MAX_CHARS:
        raise errors.Invalid(
            "message_too_long",
            _("The message has %(length)d characters; the limit is %(limit)d.")
            % {"length": len(text), "limit": settings.CHAT_MAX_CHARS},
        )
    await hit_window(
        "chat_rate",
        session_id,
        settings.CHAT_MESSAGES_PER_MINUTE,
        60,
        CHAT_RATE_WORDS,
    )


async def check_command(session_id: str) -> None:
    """A set_params or an interrupt the page asks for (all the session's sockets)."""
    await hit_window(
        "command_rate",
        session_id,
        settings.COMMANDS_PER_MINUTE,
        60,
        COMMAND_RATE_WORDS,
    )


async def check_new_line(session_id: str) -> None:
    """A new transcript line the page reports (a `mid` not in the transcript yet)."""
    await hit_window(
        "line_rate",
        session_id,
        settings.LINES_PER_MINUTE,
        60,
        LINE_RATE_WORDS,
    )


def stream_backlog(retry_after: float) -> Refusal:
    """What the pacer's backlog (STREAM_BACKLOG_SECONDS) refuses: whole, never cut."""
    return Refusal(
        "stream_backlog",
        "Too much is still waiting to go to the avatar; send this again in a moment.",
        retry_after=retry_after,
        worth_recording=False,
    )


def feed_backlog() -> Refusal:
    """What the page forwarded beyond AVATAR_FEED_BACKLOG messages waiting to be recorded."""
    return Refusal(
        "feed_backlog",
        "Too many of the avatar's messages are waiting to be recorded; this one was dropped.",
        retry_after=1,
        worth_recording=False,
    )


async def send_failure_worth_recording(session_id: str) -> bool:
    """The page could not send a frame: recorded once a window, not once a report."""
    return await first_in_window("send_failed_record", session_id, SEND_FAILED_RECORD_SECONDS)


def line_max_chars(role: str) -> int:
    """How long a line the avatar's side reports may grow: a user's line (its transcript
    of the user's speech) no longer than a typed one."""
    if role == "user":
        return min(settings.CHAT_MAX_CHARS, settings.TRANSCRIPT_LINE_MAX_CHARS)
    return settings.TRANSCRIPT_LINE_MAX_CHARS


def line_too_long(max_chars: int) -> CapReached:
    return CapReached(
        "line_too_long",
        f"A transcript line reached {max_chars} characters; the rest of it is not recorded.",
    )


async def take_transcript_room(session_id: str, chars: int) -> None:
    """Count `chars` more of the session's transcript; refuse (CapReached) past
    TRANSCRIPT_MAX_CHARS. One cache counter: nothing is summed from the database."""
    total = await add_transcript_chars(session_id, chars)
    if total > settings.TRANSCRIPT_MAX_CHARS:
        raise CapReached(
            "transcript_full",
            f"This session's transcript reached {settings.TRANSCRIPT_MAX_CHARS} characters;"
            " nothing more is recorded. Start a new session to go on.",
        )


async def add_transcript_chars(session_id: str, chars: int) -> int:
    """Count text recorded without a check (our LLM's answer, once said)."""
    key = keys.transcript_size(session_id)
    return await shared_cache.counter_add(key, chars, timeout=TRANSCRIPT_SIZE_TTL)


def _llm_keys(session_id: str, principal_key: str) -> tuple[str, str]:
    day = int(time.time() // 86400)
    return keys.llm_tokens_of_session(session_id), keys.llm_tokens_of_principal(principal_key, day)


async def check_llm_budget(session_id: str, principal_key: str) -> None:
    """Refuse a new LLM answer once the session's or the principal's daily tokens are spent."""
    session_key, principal_day_key = _llm_keys(session_id, principal_key)
    if (await shared_cache.get(session_key) or 0) >= settings.LLM_TOKENS_PER_SESSION:
        raise errors.LimitExceeded(
            "llm_session_tokens",
            _("This session has used up its answers from the assistant; start a new session."),
            retry_after=60,
        )
    if (await shared_cache.get(principal_day_key) or 0) >= settings.LLM_TOKENS_PER_DAY:
        now = time.time()
        raise errors.LimitExceeded(
            "llm_daily_tokens",
            _("You have used up today's answers from the assistant; please come back tomorrow."),
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
            raise Refusal(
                self.CODE,
                f"Too many messages (more than {settings.WS_MESSAGES_PER_10S} in 10 s).",
                retry_after=self.WINDOW - (now - self.start),
                worth_recording=self.first_refusal,
            )
