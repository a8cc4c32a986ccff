"""The operator's own LLM: a streaming OpenAI-compatible chat client, and what turns its
stream into speech as early as possible.

Plain Python (no Django): configuration comes in as an ``LlmConfig`` the caller builds
from ``LLM_BASE_URL``, ``LLM_API_KEY`` and ``LLM_MODEL``. vLLM, Ollama, the llama.cpp
server and OpenAI all serve ``POST {base_url}/chat/completions`` with ``stream: true``.

The pipeline in a mode-1 (retelling) session::

    conversation.add_user(text)
    splitter = SentenceSplitter()
    async with contextlib.aclosing(stream_chat(config, conversation.messages())) as pieces:
        async for piece in pieces:                      # shown in the transcript at once
            for sentence in splitter.feed(piece):       # released to the avatar at once
                pacer.submit(protocol.chat_frames(sentence))
    rest = splitter.flush()                             # the last sentence

Each sentence is its own chat message (its own ``mid``, ``fin: true``), not one chunk of a
message shared by the whole answer: the avatar assembles a message until its ``fin`` and
speaks each complete chat as it arrives, queuing it behind the one it is speaking. An
answer-wide ``mid`` would keep ``fin`` back until the LLM finished, which is exactly the
wait this module exists to remove.

Cancelling (an interrupt, a new user message, the socket closing) is cancelling the task
that iterates the stream, or ``aclose()`` on the generator: either unwinds through the
``async with`` blocks below, which close the HTTP response and its connection, so the LLM
server sees the client go away and stops generating.

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
import hashlib
import json
import logging
import math
import random
import re
import ssl
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("avatarsite.llm")

# An error body or a non-streamed answer larger than this is not read in full: a
# misbehaving server must not make us buffer without bound.
MAX_ERROR_BODY = 64 * 1024
MAX_JSON_BODY = 4 * 1024 * 1024
# A Retry-After longer than this is not honoured as such: a person is waiting for the
# avatar to speak, so we retry sooner and report the failure if it persists.
MAX_RETRY_AFTER = 5.0
# Characters per token the guards below assume; real tokenizers average ~4 for English.
_CHARS_PER_TOKEN = 4


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


# ---------------------------------------------------------------------------------------
# Streaming client


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a client builds a TLS context (certifi's bundle), ~20 ms each time: on the
    # path to the first spoken word. A context is not tied to an event loop, so one is
    # shared by every per-call client.
    return httpx.create_ssl_context()


def _scrub(text: str, secret: str) -> str:
    """Remove the API key from text a server sent back (some echo a wrong key)."""
    return text.replace(secret, "[redacted]") if secret else text


async def stream_chat(
    config: LlmConfig,
    messages: list[dict[str, Any]],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[str]:
    """Yield the answer's text pieces as the server streams them.

    Retries (with exponential backoff and jitter) on connection errors, timeouts and HTTP
    429/5xx, but only while nothing has been yielded: once a piece went out it may already
    be spoken, and a retry would start the answer again. After that, any failure raises
    ``LlmError(partial=True)``.
    """
    url = config.base_url.rstrip("/") + "/chat/completions"
    body = {
        "model": config.model,
        "messages": messages,
        "stream": True,
        "max_tokens": config.max_tokens,
    }
    headers = {"Accept": "text/event-stream"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    timeout = httpx.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=config.connect_timeout,
        pool=config.connect_timeout,
    )
    # A bound on the answer's length for servers that ignore max_tokens: generous, since
    # it only guards against a stream that never ends.
    max_chars = max(4096, config.max_tokens * _CHARS_PER_TOKEN * 4)
    yielded = 0
    attempt = 0
    client_args: dict[str, Any] = {"timeout": timeout, "follow_redirects": False}
    if transport is not None:
        client_args["transport"] = transport
    elif url.startswith("https:"):
        client_args["verify"] = _ssl_context()
    async with httpx.AsyncClient(**client_args) as client:
        while True:
            try:
                # aclosing: if our consumer stops (cancel, aclose), the attempt's own
                # generator is closed here and now, not whenever it is garbage-collected,
                # so the HTTP response is closed at once.
                async with contextlib.aclosing(_attempt(client, url, body, headers, config)) as it:
                    async for piece in it:
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
                if not exc.retryable or attempt >= config.retries:
                    log.warning("llm: giving up after %d attempt(s): %s", attempt + 1, exc.code)
                    raise
                delay = config.backoff * (2**attempt) * random.uniform(0.8, 1.2)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
                attempt += 1
                log.info(
                    "llm: attempt %d failed (%s); retrying in %.2f s", attempt, exc.code, delay
                )
                await asyncio.sleep(delay)


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
) -> AsyncIterator[str]:
    """One request: yields pieces, raises LlmError (with ``retryable`` set) on failure."""
    answered = False  # headers received: a broken connection is now a cut stream
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            answered = True
            if not 200 <= response.status_code < 300:
                raise await _http_error(response, config.api_key)
            content_type = response.headers.get("content-type", "").lower()
            if content_type.startswith("application/json"):
                # The server ignored "stream": one JSON answer. Slower, but still an answer.
                text = await _whole_answer(response, config.api_key)
                if text:
                    yield text
                return
            async with contextlib.aclosing(_read_events(response, config.api_key)) as events:
                async for piece in events:
                    yield piece
    except LlmError:
        raise
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        log.error("llm: unusable base URL (%s)", type(exc).__name__)
        raise LlmError(
            "llm_misconfigured",
            "The language model's address is not a valid http(s) URL; check LLM_BASE_URL.",
        ) from None
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            log.warning("llm: connect timed out")
            raise LlmError(
                "llm_unavailable",
                "The language model could not be reached in time. Please try again shortly.",
                retryable=True,
            ) from None
        log.warning("llm: %s", type(exc).__name__)
        raise LlmError(
            "llm_timeout", "The language model took too long to answer.", retryable=True
        ) from None
    except httpx.ConnectError as exc:
        log.warning("llm: cannot connect: %s", _scrub(str(exc), config.api_key)[:200])
        raise LlmError(
            "llm_unavailable",
            "The language model could not be reached. Please try again shortly.",
            retryable=True,
        ) from None
    except httpx.DecodingError:
        log.warning("llm: the response body could not be decoded")
        raise LlmError(
            "llm_bad_stream", "The language model sent an answer that could not be read."
        ) from None
    except httpx.HTTPError as exc:
        # Read/write errors and protocol errors: the connection broke.
        log.warning("llm: %s: %s", type(exc).__name__, _scrub(str(exc), config.api_key)[:200])
        if answered:
            raise LlmError(
                "llm_stream_cut",
                "The connection to the language model broke before the answer was complete.",
                retryable=True,
            ) from None
        raise LlmError(
            "llm_unavailable",
            "The language model could not be reached. Please try again shortly.",
            retryable=True,
        ) from None


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


def _server_message(raw: bytes, api_key: str) -> str:
    """The server's own error text: OpenAI's {"error": {"message"}}, Ollama's
    {"error": "..."}, FastAPI's {"detail"}; a short plain-text body; else nothing."""
    text = raw.decode("utf-8", "replace").strip()
    message: Any = None
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            message = err.get("message")
        elif isinstance(err, str):
            message = err
        if not message:
            message = obj.get("message") or obj.get("detail")
    elif obj is None and text and "<" not in text:  # not an HTML error page
        message = text
    if not isinstance(message, str):
        return ""
    message = " ".join(_scrub(message, api_key).split())
    return message[:300] + ("…" if len(message) > 300 else "")


