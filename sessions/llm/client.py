"""A streaming OpenAI-compatible chat client: the HTTP request, its retries, and the
errors a person is shown. Configuration comes in as an ``LlmConfig`` (services.answers
builds it from the settings). vLLM, Ollama, the llama.cpp server and OpenAI all serve
``POST {base_url}/chat/completions`` with ``stream: true``. Cancelling the task that
iterates ``stream_chat``, or ``aclose()`` on it, closes the HTTP response and its
connection at once, so the LLM server sees the client go away.

Errors are ``LlmError`` with a snake_case ``code``, a ``message`` fit to show a person, and
``partial`` (True when some text had already been yielded, so what was said stays and is
marked as cut). Codes: ``llm_unavailable`` (cannot connect), ``llm_timeout``,
``llm_rate_limited`` (429 after the retries), ``llm_server_error`` (5xx after the retries),
``llm_refused`` (any other 4xx; carries the server's own message), ``llm_stream_cut`` (the
connection broke mid-answer), ``llm_bad_stream`` (unreadable events), ``llm_failed`` (the
server reported an error inside the stream), ``llm_too_long`` (far past ``max_tokens``),
``llm_misconfigured`` (the base URL is not a usable http(s) URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import random
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from sessions import redaction
from sessions.llm.conversation import CHARS_PER_TOKEN
from sessions.llm.server_text import server_message
from sessions.llm.sse import StreamFault, read_deltas
from sessions.llm.tools import BadToolCalls, ToolCallAssembler, ToolCalls, request_fields

log = logging.getLogger("avatarsite.llm")

# An error body or a non-streamed answer larger than this is not read in full: a
# misbehaving server must not make us buffer without bound.
MAX_ERROR_BODY = 64 * 1024
MAX_JSON_BODY = 4 * 1024 * 1024
# A Retry-After longer than this is not honoured as such: a person is waiting for the
# avatar to speak, so we retry sooner and report the failure if it persists.
MAX_RETRY_AFTER = 5.0

_UNREADABLE_ANSWER = "The language model sent an answer that could not be read."
_BROKEN = "The connection to the language model broke before the answer was complete."
_UNREACHABLE = "The language model could not be reached. Please try again shortly."


Secrets = tuple[str, ...]


@dataclass
class LlmConfig:
    base_url: str  # e.g. "http://127.0.0.1:8080/v1"; "/chat/completions" is appended
    # repr=False: a config that ends up in a log line or a traceback must not carry the key.
    api_key: str = field(default="", repr=False)
    model: str = ""
    connect_timeout: float = 5.0
    # Longest silence allowed between two reads, so it bounds both the wait for the first
    # token and a stall in the middle of an answer.
    read_timeout: float = 30.0
    retries: int = 2  # extra attempts, only before the first token
    backoff: float = 0.5  # seconds before the first retry, doubled after each one
    max_tokens: int = 400
    # Other credentials to hide should the server echo them (the avatar provider's keys):
    # the answer is spoken and shown, so it is redacted like the server's errors.
    also_hide: tuple[str, ...] = field(default=(), repr=False)

    def secrets(self) -> Secrets:
        """What redaction hides in everything the server sends back (some echo the key)."""
        return (self.api_key, *self.also_hide)


class LlmError(Exception):
    """A failure to get an answer. ``message`` is for a person and never holds the key."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        partial: bool = False,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.partial = partial
        self.status = status  # the HTTP status when the server answered with an error
        self.retryable = retryable  # whether trying again could help (before any token)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"LlmError({self.code!r}, {self.message!r}, partial={self.partial})"


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a client builds a TLS context (certifi's bundle), ~20 ms each time: on the
    # path to the first spoken word. A context is not tied to an event loop, so one is
    # shared by every per-call client.
    return httpx.create_ssl_context()


async def stream_chat(
    config: LlmConfig,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[str | ToolCalls]:
    """Yield the answer's text pieces as the server streams them; with ``tools``, when
    the LLM asks for calls, a last ``ToolCalls`` (sessions.llm.tools runs the rounds).

    Retries (with exponential backoff and jitter) on connection errors, timeouts and HTTP
    429/5xx, but only while nothing has been yielded: once a piece went out it may already
    be spoken, and a retry would start the answer again. After that, any failure raises
    ``LlmError(partial=True)``.
    """
    url, body, headers = _request(config, messages)
    body.update(request_fields(tools, tool_choice))
    # A bound on the answer's length for servers that ignore max_tokens: generous, since
    # it only guards against a stream that never ends.
    max_chars = max(4096, config.max_tokens * CHARS_PER_TOKEN * 4)
    yielded = 0
    attempt = 0
    async with httpx.AsyncClient(**_client_args(config, url, transport)) as client:
        while True:
            try:
                # aclosing: if our consumer stops (cancel, aclose), the attempt's own
                # generator is closed here and now, not whenever it is garbage-collected,
                # so the HTTP response is closed at once.
                async with contextlib.aclosing(_attempt(client, url, body, headers, config)) as it:
                    async for piece in it:
                        if isinstance(piece, ToolCalls):
                            yield piece  # the last piece: the rounds go on in llm.tools
                            continue
                        yielded += len(piece)
                        if yielded > max_chars:
                            raise LlmError(
                                "llm_too_long",
                                "The language model's answer was far longer than allowed.",
                            )
                        yield piece
                return
            except LlmError as exc:
                if yielded:
                    log.warning("llm: answer cut after %d characters: %s", yielded, exc.code)
                    raise _as_partial(exc) from exc
                delay = _retry_delay(exc, attempt, config)
                if delay is None:
                    log.warning("llm: giving up after %d attempt(s): %s", attempt + 1, exc.code)
                    raise
                attempt += 1
                log.info(
                    "llm: attempt %d failed (%s); retrying in %.2f s", attempt, exc.code, delay
                )
                await asyncio.sleep(delay)


def _request(
    config: LlmConfig, messages: list[dict[str, Any]]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The URL, JSON body and headers of the streamed chat completion."""
    url = config.base_url.rstrip("/") + "/chat/completions"
    body: dict[str, Any] = {
        "model": config.model,
        "messages": messages,
        "stream": True,
        "max_tokens": config.max_tokens,
    }
    headers = {"Accept": "text/event-stream"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    return url, body, headers


def _client_args(
    config: LlmConfig, url: str, transport: httpx.AsyncBaseTransport | None
) -> dict[str, Any]:
    timeout = httpx.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=config.connect_timeout,
        pool=config.connect_timeout,
    )
    args: dict[str, Any] = {"timeout": timeout, "follow_redirects": False}
    if transport is not None:
        args["transport"] = transport
    elif url.startswith("https:"):
        args["verify"] = _ssl_context()
    return args


def _retry_delay(exc: LlmError, attempt: int, config: LlmConfig) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``; None when there is none to make."""
    if not exc.retryable or attempt >= config.retries:
        return None
    delay = config.backoff * (2**attempt) * random.uniform(0.8, 1.2)
    if exc.retry_after is not None:
        delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
    return delay


def _as_partial(exc: LlmError) -> LlmError:
    cut = {
        "llm_timeout": "The language model stopped answering in the middle of its answer.",
        "llm_stream_cut": "The connection to the language model broke in the middle of its answer.",
    }
    message = cut.get(exc.code, exc.message)
    if not message.endswith("cut short."):
        message += " The answer was cut short."
    return LlmError(exc.code, message, partial=True, status=exc.status)


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    config: LlmConfig,
) -> AsyncIterator[str | ToolCalls]:
    """One request: yields pieces, raises LlmError (with ``retryable`` set) on failure."""
    answered = False  # headers received: a broken connection is now a cut stream
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            answered = True
            async with contextlib.aclosing(_pieces(response, config.secrets())) as pieces:
                async for piece in pieces:
                    yield piece
    except LlmError:
        raise
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _transport_error(exc, answered, config.secrets()) from None


async def _pieces(response: httpx.Response, secrets: Secrets) -> AsyncIterator[str | ToolCalls]:
    """The answer in one response: an HTTP error, one JSON answer, or an event stream."""
    if not 200 <= response.status_code < 300:
        raise await _http_error(response, secrets)
    content_type = response.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        # The server ignored "stream": one JSON answer. Slower, but still an answer.
        text = redaction.redact(await _whole_answer(response, secrets), secrets)
        if text:
            yield text
        return
    # Streamed text is spoken and shown: redacted on its way, a key split across two
    # pieces included (the redactor holds back a tail that could start one).
    redactor = redaction.StreamRedactor(secrets)
    calls = ToolCallAssembler()  # the tool calls asked for, if any (llm.tools)
    try:
        async with contextlib.aclosing(read_deltas(response.aiter_bytes())) as deltas:
            async for piece in deltas:
                if isinstance(piece, list):
                    calls.feed(piece)
                elif safe := redactor.feed(piece):
                    yield safe
        if rest := redactor.flush():
            yield rest
    except StreamFault as fault:
        raise _fault_error(fault, secrets) from None
    except BadToolCalls:
        raise LlmError("llm_bad_stream", _UNREADABLE_ANSWER) from None
    if calls:
        # Arguments go to a tool server and the audit: redacted like the text, whole.
        yield calls.result(lambda text: redaction.redact(text, secrets))


def _transport_error(
    exc: httpx.HTTPError | httpx.InvalidURL, answered: bool, secrets: Secrets
) -> LlmError:
    """The LlmError for an httpx failure (``answered``: the response headers had come)."""
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        log.error("llm: unusable base URL (%s)", type(exc).__name__)
        return LlmError(
            "llm_misconfigured",
            "The language model's address is not a valid http(s) URL; check LLM_BASE_URL.",
        )
    if isinstance(exc, httpx.ConnectTimeout):
        log.warning("llm: connect timed out")
        return LlmError(
            "llm_unavailable",
            "The language model could not be reached in time. Please try again shortly.",
            retryable=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        log.warning("llm: %s", type(exc).__name__)
        return LlmError(
            "llm_timeout", "The language model took too long to answer.", retryable=True
        )
    if isinstance(exc, httpx.ConnectError):
        log.warning("llm: cannot connect: %s", redaction.redact(str(exc), secrets)[:200])
        return LlmError("llm_unavailable", _UNREACHABLE, retryable=True)
    if isinstance(exc, httpx.DecodingError):
        log.warning("llm: the response body could not be decoded")
        return LlmError("llm_bad_stream", _UNREADABLE_ANSWER)
    # Read/write errors and protocol errors: the connection broke.
    log.warning("llm: %s: %s", type(exc).__name__, redaction.redact(str(exc), secrets)[:200])
    if answered:
        return LlmError("llm_stream_cut", _BROKEN, retryable=True)
    return LlmError("llm_unavailable", _UNREACHABLE, retryable=True)


def _fault_error(fault: StreamFault, secrets: Secrets) -> LlmError:
    if fault.kind == "error":
        return _reported_error(fault.error, secrets)
    if fault.kind == "cut":
        # A clean end of the body without [DONE] or a finish_reason: a proxy or the server
        # gave up mid-answer. Treated like a broken connection (retryable before any token).
        return LlmError("llm_stream_cut", _BROKEN, retryable=True)
    return LlmError("llm_bad_stream", "The language model sent a stream that could not be read.")


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            break
    return bytes(data[:limit])


def _retry_after(response: httpx.Response) -> float | None:
    # Only the delta-seconds form: an HTTP date from an LLM server is rare enough.
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


async def _http_error(response: httpx.Response, secrets: Secrets) -> LlmError:
    status = response.status_code
    detail = server_message(await _read_body(response, MAX_ERROR_BODY), secrets)
    log.warning("llm: HTTP %d: %s", status, detail[:200])
    suffix = f": {detail}" if detail else "."
    if status == 429:
        return LlmError(
            "llm_rate_limited",
            "The language model is busy (too many requests). Please try again shortly.",
            status=status,
            retryable=True,
            retry_after=_retry_after(response),
        )
    if status == 408 or status >= 500:
        # 408 is the server timing out our request: as retryable as a 503.
        return LlmError(
            "llm_server_error",
            f"The language model failed (HTTP {status}). Please try again shortly.",
            status=status,
            retryable=True,
            retry_after=_retry_after(response),
        )
    if 300 <= status < 400:
        return LlmError(
            "llm_misconfigured",
            f"The language model's address redirects (HTTP {status}); check LLM_BASE_URL.",
            status=status,
        )
    return LlmError(
        "llm_refused",
        f"The language model refused the request (HTTP {status}){suffix}",
        status=status,
    )


async def _whole_answer(response: httpx.Response, secrets: Secrets) -> str:
    raw = await _read_body(response, MAX_JSON_BODY)
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        raise LlmError("llm_bad_stream", _UNREADABLE_ANSWER) from None
    if isinstance(obj, dict) and obj.get("error"):
        raise _reported_error(obj, secrets)
    try:
        content = obj["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if content is not None and not isinstance(content, str):
        raise LlmError("llm_bad_stream", _UNREADABLE_ANSWER)
    return content or ""


def _reported_error(obj: Any, secrets: Secrets) -> LlmError:
    """Servers (vLLM among them) report a failure inside a 200 answer as {"error": ...}."""
    detail = server_message(json.dumps(obj).encode(), secrets)
    log.warning("llm: error inside the stream: %s", detail[:200])
    suffix = f": {detail}" if detail else "."
    return LlmError("llm_failed", f"The language model reported an error{suffix}")
