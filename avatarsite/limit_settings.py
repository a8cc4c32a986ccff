"""Every rate, cap and clock of a session, read from the environment like the rest of
avatarsite.settings (which imports them all)."""

import environ

env = environ.Env()

SESSION_DEFAULT_DURATION = env.int("SESSION_DEFAULT_DURATION", default=600)
# AKool's own maximum is 3,600 s; a larger setting is clamped to it.
SESSION_MAX_DURATION = min(env.int("SESSION_MAX_DURATION", default=1800), 3600)
SESSION_MIN_DURATION = 30
# A default outside the allowed range would make every plain create fail: keep it inside.
SESSION_DEFAULT_DURATION = max(
    SESSION_MIN_DURATION, min(SESSION_DEFAULT_DURATION, SESSION_MAX_DURATION)
)
SESSION_CREATES_PER_HOUR = env.int("SESSION_CREATES_PER_HOUR", default=30)
SESSION_CONCURRENT_PER_PRINCIPAL = env.int("SESSION_CONCURRENT_PER_PRINCIPAL", default=2)
SESSION_CONCURRENT_GLOBAL = env.int("SESSION_CONCURRENT_GLOBAL", default=10)
CHAT_MESSAGES_PER_MINUTE = env.int("CHAT_MESSAGES_PER_MINUTE", default=20)
CHAT_MAX_CHARS = env.int("CHAT_MAX_CHARS", default=4000)
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=20000)
# Commands (set_params and interrupt) per session per minute, all its sockets together:
# each writes an event and goes to the avatar.
COMMANDS_PER_MINUTE = env.int("COMMANDS_PER_MINUTE", default=30)
# set_params one socket may have waiting for the avatar's ack at once.
COMMANDS_AWAITING_ACK = env.int("COMMANDS_AWAITING_ACK", default=10)
# New transcript lines the page may report (rtc_message) per session per minute.
LINES_PER_MINUTE = env.int("LINES_PER_MINUTE", default=60)
# Characters in one line the avatar's side reports (the rest is dropped, the line ended),
# and in a session's whole transcript (beyond it nothing more is recorded).
TRANSCRIPT_LINE_MAX_CHARS = env.int("TRANSCRIPT_LINE_MAX_CHARS", default=20000)
TRANSCRIPT_MAX_CHARS = env.int("TRANSCRIPT_MAX_CHARS", default=1_000_000)
# Stream messages one socket's page forwarded that may wait to be recorded.
AVATAR_FEED_BACKLOG = env.int("AVATAR_FEED_BACKLOG", default=200)
# Messages of any kind one socket may send in 10 s (the page forwards the avatar's
# speech pieces and acks: a few a second).
WS_MESSAGES_PER_10S = env.int("WS_MESSAGES_PER_10S", default=300)
# Open sockets: the owner's per session, an owner's (user or anonymous visitor) across
# sessions and API tokens, and staff observers' per session. The newest socket wins: the
# oldest beyond a cap is closed (4409), so a reload or a reconnect is never refused.
WS_SOCKETS_PER_SESSION = max(1, env.int("WS_SOCKETS_PER_SESSION", default=3))
WS_SOCKETS_PER_PRINCIPAL = max(1, env.int("WS_SOCKETS_PER_PRINCIPAL", default=8))
WS_OBSERVERS_PER_SESSION = max(1, env.int("WS_OBSERVERS_PER_SESSION", default=2))
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=16384)
# Transcript lines and events per page of the admin's session page (a session may have
# thousands of events: the page never loads them all). At least 1.
AUDIT_PAGE_SIZE = max(env.int("AUDIT_PAGE_SIZE", default=200), 1)
# Data-stream budgets (Agora: 1,024 bytes per message, 6,000 bytes per second).
STREAM_FRAME_BUDGET = min(env.int("STREAM_FRAME_BUDGET", default=950), 1024)
STREAM_BYTES_PER_SECOND = min(env.int("STREAM_BYTES_PER_SECOND", default=6000), 6000)
# Seconds added to the pacing window, so that frames delayed unevenly on their way to the
# avatar by up to this much still arrive within its 6,000 bytes per second (never negative).
STREAM_JITTER_ALLOWANCE = max(env.float("STREAM_JITTER_ALLOWANCE", default=0.15), 0.0)
# Seconds of stream (at STREAM_BYTES_PER_SECOND) one socket may have queued for the
# avatar; a chat that would queue more is refused whole. At least 1 s: an interrupt
# (one small frame, after the queue is dropped) must always fit.
STREAM_BACKLOG_SECONDS = max(env.float("STREAM_BACKLOG_SECONDS", default=30.0), 1.0)
# After a pagehide beacon, the session closes unless a socket reconnects within this.
SESSION_LEAVE_GRACE = env.float("SESSION_LEAVE_GRACE", default=10.0)
# When a session's last socket drops without a goodbye, it closes after this long
# unless a socket reconnects.
SESSION_DISCONNECT_GRACE = env.float("SESSION_DISCONNECT_GRACE", default=30.0)
# Connected sockets refresh a heartbeat this often; the reaper treats a session without
# one as abandoned (its process died).
HEARTBEAT_INTERVAL = env.float("HEARTBEAT_INTERVAL", default=15.0)
# How often each served process runs the reaper (0 turns the in-process reaper off;
# `manage.py reap_sessions` does one pass, for cron).
REAPER_INTERVAL = env.float("REAPER_INTERVAL", default=60.0)
# Document URLs one knowledge base may list (AKool caps each document at 100 MB and all of
# them at 500 MB, which we cannot weigh from a URL; this keeps the list within reason).
KNOWLEDGE_MAX_DOCUMENTS = env.int("KNOWLEDGE_MAX_DOCUMENTS", default=20)

# --- Outbound webhooks (README "Webhooks"; sessions/services/webhooks.py) ----------------
# How long one delivery may take before it counts as a timeout (and is retried).
WEBHOOK_TIMEOUT_SECONDS = max(env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0), 0.1)
# Attempts per delivery (the first included) before it is marked failed.
WEBHOOK_MAX_ATTEMPTS = max(env.int("WEBHOOK_MAX_ATTEMPTS", default=8), 1)
# How often the process holding the webhook lock looks for due deliveries (0: never; then
# `manage.py send_webhooks` from cron sends them).
WEBHOOK_POLL_SECONDS = max(env.float("WEBHOOK_POLL_SECONDS", default=5.0), 0.0)
# The wait before the first retry; each further retry waits twice as long (at most an
# hour), give or take a random quarter so that many failed deliveries do not retry at once.
WEBHOOK_RETRY_SECONDS = max(env.float("WEBHOOK_RETRY_SECONDS", default=10.0), 0.0)

# Seconds a record may wait in memory before it is written, with others in one query
# (services/write_behind.py: a turn's timings, the user's typed lines; the sandbox
# avatar's line being said, sessions/providers/sandbox/line_writer.py): a crash of the
# process loses at most this much of them.
WRITE_BEHIND_SECONDS = env.float("WRITE_BEHIND_SECONDS", default=1.0)