async def _http_error(response: httpx.Response, api_key: str) -> LlmError:
    status = response.status_code
    detail = _server_message(await _read_body(response, MAX_ERROR_BODY), api_key)
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


async def _whole_answer(response: httpx.Response, api_key: str) -> str:
    raw = await _read_body(response, MAX_JSON_BODY)
    try:
        obj = json.loads(raw)
    except ValueError:
        raise LlmError(
            "llm_bad_stream", "The language model sent an answer that could not be read."
        ) from None
    _check_error(obj, api_key)
    try:
        content = obj["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if content is not None and not isinstance(content, str):
        raise LlmError(
            "llm_bad_stream", "The language model sent an answer that could not be read."
        )
    return content or ""


def _check_error(obj: Any, api_key: str) -> None:
    """Servers (vLLM among them) report a failure inside a 200 stream as {"error": ...}."""
    if isinstance(obj, dict) and obj.get("error"):
        detail = _server_message(json.dumps(obj).encode(), api_key)
        log.warning("llm: error inside the stream: %s", detail[:200])
        suffix = f": {detail}" if detail else "."
        raise LlmError("llm_failed", f"The language model reported an error{suffix}")


async def _read_events(response: httpx.Response, api_key: str) -> AsyncIterator[str]:
    decoder = SseDecoder()
    finished = False  # a finish_reason arrived: the stream may end without [DONE]
    bad = LlmError("llm_bad_stream", "The language model sent a stream that could not be read.")
    async for chunk in response.aiter_bytes():
        try:
            events = decoder.feed(chunk)
        except ValueError:  # a line that is not UTF-8, or absurdly long
            raise bad from None
        for data in events:
            if data.strip() == "[DONE]":
                return
            if not data.strip():
                continue  # an empty event: nothing to say, not an error
            try:
                obj = json.loads(data)
            except ValueError:
                raise bad from None
            _check_error(obj, api_key)
            content, finish = _delta(obj)
            if content is _BAD:
                raise bad
            finished = finished or finish
            if content:
                yield content
    if decoder.end() == "[DONE]" or finished:
        return
    # A clean end of the body without [DONE] or a finish_reason: a proxy or the server
    # gave up mid-answer. Treated like a broken connection (retryable before any token).
    raise LlmError(
        "llm_stream_cut",
        "The connection to the language model broke before the answer was complete.",
        retryable=True,
    )


_BAD = object()


def _delta(obj: Any) -> tuple[Any, bool]:
    """(content or None, finished) of one chat.completion.chunk; content is _BAD if the
    chunk is not shaped like one. Chunks without choices (usage reports) are skipped."""
    if not isinstance(obj, dict):
        return _BAD, False
    choices = obj.get("choices")
    if choices is None or choices == []:
        return None, False
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        return _BAD, False
    choice = choices[0]
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        return _BAD, False
    content = delta.get("content")  # role-only and reasoning-only deltas carry none
    if content is not None and not isinstance(content, str):
        return _BAD, False
    return content, choice.get("finish_reason") is not None


class SseDecoder:
    """Incremental server-sent events decoder: bytes in, each event's data out.

    Follows the HTML standard's rules: lines end in CRLF, LF or CR (even when a CRLF is
    split across reads); a line starting with ':' is a comment; ``data:`` lines of one
    event are joined with '\\n'; a blank line dispatches the event; other fields (event,
    id, retry) are ignored. httpx's own ``aiter_lines`` is not used because it splits like
    ``str.splitlines``, i.e. also on U+2028, U+0085 and friends, which JSON may carry raw
    inside a string.
    """

    MAX_LINE = 1024 * 1024
    _EOL = re.compile(rb"\r\n|\r|\n")

    def __init__(self) -> None:
        self._pending = b""  # the current line, not yet terminated
        self._skip_lf = False  # the last read ended in CR: a leading LF belongs to it
        self._data: list[str] = []
        self._first_line = True

    def feed(self, chunk: bytes) -> list[str]:
        """Events completed by ``chunk``. Raises ValueError on a line that is not UTF-8
        or longer than MAX_LINE."""
        if not chunk:
            return []
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        buf = self._pending + chunk if self._pending else chunk
        events: list[str] = []
        start = 0
        for match in self._EOL.finditer(buf):
            event = self._line(buf[start : match.start()])
            if event is not None:
                events.append(event)
            start = match.end()
        self._pending = buf[start:]
        if len(self._pending) > self.MAX_LINE:
            raise ValueError("server-sent event line too long")
        # A final CR may be the first half of a CRLF whose LF is in the next read.
        self._skip_lf = buf.endswith(b"\r")
        return events

    def end(self) -> str | None:
        """At the end of the stream: the data of an event that lacked its closing blank
        line (the standard drops it; the caller may still accept a final [DONE])."""
        if self._pending:
            self._line(self._pending)
            self._pending = b""
        data = "\n".join(self._data) if self._data else None
        self._data = []
        return data

    def _line(self, raw: bytes) -> str | None:
        line = raw.decode("utf-8")  # a complete line cannot end inside a character
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        return None


# ---------------------------------------------------------------------------------------
# Sentences

_TERMINATORS = frozenset(".!?…。！？‼⁇⁈⁉")
# Full-width terminators end a sentence without a following space: CJK text has none.
_CJK_TERMINATORS = frozenset("。！？")
# May follow a terminator and still belong to the sentence: `"Stop." Then`, `**Note.**`.
_CLOSERS = frozenset("\"')]}»”’」』）】〕〉》*")
_OPENERS = "\"'([{«“‘¿¡*"
# Where a sentence too long to wait for may be cut when it has no space.
_SOFT_BREAKS = frozenset(",;:，、；：")
_LINE_BREAKS = frozenset("\n\u2028\u2029")
_ABBREVIATIONS = frozenset(
    """mr mrs ms mx dr prof sr jr st vs fig figs approx dept est inc ltd co corp gen gov
    sen rep rev capt lt col sgt mt ft no nos vol pp ch cf al""".split()
)
# Letters separated by dots: "e.g", "i.e", "U.S", "a.m".
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")


class SentenceSplitter:
    """Cuts a streamed answer into sentences as soon as each is known to be complete.

    A sentence ends after a terminator (``. ! ? …`` followed by whitespace; the CJK
    ``。！？`` with or without it), with any closing quotes or brackets and the whitespace
    that follows, or at a line break. Whether it really ended is decided by the next
    non-space character, so "3." waits to see "3.14", and "Dr." / "e.g." / "J." /
    a list's "1." / an ellipsis or period followed by a lowercase word do not end one.
    A single line break before a lowercase word does not either (a wrapped line);
    a blank line always does.

    A sentence with no end in ``max_chars`` characters is cut at its last space (else
    after a comma-like mark, else anywhere): a long sentence still starts speaking. Every
    piece is at most ``max_chars`` long.

    Each decision depends only on the text up to the character that settles it, so the
    pieces do not depend on how the text was cut into tokens, and ``"".join(pieces) +
    (flush() or "")`` is exactly the text fed.
    """

    def __init__(self, max_chars: int = 300) -> None:
        if max_chars < 2:
            raise ValueError("max_chars must be at least 2")
        self.max_chars = max_chars
        self._buf = ""
        self._scan = 1  # next index of _buf to examine; a boundary needs text before it

    def feed(self, text: str) -> list[str]:
        """The sentences that ``text`` completes, in order (possibly none)."""
        if not text:
            return []
        buf = self._buf + text
        start = 0
        out: list[str] = []
        i = max(self._scan, 1)
        while i < len(buf):
            end = None
            if not buf[i].isspace() and self._ends_before(buf, start, i):
                end = i
            elif i - start >= self.max_chars:
                end = self._cut(buf, start, i)
            if end is None:
                i += 1
                continue
            out.append(buf[start:end])
            start = end
            i = start + 1
        self._buf = buf[start:]
        self._scan = i - start
        return out

    def flush(self) -> str | None:
        """The rest of the text (the last sentence and its trailing space), if any; the
        splitter is then empty and can be reused."""
        rest, self._buf, self._scan = self._buf, "", 1
        return rest or None

    def _ends_before(self, buf: str, start: int, i: int) -> bool:
        """Whether a sentence ends just before ``buf[i]``, a non-space character."""
        j = i
        newlines = 0
        while j > start and buf[j - 1].isspace():
            j -= 1
            newlines += buf[j] in _LINE_BREAKS
        k = j
        while k > start and buf[k - 1] in _CLOSERS:
            k -= 1
        t = k
        while t > start and buf[t - 1] in _TERMINATORS:
            t -= 1
        if (
            t < k
            and self._terminates(buf, start, t, k, j < i, buf[i])
            and t > start
            and not buf[start:t].isspace()  # a sentence needs words, not just "?! "
        ):
            return True
        if newlines and j > start and not buf[start:j].isspace():
            return newlines > 1 or not buf[i].islower()
        return False

    def _terminates(self, buf: str, start: int, t: int, k: int, spaced: bool, nxt: str) -> bool:
        cluster = buf[t:k]
        if any(ch in _CJK_TERMINATORS for ch in cluster):
            # Unspaced, the sentence goes on while closers and terminators do: "。」".
            return spaced or not (nxt in _CLOSERS or nxt in _TERMINATORS)
        if not spaced:
            return False  # "3.14", "a.b", "Hi!!!" still arriving
        if any(ch in "!?‼⁇⁈⁉" for ch in cluster):
            return True
        # Periods and ellipses: a lowercase word after them continues the sentence
        # ("e.g. this", "Well… maybe").
        if nxt.islower():
            return False
        if cluster != ".":
            return True
        s = t
        while s > start and not buf[s - 1].isspace():
            s -= 1
        word = buf[s:t].lstrip(_OPENERS)
        if word.casefold() in _ABBREVIATIONS or _DOTTED.fullmatch(word):
            return False
        if len(word) == 1 and word.isupper():
            return False  # an initial: "J. Smith"
        if word.isdigit() and len(word) <= 3:
            # "1. First": a list number at the start of a line is not a sentence.
            before = buf[start:s].rstrip(" \t")
            return not (before == "" or before[-1] in _LINE_BREAKS)
        return True

    def _cut(self, buf: str, start: int, i: int) -> int:
        """Where to cut ``buf[start:i]`` (max_chars long, no sentence end in it)."""
        first = start
        while first < i and buf[first].isspace():
            first += 1
        for marks in (None, _SOFT_BREAKS):
            for p in range(i - 1, first, -1):
                if buf[p].isspace() if marks is None else buf[p] in marks:
                    return p + 1
        end = i
        # Never between the halves of a surrogate pair held as two code points.
        if end - 1 > start and "\ud800" <= buf[end - 1] <= "\udbff":
            end -= 1
        return end


# ---------------------------------------------------------------------------------------
# Conversation


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 characters a token (English averages a bit more,
    other scripts less, so budgets built on it should keep some slack)."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


#: Per-message overhead of chat templates (role markers and separators), in tokens.
MESSAGE_OVERHEAD = 4
#: The newest user turn is never truncated below this, even under a tiny budget.
MIN_USER_TOKENS = 64


def estimate_messages_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(str(m.get("content", ""))) + MESSAGE_OVERHEAD for m in messages)


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    content: str
    cut: bool = False  # an answer that was interrupted or failed mid-way


