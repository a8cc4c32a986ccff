"""A fake AKool open API on loopback, with real sockets, for tests.

It speaks the subset of AKool's HTTP API the app uses (sessions/providers/akool/), keeps
its sessions in memory, and can be told to misbehave per endpoint (`fail`). Real sockets
matter: the provider's timeouts, connection errors and retries are only tested for real
against a real server.

    with FakeAkool() as fake:
        provider = AkoolProvider(base_url=fake.base_url, api_key=fake.api_key)
        fake.fail("create", "http500", times=1)
        ...
        assert fake.count("create") == 1

Sessions carry a creation time (`create_time`, unix ms, by default: AKool documents no
name for it; `created_time_key` and `created_time_format` pick another). `add_session`
makes a session "from elsewhere" (AKool's console, another deployment), and
`fail(..., after=True)` lets a request take effect before it fails: a create that made its
session and then timed out or dropped.

A create answers each `stream_type` with that network's credentials (`trtc_spelling`
picks TRTC's documented or demo keys); `answer_stream_type` and `omit_credentials` make an
answer that does not fit the network asked for.

Codes the fake invents where AKool documents none: 1003 for bad input or an unknown
session, 1005 when `max_live_sessions` is reached.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.fakes import LoopbackFake
from tests.support.fakes.akool_catalog import (
    LANGUAGES,
    make_avatar,
    make_knowledge,
    make_voice,
    page_of,
)

DEFAULT_API_KEY = "fake-akool-key-DO-NOT-LEAK-7f3a"
DEFAULT_CLIENT_ID = "fake-akool-client-id"
DEFAULT_CLIENT_CREDENTIAL = "fake-akool-secret-DO-NOT-LEAK-91c2"
# Issued tokens carry this marker too, so a leak test can look for them by name.
BEARER_PREFIX = "fake-akool-token-DO-NOT-LEAK-"

ENDPOINTS: dict[tuple[str, str], str] = {
    ("POST", "/api/open/v3/getToken"): "token",
    ("POST", "/api/open/v4/liveAvatar/session/create"): "create",
    ("POST", "/api/open/v4/liveAvatar/session/close"): "close",
    ("GET", "/api/open/v4/liveAvatar/session/detail"): "detail",
    ("GET", "/api/open/v4/liveAvatar/session/list"): "list",
    ("GET", "/api/open/v4/liveAvatar/avatar/list"): "avatars",
    ("GET", "/api/open/v4/voice/list"): "voices",
    ("GET", "/api/open/v3/language/list"): "languages",
    # Knowledge bases (issue 18): _knowledge_list / _knowledge_create below.
    ("GET", "/api/open/v4/knowledge/list"): "knowledge_list",
    ("POST", "/api/open/v4/knowledge/create"): "knowledge_create",
}
# The networks AKool streams on (create's `stream_type`); another name is refused (1003).
STREAM_TYPES = {"agora", "livekit", "trtc"}
FAIL_MODES = {"http500", "hang", "code", "malformed", "empty", "nocode", "drop", "json"}
# How a session's creation time is spelled in answers (see FakeAkool.created_time_format).
TIME_FORMATS = {"ms", "s", "iso"}


class _Server(ThreadingHTTPServer):
    # Daemon handler threads: a hung handler must never keep stop() or the test run alive.
    daemon_threads = True
    # The default backlog of 5 drops connections when a test fires a dozen calls at once,
    # which the client would see as connect timeouts that the real AKool would not cause.
    request_queue_size = 128


@dataclass
class RecordedRequest:
    method: str
    path: str
    endpoint: str | None  # one of ENDPOINTS' names, None for an unknown path
    query: dict[str, str]
    json: Any  # the parsed body, None when there was none or it was not JSON
    headers: dict[str, str]  # lower-cased names


@dataclass
class _Failure:
    mode: str
    remaining: int | None  # None: until heal()
    code: int
    msg: str
    http_status: int
    body: Any
    after: bool = False  # the request takes effect first, then this is its answer


@dataclass
class _Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    drop: bool = False  # close the connection without any answer


class FakeAkool(LoopbackFake):
    """A threaded fake AKool server. Every public attribute may be read or set by tests."""

    thread_name = "fake-akool"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_CREDENTIAL,
        avatar_count: int = 3,
        voice_count: int = 3,
        host: str = "127.0.0.1",
    ) -> None:
        self.api_key = api_key
        self.client_id = client_id
        self.client_secret = client_secret
        self.host = host
        self.sessions: dict[str, dict[str, Any]] = {}
        self.avatars: list[dict[str, Any]] = []
        self.voices: list[dict[str, Any]] = []
        self.languages: list[dict[str, Any]] = [dict(lang) for lang in LANGUAGES]
        self.requests: list[RecordedRequest] = []
        self.tokens: set[str] = set()  # tokens currently valid
        self.issued_tokens: list[str] = []  # every token ever issued, revoked ones included
        # False: the voice list ignores page/size and always answers everything, as an
        # unpaginated upstream would.
        self.voices_paginated = True
        # Where the session list puts its items: "result" (like AKool's other lists),
        # "list", or None for `data` being the bare list.
        self.session_list_key: str | None = "result"
        # Creates beyond this many live sessions are refused (code 1005); None: no cap.
        self.max_live_sessions: int | None = None
        # The key of a session's creation time in answers (None: left out), and its format:
        # "ms" (unix milliseconds), "s" (unix seconds) or "iso" (ISO-8601, UTC, with "Z").
        self.created_time_key: str | None = "create_time"
        self.created_time_format = "ms"
        # Each `stream_type` gets its own credentials' shape. TRTC's keys as AKool's docs
        # spell them ("docs": trtc_sdk_*) or as its official demo reads them ("demo": trtc_*).
        self.trtc_spelling = "docs"
        # Misbehaviour of a create's answer: claim another `stream_type` than the one asked
        # for (None: the one asked for; "": none), and leave these keys out of its
        # credentials.
        self.answer_stream_type: str | None = None
        self.omit_credentials: tuple[str, ...] = ()
        # ... and give these credentials these values instead (a hostile answer's).
        self.credential_values: dict[str, Any] = {}
        self.set_avatar_count(avatar_count)
        self.set_voice_count(voice_count)
        # Knowledge bases AKool lists; a create appends to it (`{_id, name, prologue, ...}`).
        self.knowledge: list[dict[str, Any]] = [make_knowledge(i) for i in (1, 2)]

        self._lock = threading.Lock()
        self._failures: dict[str, _Failure] = {}
        self._holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------------------------

    def _make_server(self) -> _Server:
        return _Server((self.host, 0), _make_handler(self))

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- test controls ----------------------------------------------------------------------

    def fail(
        self,
        endpoint: str,
        mode: str,
        *,
        times: int | None = None,
        code: int = 1003,
        msg: str = "fake failure",
        http_status: int | None = None,
        body: Any = None,
        after: bool = False,
    ) -> None:
        """Make `endpoint` misbehave for its next `times` requests (None: until heal()).

        Modes: "http500" (HTTP 500, or `http_status`, with a plain-text body), "hang" (no
        answer until the server stops), "code" (`{"code": code, "msg": msg}` with HTTP 200
        or `http_status`), "malformed" (HTTP 200, not JSON), "empty" (HTTP 200, no body),
        "nocode" (JSON without a code), "drop" (connection closed without an answer),
        "json" (HTTP 200 or `http_status` with `body` as given).

        With `after`, each request first takes effect as usual (a create makes its session,
        a close closes) and only its answer is the failure: what the client sees when the
        upstream did the work but the answer never came.
        """
        if endpoint not in ENDPOINTS.values():
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown mode {mode!r}")
        default_status = 500 if mode == "http500" else 200
        with self._lock:
            self._failures[endpoint] = _Failure(
                mode=mode,
                remaining=times,
                code=code,
                msg=msg,
                http_status=http_status or default_status,
                body=body,
                after=after,
            )

    def hold(self, endpoint: str) -> tuple[threading.Event, threading.Event]:
        """Make the next request to `endpoint` wait, before it takes effect, until the test
        sets the second event returned; the first is set when that request arrives. For
        interleaving two callers deterministically (a slow upstream, without sleeping)."""
        if endpoint not in ENDPOINTS.values():
            raise ValueError(f"unknown endpoint {endpoint!r}")
        arrived, release = threading.Event(), threading.Event()
        with self._lock:
            self._holds[endpoint] = (arrived, release)
        return arrived, release

    def heal(self, endpoint: str | None = None) -> None:
        """Stop every failure (or the one of `endpoint`)."""
        with self._lock:
            if endpoint is None:
                self._failures.clear()
            else:
                self._failures.pop(endpoint, None)

    def set_avatar_count(self, count: int) -> None:
        self.avatars = [make_avatar(i) for i in range(1, count + 1)]

    def set_voice_count(self, count: int) -> None:
        self.voices = [make_voice(i) for i in range(1, count + 1)]

    def revoke_tokens(self) -> None:
        """Invalidate every issued token: the next Bearer call gets code 1101."""
        with self._lock:
            self.tokens.clear()

    def add_session(
        self, *, created_at: float | None = None, duration: int = 600, status: int = 2
    ) -> str:
        """A session made elsewhere (AKool's console, another deployment), not through the
        API under test; `created_at`: its unix creation time (default now). Its id."""
        with self._lock:
            session = self._new_session({"avatar_id": "console_avatar", "duration": duration})
            session["status"] = status
            if created_at is not None:
                session["_created_at"] = created_at
            return str(session["_id"])

    def set_status(self, session_id: str, status: int) -> None:
        """Move a session to `status` (1 queueing, 2 live, 3 completed, 4 failed)."""
        with self._lock:
            self.sessions[session_id]["status"] = status

    def live_ids(self) -> set[str]:
        """Ids of the sessions AKool would still run (and bill): status 1 or 2."""
        with self._lock:
            self._expire()
            return {sid for sid, s in self.sessions.items() if s["status"] in (1, 2)}

    def count(self, endpoint: str) -> int:
        """How many requests reached `endpoint` (failed ones included)."""
        with self._lock:
            return sum(1 for r in self.requests if r.endpoint == endpoint)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    # -- request handling (called from handler threads) ---------------------------------------

    def _handle(self, request: RecordedRequest) -> _Reply:
        with self._lock:
            self.requests.append(request)
            if request.endpoint is None:
                return _Reply(404, b"Not Found", "text/plain")
            failure = self._take_failure(request.endpoint)
            hold = self._holds.pop(request.endpoint, None)
        if hold is not None:
            hold[0].set()
            hold[1].wait(timeout=60)  # never longer than a test could take
        if failure is not None and not failure.after:
            return self._failure_reply(failure)
        reply = self._serve_request(request)
        # `after`: the request took effect; its answer is lost (outside the lock: a hang).
        return reply if failure is None else self._failure_reply(failure)

    def _serve_request(self, request: RecordedRequest) -> _Reply:
        with self._lock:
            if request.endpoint == "token":
                return self._token(request)
            refusal = self._check_auth(request)
            if refusal is not None:
                return refusal
            self._expire()
            handler = getattr(self, f"_{request.endpoint}")
            reply: _Reply = handler(request)
            return reply

    def _take_failure(self, endpoint: str) -> _Failure | None:
        failure = self._failures.get(endpoint)
        if failure is None:
            return None
        if failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                del self._failures[endpoint]
        return failure

    def _failure_reply(self, failure: _Failure) -> _Reply:
        status = failure.http_status
        if failure.mode == "hang":
            # Longer than any client timeout; stop() cuts it short.
            self._stopping.wait(timeout=60)
            return _Reply(drop=True)
        if failure.mode == "drop":
            return _Reply(drop=True)
        if failure.mode == "http500":
            return _Reply(status, b"Internal Server Error", "text/plain")
        if failure.mode == "code":
            return _json(status, {"code": failure.code, "msg": failure.msg})
        if failure.mode == "malformed":
            return _Reply(200, b"<html><body>upstream proxy error</body></html>", "text/html")
        if failure.mode == "empty":
            return _Reply(200, b"")
        if failure.mode == "nocode":
            return _json(200, {"msg": "OK", "data": {}})
        return _json(status, failure.body)  # "json"

    def _check_auth(self, request: RecordedRequest) -> _Reply | None:
        authorization = request.headers.get("authorization", "")
        api_key = request.headers.get("x-api-key")
        # AKool: if both headers are sent, Bearer wins.
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token in self.tokens:
                return None
            return _json(200, {"code": 1101, "msg": "invalid or expired token"})
        if api_key is not None:
            if api_key == self.api_key:
                return None
            return _json(200, {"code": 1101, "msg": "invalid api key"})
        return _json(200, {"code": 1102, "msg": "authorization missing"})

    def _expire(self) -> None:
        # Like AKool: a session ends by itself when its duration is over.
        now = time.time()
        for session in self.sessions.values():
            if session["status"] in (1, 2) and now >= session["_expires_at"]:
                session["status"] = 3

    def _token(self, request: RecordedRequest) -> _Reply:
        body = request.json if isinstance(request.json, dict) else {}
        if (body.get("clientId"), body.get("clientSecret")) != (self.client_id, self.client_secret):
            return _json(200, {"code": 1101, "msg": "invalid clientId or clientSecret"})
        token = BEARER_PREFIX + secrets.token_hex(8)
        self.tokens.add(token)
        self.issued_tokens.append(token)
        return _json(200, {"code": 1000, "msg": "OK", "token": token})

    def _create(self, request: RecordedRequest) -> _Reply:
        body = request.json if isinstance(request.json, dict) else {}
        avatar_id = body.get("avatar_id")
        duration = body.get("duration")
        if not isinstance(avatar_id, str) or not avatar_id:
            return _json(200, {"code": 1003, "msg": "avatar_id is required"})
        if not isinstance(duration, int) or not 1 <= duration <= 3600:
            return _json(200, {"code": 1003, "msg": "duration must be 1 to 3600 seconds"})
        if body.get("stream_type", "agora") not in STREAM_TYPES:
            return _json(200, {"code": 1003, "msg": "unknown stream_type"})
        live = sum(1 for s in self.sessions.values() if s["status"] in (1, 2))
        if self.max_live_sessions is not None and live >= self.max_live_sessions:
            return _json(200, {"code": 1005, "msg": "concurrent session limit reached"})
        session = self._new_session(body)
        return _json(200, {"code": 1000, "msg": "OK", "data": self._public(session)})

    def _new_session(self, body: dict[str, Any]) -> dict[str, Any]:
        # Called with the lock held.
        duration = body["duration"]
        number = next(self._ids)
        session_id = f"{number:08x}{secrets.token_hex(8)}"
        session = {
            "_id": session_id,
            "uid": 100000 + number,
            "type": 2,
            "status": 2,
            "stream_type": body.get("stream_type", "agora"),
            "avatar_id": body["avatar_id"],
            "duration": duration,
            "request": body,
            "credentials": self._credentials(body.get("stream_type", "agora"), number, session_id),
            "_created_at": time.time(),
            "_expires_at": time.time() + duration,
        }
        if self.answer_stream_type is not None:
            session["stream_type"] = self.answer_stream_type
            if not self.answer_stream_type:  # "": the answer leaves it out
                del session["stream_type"]
        self.sessions[session_id] = session
        return session

    def _credentials(self, stream_type: str, number: int, session_id: str) -> dict[str, Any]:
        """The join credentials of `stream_type`, keyed as AKool's answers key them."""
        if stream_type == "livekit":
            credentials: dict[str, Any] = {
                "livekit_url": "wss://fake-livekit.invalid",
                "livekit_token": f"fake-livekit-token-{secrets.token_hex(8)}",
                "livekit_room_name": f"fake-room-{session_id}",
                "livekit_server_identity": f"fake-avatar-{number}",
                "livekit_client_identity": f"fake-client-{number}",
            }
        elif stream_type == "trtc":
            prefix = "trtc_sdk_" if self.trtc_spelling == "docs" else "trtc_"
            credentials = {
                f"{prefix}app_id": 1400000001,
                f"{prefix}room_id": 300000 + number,
                f"{prefix}user_id": f"fake-client-{number}",
                f"{prefix}user_sig": f"fake-trtc-sig-{secrets.token_hex(8)}",
            }
        else:
            credentials = {
                "agora_uid": 200000 + number,
                "agora_app_id": "fake-agora-app-id",
                "agora_channel": f"fake-channel-{session_id}",
                "agora_token": f"fake-agora-token-{secrets.token_hex(8)}",
            }
        credentials.update(self.credential_values)
        return {k: v for k, v in credentials.items() if k not in self.omit_credentials}

    def _close(self, request: RecordedRequest) -> _Reply:
        body = request.json if isinstance(request.json, dict) else {}
        session_id = body.get("id") or body.get("session_id")
        session = self.sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            return _json(200, {"code": 1003, "msg": "session not found"})
        # Closing an ended session is accepted, as a retried close must be.
        if session["status"] in (1, 2):
            session["status"] = 3
        return _json(200, {"code": 1000, "msg": "OK"})

    def _detail(self, request: RecordedRequest) -> _Reply:
        session = self.sessions.get(request.query.get("id", ""))
        if session is None:
            return _json(200, {"code": 1003, "msg": "session not found"})
        return _json(200, {"code": 1000, "msg": "OK", "data": self._public(session)})

    def _list(self, request: RecordedRequest) -> _Reply:
        items = list(self.sessions.values())
        status = request.query.get("status")
        if status:
            items = [s for s in items if str(s["status"]) == status]
        page = page_of(items, request.query)
        data: Any = [self._public(s) for s in page]
        if self.session_list_key is not None:
            data = {"count": len(items), self.session_list_key: data}
        return _json(200, {"code": 1000, "msg": "OK", "data": data})

    def _public(self, session: dict[str, Any]) -> dict[str, Any]:
        # What AKool answers: the session without the fake's own bookkeeping, and its
        # creation time spelled as configured.
        public = {k: v for k, v in session.items() if not k.startswith("_") or k == "_id"}
        created = session.get("_created_at")
        if self.created_time_key is not None and created is not None:
            public[self.created_time_key] = _format_time(created, self.created_time_format)
        return public

    def _avatars(self, request: RecordedRequest) -> _Reply:
        page = page_of(self.avatars, request.query)
        return _json(
            200, {"code": 1000, "msg": "OK", "data": {"count": len(self.avatars), "result": page}}
        )

    def _voices(self, request: RecordedRequest) -> _Reply:
        page = page_of(self.voices, request.query) if self.voices_paginated else self.voices
        return _json(200, {"code": 1000, "msg": "OK", "data": {"result": page}})

    def _languages(self, request: RecordedRequest) -> _Reply:
        return _json(200, {"code": 1000, "msg": "OK", "data": {"lang_list": self.languages}})

    # -- knowledge bases (issue 18) -----------------------------------------------------------

    def _knowledge_list(self, request: RecordedRequest) -> _Reply:
        page = page_of(self.knowledge, request.query)
        data = {"count": len(self.knowledge), "knowledge_list": page}
        return _json(200, {"code": 1000, "msg": "OK", "data": data})

    def _knowledge_create(self, request: RecordedRequest) -> _Reply:
        body = request.json if isinstance(request.json, dict) else {}
        refusal = knowledge_refusal(body)
        if refusal:
            return _json(200, {"code": 1003, "msg": refusal})
        item = {
            "_id": f"fake_kb_{next(self._ids):04d}",
            **{k: body[k] for k in ("name", "prologue", "prompt", "docs", "urls") if k in body},
        }
        self.knowledge.append(item)
        return _json(200, {"code": 1000, "msg": "OK", "data": item})


def knowledge_refusal(body: dict[str, Any]) -> str:
    """What AKool's documented limits refuse in a knowledge base create, or ""."""
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        return "name is required, at most 100 characters"
    if len(str(body.get("prologue", ""))) > 100 or len(str(body.get("prompt", ""))) > 10000:
        return "prologue or prompt too long"
    docs = body.get("docs", [])
    if not isinstance(docs, list) or not all(isinstance(d, dict) and d.get("url") for d in docs):
        return "docs must be a list of {name, url, size}"
    return ""


def _json(status: int, body: Any) -> _Reply:
    return _Reply(status, json.dumps(body).encode())


def _format_time(moment: float, form: str) -> Any:
    if form == "ms":
        return int(moment * 1000)
    if form == "s":
        return int(moment)
    if form == "iso":
        stamp = datetime.fromtimestamp(moment, tz=timezone.utc)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise ValueError(f"unknown time format {form!r} (one of {sorted(TIME_FORMATS)})")


def _make_handler(fake: FakeAkool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a dropped or hung exchange never
        # poisons a kept-alive connection of another test.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            request = RecordedRequest(
                method=self.command,
                path=url.path,
                endpoint=ENDPOINTS.get((self.command, url.path)),
                query={k: v[-1] for k, v in parse_qs(url.query).items()},
                json=parsed,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            reply = fake._handle(request)
            if reply.drop:
                self.close_connection = True
                return
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); nothing left to tell it

        def log_message(self, format: str, *args: Any) -> None:
            # Silent: test output stays readable, and request lines never reach a log.
            pass

    return Handler
