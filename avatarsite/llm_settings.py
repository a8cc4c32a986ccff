"""The operator's own LLM (optional), its guardrails and the tools it may call, read from
the environment like the rest of avatarsite.settings (which imports them all)."""

import environ

env = environ.Env()

# --- Your own LLM (optional) ---------------------------------------------------
# An OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp, OpenAI).
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_MODEL = env.str("LLM_MODEL", default="")
LLM_CONNECT_TIMEOUT = env.float("LLM_CONNECT_TIMEOUT", default=5.0)
LLM_READ_TIMEOUT = env.float("LLM_READ_TIMEOUT", default=30.0)
LLM_RETRIES = env.int("LLM_RETRIES", default=2)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=400)
LLM_CONTEXT_TOKENS = env.int("LLM_CONTEXT_TOKENS", default=3000)
LLM_TOKENS_PER_SESSION = env.int("LLM_TOKENS_PER_SESSION", default=30000)
LLM_TOKENS_PER_DAY = env.int("LLM_TOKENS_PER_DAY", default=200000)
# Seconds to keep the answer to a preset's identical first question (0: no cache).
LLM_CACHE_TTL = env.int("LLM_CACHE_TTL", default=0)
# Guardrails (README "Guardrails"): an optional OpenAI-compatible moderation endpoint
# asked about each question before the LLM. Its key, when empty, is LLM_API_KEY, but only
# for an endpoint on the LLM's own host: that key is never sent to a third party.
LLM_MODERATION_URL = env.str("LLM_MODERATION_URL", default="")
LLM_MODERATION_KEY = env.str("LLM_MODERATION_KEY", default="")
LLM_MODERATION_TIMEOUT = env.float("LLM_MODERATION_TIMEOUT", default=3.0)
# When the endpoint gives no verdict (down, slow, unreadable): decline the question (true),
# since a guardrail that opens whenever it fails is one anybody can open by overloading it.
LLM_MODERATION_FAIL_CLOSED = env.bool("LLM_MODERATION_FAIL_CLOSED", default=True)

# --- Tools the LLM may call (README "Tools") ---------------------------------------
# Hosts a tool's endpoint may reach over plain http and on a private or loopback address
# (exact host names or IPs, comma separated). Empty: https to public addresses only, so a
# staff-entered URL cannot reach the site's own network.
TOOL_HTTP_HOSTS = [h.strip().lower() for h in env.list("TOOL_HTTP_HOSTS", default=[]) if h.strip()]
# Rounds of tool calls in one answer before the LLM must answer without them.
TOOL_MAX_ROUNDS = max(env.int("TOOL_MAX_ROUNDS", default=3), 1)
# The longest timeout staff may give a tool (a person waits for the avatar meanwhile).
TOOL_MAX_TIMEOUT = max(env.float("TOOL_MAX_TIMEOUT", default=30.0), 0.5)
# Bytes of a tool's answer handed to the LLM; the rest is cut off.
TOOL_MAX_RESULT_BYTES = max(env.int("TOOL_MAX_RESULT_BYTES", default=16384), 256)
# Tool calls one answer may make: in one reply of the LLM, and in all its rounds together;
# the calls past either are refused (the LLM is told, the audit records them).
TOOL_MAX_CALLS_PER_ROUND = max(env.int("TOOL_MAX_CALLS_PER_ROUND", default=5), 1)
TOOL_MAX_CALLS_PER_ANSWER = max(env.int("TOOL_MAX_CALLS_PER_ANSWER", default=10), 1)