class Conversation:
    """The turns of one session, rendered as chat messages within a token budget."""

    def __init__(self, system_prompt: str, token_budget: int = 3000) -> None:
        self.system_prompt = system_prompt
        self.token_budget = token_budget
        self.turns: list[Turn] = []

    def add_user(self, text: str) -> None:
        self.turns.append(Turn("user", text))

    def add_assistant(self, text: str, cut: bool = False) -> None:
        # An answer cut before its first word said nothing: an empty assistant message
        # would only confuse some servers' templates.
        if text.strip():
            self.turns.append(Turn("assistant", text, cut))

    def messages(self) -> list[dict[str, str]]:
        """System prompt first, then the newest turns that fit the budget.

        Whole exchanges (a user message and the answers after it) are dropped oldest
        first, so the history still starts with a user message. The system prompt and the
        newest user message are always kept; that message is cut short if it alone would
        overflow the budget. Consecutive messages of one role (a question whose answer
        failed before a word, then another) are merged, because several servers' chat
        templates insist that roles alternate.
        """
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        groups: list[list[dict[str, str]]] = []
        for turn in self.turns:
            content = turn.content
            if turn.cut:
                # Tell the model the rest was never heard, without inventing words.
                content = content.rstrip() + "…"
            message = {"role": turn.role, "content": content}
            if turn.role == "user" or not groups:
                groups.append([message])
            else:
                groups[-1].append(message)
        budget = self.token_budget
        total = estimate_messages_tokens(system) + sum(estimate_messages_tokens(g) for g in groups)
        while len(groups) > 1 and total > budget:
            total -= estimate_messages_tokens(groups.pop(0))
        if groups and total > budget:
            newest = groups[-1]
            while len(newest) > 1 and total > budget:  # answers after the newest question
                total -= estimate_messages_tokens([newest.pop()])
            if total > budget and newest[0]["role"] == "user":
                room = budget - estimate_messages_tokens(system) - MESSAGE_OVERHEAD
                room = max(room, MIN_USER_TOKENS)
                newest[0]["content"] = newest[0]["content"][: room * _CHARS_PER_TOKEN]
        out = list(system)
        for message in (m for g in groups for m in g):
            if out and out[-1]["role"] == message["role"] and message["role"] != "system":
                out[-1] = {
                    "role": message["role"],
                    "content": f"{out[-1]['content']}\n\n{message['content']}",
                }
            else:
                out.append(message)
        return out


# ---------------------------------------------------------------------------------------
# Answer cache


def normalize_question(question: str) -> str:
    """The form two questions share when they are "the same": NFKC (full-width to
    ASCII), casefolded, whitespace collapsed, trailing punctuation dropped."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1])[0] == "P"):
        end -= 1
    return text[:end]


def cache_key(preset_slug: str, question: str, *, salt: str = "") -> str:
    """sha256 hex naming the cached answer to ``question`` as a preset's first question.

    ``salt`` should carry whatever else shapes the answer (the system prompt, the model),
    so editing the preset stops serving answers written for the old prompt.
    """
    material = json.dumps([preset_slug, salt, normalize_question(question)], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()
