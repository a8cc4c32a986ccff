"""A fake OpenAI-compatible chat-completions server on loopback: real HTTP, real SSE.

Real sockets matter for the same reasons as in ``akool_server``: timeouts, retries, broken
connections and cancellation are only tested for real against a real server. Streams use
HTTP/1.1 chunked encoding, one chunk per event, so a connection closed mid-answer is
visible to the client as an incomplete body (a plain connection-close stream would look
like a normal end).

    with FakeLlm(answer="Hello there. How are you?", tokens_per_second=50) as fake:
        config = LlmConfig(base_url=fake.base_url, api_key=fake.api_key)
        fake.fail_before_first(503, times=2)
        ...
        assert len(fake.requests) == 3
        assert fake.active_streams == 0

Behaviours (each lasts until ``reset()``, except the counted ones): ``answer`` (a text, or
a callable given the request's messages), ``first_token_delay`` (seconds from the request
to the first token; headers go out at once, as vLLM and OpenAI do), ``tokens_per_second``
(None: as fast as possible), ``fail_before_first``, ``fail_mid_stream``,
``malformed_after``, ``hang``, ``sse_style`` ("openai": one ``data:`` line per event;
"tricky": CRLF line ends, comments, ``event:``/``id:`` fields, JSON spread over several
``data:`` lines, all legal SSE), ``call_tools`` (the next requests that list ``tools``,
and do not say ``tool_choice: "none"``, ask for these calls instead of answering: a
scripted tool call, then the answer), and for ``POST /v1/moderations`` (OpenAI's shape)
``flagged`` (words whose presence in the input flags it), ``moderation_status`` (an error
status instead of a verdict) and ``moderation_delay`` (seconds before the verdict).
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.fakes import LoopbackFake

DEFAULT_API_KEY = "fake-llm-key-DO-NOT-LEAK-3b9e"
DEFAULT_ANSWER = (
    "Hello! I am the fake language model. I stream my answer word by word, like a real one would."
)

Answer = str | Callable[[list[dict[str, Any]]], str]


def tokenize(text: str) -> list[str]:
    """The fake's tokens: words with their trailing whitespace (leading whitespace is a
    token of its own); a run longer than 8 characters without spaces (CJK text, a URL)
    goes in 4-character chunks. ``"".join(tokenize(t)) == t``."""
    tokens: list[str] = []
    for part in re.findall(r"\s+|\S+\s*", text):
        word = part.rstrip()
        if len(word) <= 8:
            tokens.append(part)
            continue
        chunks = [word[i : i + 4] for i in range(0, len(word), 4)]
        chunks[-1] += part[len(word) :]
        tokens.extend(chunks)
    return tokens


class _Server(ThreadingHTTPServer):
    # Daemon handler threads, not joined at close: a hung handler must never keep stop()
    # or the test run alive.
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


class FakeLlm(LoopbackFake):
    thread_name = "fake-llm"

    def __init__(
        self,
        answer: Answer = DEFAULT_ANSWER,
        *,
        first_token_delay: float = 0.0,
        tokens_per_second: float | None = None,
        api_key: str | None = DEFAULT_API_KEY,
        model: str = "fake-model",
        sse_style: str = "openai",
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.api_key = api_key  # None: no Authorization required
        self.model = model
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._active = 0
        self._defaults = {
            "answer": answer,
            "first_token_delay": first_token_delay,
            "tokens_per_second": tokens_per_second,
            "sse_style": sse_style,
        }
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def _make_server(self) -> _Server:
        return _Server((self.host, 0), _make_handler(self))

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- behaviour --------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the constructor's behaviour; forget recorded requests."""
        with self._lock:
            self.answer: Answer = self._defaults["answer"]
            self.first_token_delay: float = self._defaults["first_token_delay"]
            self.tokens_per_second: float | None = self._defaults["tokens_per_second"]
            self.sse_style: str = self._defaults["sse_style"]
            self._fail_status = 0
            self._fail_times = 0
            self._retry_after: float | None = None
            self._cut_after: int | None = None
            self._cut_times: int | None = None
            self._malformed_after: int | None = None
            self._hang = False
            self._requests: list[Any] = []
            self._headers: list[dict[str, str]] = []
            self.flagged: tuple[str, ...] = ()
            self.moderation_status = 200
            self.moderation_delay = 0.0
            self._moderations: list[Any] = []
            self._tool_script: list[tuple[str, Any]] = []
            self._tool_times = 0

    def fail_before_first(
        self, status: int, times: int = 1, *, retry_after: float | None = None
    ) -> None:
        """The next ``times`` requests get HTTP ``status`` with an OpenAI-style error."""
        with self._lock:
            self._fail_status, self._fail_times, self._retry_after = status, times, retry_after

    def fail_mid_stream(self, after_tokens: int, times: int | None = None) -> None:
        """Close the connection abruptly after ``after_tokens`` tokens (0: right after the
        headers), for ``times`` streams (None: every stream until reset)."""
        with self._lock:
            self._cut_after, self._cut_times = after_tokens, times

    def call_tools(self, calls: list[tuple[str, Any]], times: int = 1) -> None:
        """The next ``times`` requests offering tools get these (name, arguments) calls
        (arguments: a dict sent as JSON in pieces, or a str sent as is) instead of text."""
        with self._lock:
            self._tool_script, self._tool_times = list(calls), times

    def malformed_after(self, n: int) -> None:
        """Send a data line that is not JSON after ``n`` tokens."""
        with self._lock:
            self._malformed_after = n

    def hang(self) -> None:
        """Accept requests and never answer them (not even headers) until the fake stops
        or the client leaves. Lasts until reset()."""
        with self._lock:
            self._hang = True

    # -- observation ------------------------------------------------------------------------

    @property
    def requests(self) -> list[Any]:
        """JSON bodies received on /v1/chat/completions, in order (failed ones included)."""
        with self._lock:
            return list(self._requests)

    @property
    def moderations(self) -> list[Any]:
        """JSON bodies received on /v1/moderations, in order, with their Authorization."""
        with self._lock:
            return list(self._moderations)

    @property
    def headers(self) -> list[dict[str, str]]:
        """Headers of those requests (lower-cased names)."""
        with self._lock:
            return list(self._headers)

    @property
    def active_streams(self) -> int:
        """Requests being answered right now (waiting for the first token included)."""
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Block until no request is being answered; False if that took over ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.active_streams:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # -- serving (handler threads) ----------------------------------------------------------

    def _serve(self, h: _Handler) -> None:
        path = urlsplit(h.path).path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if h.command == "GET" and path == "/v1/models":
            h.send_json(200, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
            return
        if h.command == "POST" and path == "/v1/moderations":
            self._moderate(h, raw)
            return
        if h.command != "POST" or path != "/v1/chat/completions":
            h.send_json(404, _error(f"Unknown path {path}", "not_found"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self._requests.append(body)
            self._headers.append({k.lower(): v for k, v in h.headers.items()})
        if self.api_key is not None:
            given = h.headers.get("Authorization", "")
            if given != f"Bearer {self.api_key}":
                # Like OpenAI, say which key was wrong (OpenAI masks it; the fake does
                # not, so a test can check the client never repeats it).
                shown = given.removeprefix("Bearer ")
                h.send_json(401, _error(f"Incorrect API key provided: {shown}.", "invalid_api_key"))
                return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            h.send_json(400, _error("'messages' is required.", "invalid_request_error"))
            return
        with self._lock:
            self._active += 1
            try:
                plan = self._plan(body)
            except Exception:
                self._active -= 1
                raise
        try:
            if plan["fail"] is not None:
                status, retry_after = plan["fail"]
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                h.send_json(status, _error(f"Fake failure (HTTP {status}).", "fake"), extra)
            elif plan["hang"]:
                h.close_connection = True
                self._wait(h, None)
            elif body.get("stream"):
                self._stream(h, body, plan)
            else:
                self._whole(h, body, plan)
        finally:
            with self._lock:
                self._active -= 1

    def _moderate(self, h: _Handler, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self._moderations.append((body, h.headers.get("Authorization", "")))
            status, delay, words = self.moderation_status, self.moderation_delay, self.flagged
        if delay and not self._wait(h, time.monotonic() + delay):
            return
        if status != 200:
            h.send_json(status, _error(f"Fake moderation failure (HTTP {status}).", "fake"))
            return
        text = str((body or {}).get("input", "")).casefold()
        flagged = any(word.casefold() in text for word in words)
        h.send_json(200, {"id": "modr-fake", "results": [{"flagged": flagged}]})

    def _plan(self, body: dict[str, Any]) -> dict[str, Any]:
        """Under the lock: what this request gets (counted failures are used up here)."""
        fail = None
        if self._fail_times > 0:
            self._fail_times -= 1
            fail = (self._fail_status, self._retry_after)
        cut = self._cut_after
        if cut is not None and self._cut_times is not None:
            if self._cut_times <= 0:
                cut = None
            else:
                self._cut_times -= 1
        tool_calls = None
        if self._tool_times > 0 and body.get("tools") and body.get("tool_choice") != "none":
            self._tool_times -= 1
            tool_calls = self._tool_script
        # Calls instead of an answer: a callable answer is not asked (it may expect results).
        answer = "" if tool_calls else self.answer
        text = answer(body["messages"]) if callable(answer) else answer
        return {
            "fail": fail,
            "tool_calls": tool_calls,
            "hang": self._hang,
            "cut": cut,
            "malformed": self._malformed_after,
            "tokens": tokenize(text),
            "delay": self.first_token_delay,
            "tps": self.tokens_per_second,
            "style": self.sse_style,
        }

    def _wait(self, h: _Handler, until: float | None) -> bool:
        """Sleep until ``until`` (monotonic; None: until stopped). False if the client
        went away or the server is stopping: watching the socket, not just the clock, is
        what lets a test see a cancelled client's stream end while the fake is idle."""
        while not self._stopping.is_set():
            remaining = 0.05 if until is None else until - time.monotonic()
            if remaining <= 0:
                return True
            readable, _, _ = select.select([h.connection], [], [], min(remaining, 0.05))
            if readable:
                try:
                    data = h.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return False
                if not data:
                    return False  # EOF: the client closed its side
                time.sleep(min(remaining, 0.05))  # unexpected bytes: not a close
        return False

    def _stream(self, h: _Handler, body: dict[str, Any], plan: dict[str, Any]) -> None:
        started = time.monotonic()
        h.close_connection = True
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream; charset=utf-8")
            h.send_header("Cache-Control", "no-cache")
            h.send_header("Transfer-Encoding", "chunked")
            h.send_header("Connection", "close")
            h.end_headers()
        except OSError:
            return  # the client is already gone
        style = plan["style"]
        cid = f"chatcmpl-fake-{int(started * 1000)}"
        model = body.get("model") or self.model

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        n = 0

        def send(data: Any, raw: str | None = None) -> bool:
            nonlocal n
            n += 1
            text = raw if raw is not None else json.dumps(data, ensure_ascii=False)
            if style == "tricky":
                # Pretty-printed JSON over several data lines, CRLF, a comment, id/event.
                lines = text if raw is not None else json.dumps(data, ensure_ascii=False, indent=1)
                event = f": tick {n}\r\nid: {n}\r\nevent: message\r\n"
                event += "".join(f"data:{line}\r\n" for line in lines.split("\n")) + "\r\n"
            else:
                event = f"data: {text}\n\n"
            return h.write_chunk(event.encode())

        if style == "tricky" and not h.write_chunk(b"\xef\xbb\xbf: stream opened\n\n"):
            return
        if not send(chunk({"role": "assistant", "content": ""})):
            return
        if plan["tool_calls"] and plan["cut"] is not None:
            # Cut mid-call: the call's name went out, its arguments did not.
            name = plan["tool_calls"][0][0]
            send(chunk({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": name}}]}))
            h.abort()
            return
        if plan["tool_calls"]:
            self._send_tool_calls(plan["tool_calls"], chunk, send)
            h.write_chunk(b"")
            return
        first_at = started + plan["delay"]
        tps = plan["tps"]
        tokens = plan["tokens"]
        for i, token in enumerate(tokens):
            if i == plan["cut"]:
                h.abort()
                return
            if i == plan["malformed"]:
                send(None, raw='{"choices": [{"delta": {"content": "oops"')
                break
            due = first_at + (i / tps if tps else 0.0)
            if due > time.monotonic() and not self._wait(h, due):
                return
            if not send(chunk({"content": token})):
                return
        else:
            if plan["cut"] is not None and plan["cut"] >= len(tokens):
                h.abort()
                return
            if not send(chunk({}, "stop")):
                return
        if send(None, raw="[DONE]"):
            h.write_chunk(b"")

    @staticmethod
    def _send_tool_calls(calls: list[tuple[str, Any]], chunk: Any, send: Any) -> None:
        """OpenAI's way: each call's id and name first, its arguments in small pieces."""
        for i, (name, arguments) in enumerate(calls):
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            head = {"index": i, "id": f"call_fake_{i}", "type": "function"}
            if not send(chunk({"tool_calls": [{**head, "function": {"name": name}}]})):
                return
            for at in range(0, len(text), 7):
                piece = {"index": i, "function": {"arguments": text[at : at + 7]}}
                if not send(chunk({"tool_calls": [piece]})):
                    return
        if send(chunk({}, "tool_calls")):
            send(None, raw="[DONE]")

    def _whole(self, h: _Handler, body: dict[str, Any], plan: dict[str, Any]) -> None:
        # Generation takes as long as streaming would; the answer comes at the end.
        tps, tokens = plan["tps"], plan["tokens"]
        done = time.monotonic() + plan["delay"] + (len(tokens) / tps if tps else 0.0)
        if not self._wait(h, done):
            return
        text = "".join(tokens)
        h.send_json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body.get("model") or self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
            },
        )


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLlm

    def do_GET(self) -> None:
        self.fake._serve(self)

    def do_POST(self) -> None:
        self.fake._serve(self)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up; nothing left to tell it

    def write_chunk(self, data: bytes) -> bool:
        """One chunk of a chunked body (empty: the terminating one), sent at once.
        False if the client has gone away."""
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            return True
        except OSError:
            return False

    def abort(self) -> None:
        """Close the connection without ending the chunked body."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: test output stays readable, and request lines never reach a log.
        pass


def _make_handler(fake: FakeLlm) -> type[_Handler]:
    return type("FakeLlmHandler", (_Handler,), {"fake": fake})


@contextlib.contextmanager
def serving(
    settings: Any, answer: Answer = DEFAULT_ANSWER, *, retries: int = 2
) -> Iterator[FakeLlm]:
    """A fake LLM the site is configured to use (pytest-django's ``settings``) for the
    block: what the session tests' ``llm`` fixtures share."""
    with FakeLlm(answer) as server:
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_API_KEY = server.api_key
        settings.LLM_MODEL = "fake-model"
        settings.LLM_RETRIES = retries
        settings.LLM_READ_TIMEOUT = 2.0
        yield server
