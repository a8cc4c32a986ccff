"""The AKool Live Avatar provider: an httpx client for AKool's open API.

Every AKool answer is `{"code", "msg", "data"}` and only `code == 1000` is success, whatever
the HTTP status says, so each answer is read in one place (`_interpret`) and turned into
either a body or one of base.py's errors. Nothing here imports Django: the factory passes the
settings in, and tests point `base_url` at a fake server on loopback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import ssl
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

from sessions.providers.base import (
    CatalogAvatar,
    CatalogLanguage,
    CatalogVoice,
    ProviderError,
    RtcCredentials,
    SessionRequest,
    UpstreamProtocolError,
    UpstreamRefused,
    UpstreamSession,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("avatarsite.akool")

AUTH_PATH = "/api/open/v3/getToken"
SESSION_CREATE_PATH = "/api/open/v4/liveAvatar/session/create"
SESSION_CLOSE_PATH = "/api/open/v4/liveAvatar/session/close"
SESSION_DETAIL_PATH = "/api/open/v4/liveAvatar/session/detail"
SESSION_LIST_PATH = "/api/open/v4/liveAvatar/session/list"
AVATAR_LIST_PATH = "/api/open/v4/liveAvatar/avatar/list"
VOICE_LIST_PATH = "/api/open/v4/voice/list"
LANGUAGE_LIST_PATH = "/api/open/v3/language/list"

# OS entropy: nothing (a test's random.seed(), identical seeds in forked workers) can make
# the jitter of several processes line up again.
_JITTER = random.SystemRandom()

SUCCESS = 1000
TOKEN_INVALID = 1101
# AKool's lists accept at most 100 items a page.
PAGE_SIZE = 100
# A bound on pagination, so an upstream that never returns a short page cannot keep us
# looping: 50 pages of 100 is far more than any account's avatars or live sessions.
MAX_PAGES = 50
# AKool's `msg` is shown to people; a runaway one should not flood a page or a log line.
MAX_MSG_CHARS = 300
# Where a session's creation time may be: AKool documents no name for it, so the usual
# spellings, first found wins (top level only).
CREATED_AT_KEYS = (
    "create_time",
    "createTime",
    "created_at",
    "createdAt",
    "create_at",
    "created",
    "start_time",
    "startTime",
    "gmt_create",
)
# A unix time above this is in milliseconds (1e11 seconds is the year 5138).
MILLISECONDS_ABOVE = 1e11
# A creation time outside these years is garbage, not a session of ours.
PLAUSIBLE_YEARS = (2001, 2100)


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix (network, timeout, 5xx/429).

    It carries the error to raise when no attempt is left, so the retry loop stays the only
    place that decides whether to try again.
    """

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class AkoolProvider:
    """base.Provider for AKool, authenticated by API key or by client id/secret."""

    name = "akool"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        client_id: str = "",
        client_secret: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client_id = client_id
        self._client_secret = client_secret
        # httpx's read timeout bounds each read, not the whole answer; the total deadline
        # also stops an upstream that trickles a byte at a time from holding a call forever.
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._deadline = connect_timeout + 2 * read_timeout
        # The longest one request can last: a create we gave up on made nothing after it.
        self.request_deadline = self._deadline
        self._read_timeout = read_timeout
        self._retries = max(0, retries)
        self._backoff = max(0.0, backoff)
        self._transport = transport
        # Building an SSL context (loading the CA bundle) costs ~20 ms, more than a whole
        # call to a nearby server; contexts are not tied to a loop, so one is kept and reused.
        self._ssl_context: ssl.SSLContext | None = None
        self._token: str | None = None
        # One lock per event loop: an asyncio.Lock is bound to the loop it first waits on,
        # and this object outlives loops (tests, async_to_sync), so a single lock would break.
        self._token_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        # Spelled out so that no credential ever shows up in a repr, a debugger or a log.
        auth = "api_key" if self._api_key else "client_id" if self._client_id else "none"
        return f"<AkoolProvider {self._base_url} auth={auth}>"

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(self, request: SessionRequest) -> UpstreamSession:
        body: dict[str, Any] = {"avatar_id": request.avatar_id, "duration": request.duration}
        optional: dict[str, Any] = {
            "voice_id": request.voice_id,
            "language": request.language,
            "mode_type": request.mode,
            "background_url": request.background_url,
            "knowledge_id": request.knowledge_id,
            "voice_params": request.voice_params,
        }
        # AKool reads an empty string as a value (e.g. an empty voice_id), so leave them out.
        body.update({key: value for key, value in optional.items() if value})
        # Never retried: a create that timed out may still have started (and billed) a
        # session; the reaper reconciles such orphans with the upstream list instead.
        answer = await self._call("POST", SESSION_CREATE_PATH, body=body, idempotent=False)
        data = _data_object(answer)
        session = _parse_session(data)
        if session.rtc is None:
            # A session we cannot join still runs and bills until its duration ends.
            await self._close_quietly(session.id)
            raise UpstreamProtocolError(
                "AKool created the session but sent no Agora credentials to join it."
            )
        return session

    async def close_session(self, upstream_id: str) -> None:
        # AKool's schema and demo send `id`, its examples and LiveKit plugin `session_id`.
        body = {"id": upstream_id, "session_id": upstream_id}
        await self._call("POST", SESSION_CLOSE_PATH, body=body, idempotent=True)

    async def session_detail(self, upstream_id: str) -> UpstreamSession:
        answer = await self._call(
            "GET", SESSION_DETAIL_PATH, params={"id": upstream_id}, idempotent=True
        )
        return _parse_session(_data_object(answer))

    async def list_sessions(self, status: int | None = None) -> list[UpstreamSession]:
        params: dict[str, Any] = {} if status is None else {"status": status}
        items = await self._paged(SESSION_LIST_PATH, params, _session_key)
        sessions = []
        for item in items:
            try:
                sessions.append(_parse_session(item))
            except UpstreamProtocolError as exc:
                # One garbled entry must not hide the others from the reconciliation.
                logger.warning("AKool listed a session we cannot read: %s", exc.message)
        return sessions

    # -- catalog ----------------------------------------------------------------------------

    async def list_avatars(self) -> list[CatalogAvatar]:
        items = await self._paged(AVATAR_LIST_PATH, {}, lambda item: _text(item.get("avatar_id")))
        return [
            CatalogAvatar(
                avatar_id=_text(item.get("avatar_id")),
                name=_text(item.get("name")) or _text(item.get("avatar_id")),
                thumbnail_url=_text(item.get("thumbnailUrl")) or _text(item.get("url")),
                voice_id=_text(item.get("voice_id")),
                gender=_text(item.get("gender")),
                available=_flag(item.get("available"), default=True),
            )
            for item in items
        ]

    async def list_voices(self) -> list[CatalogVoice]:
        # support_stream=1: only voices the live avatar can speak; type=2: AKool's own voices.
        params = {"support_stream": 1, "type": 2}
        items = await self._paged(VOICE_LIST_PATH, params, lambda item: _text(item.get("voice_id")))
        return [
            CatalogVoice(
                voice_id=_text(item.get("voice_id")),
                name=_text(item.get("name")) or _text(item.get("voice_id")),
                language=_text(item.get("language")) or _text(item.get("locale")),
                gender=_text(item.get("gender")),
                preview_url=_text(item.get("preview")),
            )
            for item in items
        ]

    async def list_languages(self) -> list[CatalogLanguage]:
        answer = await self._call("GET", LANGUAGE_LIST_PATH, idempotent=True)
        data = answer.get("data")
        raw = data.get("lang_list", data.get("result")) if isinstance(data, dict) else data
        if not isinstance(raw, list):
            raise UpstreamProtocolError("AKool's language list had no list of languages.")
        languages = []
        for item in raw:
            if isinstance(item, dict) and _text(item.get("lang_code")):
                code = _text(item.get("lang_code"))
                languages.append(
                    CatalogLanguage(code=code, name=_text(item.get("lang_name")) or code)
                )
        return languages

    # -- plumbing ---------------------------------------------------------------------------

    async def _paged(
        self,
        path: str,
        params: dict[str, Any],
        key: Callable[[dict[str, Any]], str],
    ) -> list[dict[str, Any]]:
        """Every item of a paginated AKool list, each once, in the upstream's order.

        Stops at a short page. An upstream that ignores `page` (the voice list may) answers
        the same page again: that also ends the walk instead of looping to MAX_PAGES.
        """
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        previous: list[str] | None = None
        for page in range(1, MAX_PAGES + 1):
            answer = await self._call(
                "GET", path, params={**params, "page": page, "size": PAGE_SIZE}, idempotent=True
            )
            batch = [item for item in _result_list(answer) if isinstance(item, dict)]
            keys = [key(item) for item in batch]
            if keys and keys == previous:
                break
            previous = keys
            for item, item_key in zip(batch, keys, strict=True):
                # Items without an id are useless to us; a duplicate shows up when the list
                # shifts between two page requests (a session ended meanwhile).
                if item_key and item_key not in seen:
                    seen.add(item_key)
                    items.append(item)
            if len(batch) < PAGE_SIZE:
                break
        else:
            logger.warning("AKool GET %s: stopped after %d pages", path, MAX_PAGES)
        return items

    async def _close_quietly(self, upstream_id: str) -> None:
        try:
            await self.close_session(upstream_id)
        except ProviderError as exc:
            logger.warning("AKool: could not close unusable session %s: %s", upstream_id, exc)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool,
    ) -> dict[str, Any]:
        """One authenticated API call; the successful body (code 1000) or a ProviderError."""
        headers, token = await self._auth_headers()
        try:
            return await self._send(method, path, params, body, headers, idempotent)
        except UpstreamRefused as exc:
            # A cached token can expire (AKool says after a year) or be revoked: fetch a new
            # one once. Safe even for create: a refused request did not start anything.
            if exc.upstream_code != TOKEN_INVALID or token is None:
                raise
            logger.info("AKool %s %s: token rejected (code 1101), fetching a new one", method, path)
            if self._token == token:
                self._token = None
            headers, token = await self._auth_headers()
            return await self._send(method, path, params, body, headers, idempotent)

    async def _auth_headers(self) -> tuple[dict[str, str], str | None]:
        """The auth header to send, and the cached token it uses (None with an API key)."""
        if self._api_key:
            return {"x-api-key": self._api_key}, None
        if not (self._client_id and self._client_secret):
            # No credentials at all: AKool answers 1102, which reaches the caller as a
            # refusal with AKool's own words rather than a guess of ours.
            return {}, None
        token = self._token or await self._fetch_token()
        return {"Authorization": f"Bearer {token}"}, token

    async def _fetch_token(self) -> str:
        loop = asyncio.get_running_loop()
        lock = self._token_locks.get(loop)
        if lock is None:
            lock = self._token_locks[loop] = asyncio.Lock()
        async with lock:
            # Whoever held the lock before us may have fetched it already.
            if self._token:
                return self._token
            credentials = {"clientId": self._client_id, "clientSecret": self._client_secret}
            answer = await self._send("POST", AUTH_PATH, None, credentials, {}, True)
            token = answer.get("token")
            data = answer.get("data")
            if not token and isinstance(data, dict):
                # Documented at the top level; accept it under data too, like every other call.
                token = data.get("token")
            if not isinstance(token, str) or not token:
                raise UpstreamProtocolError("AKool's token answer carried no token.")
            self._token = token
            return token

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        idempotent: bool,
    ) -> dict[str, Any]:
        attempts = 1 + self._retries if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._send_once(
                    method, path, params, body, headers, attempt=attempt, attempts=attempts
                )
            except _Retryable as exc:
                if attempt >= attempts:
                    raise exc.error from exc.error.__cause__
            # Exponential backoff with jitter, so many workers retrying after one upstream
            # hiccup do not all come back in the same instant.
            jitter = _JITTER.uniform(0, self._backoff / 4)
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1) + jitter)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        *,
        attempt: int,
        attempts: int,
    ) -> dict[str, Any]:
        started = time.monotonic()
        outcome = "ok"
        try:
            response = await self._request(method, path, params, body, headers)
            return self._interpret(response)
        except _Retryable as exc:
            outcome = exc.error.message
            raise
        except ProviderError as exc:
            outcome = exc.message
            raise
        finally:
            # Method, path and outcome only: headers and bodies carry credentials.
            logger.log(
                logging.INFO if outcome == "ok" else logging.WARNING,
                "AKool %s %s -> %s (%.0f ms, attempt %d/%d)",
                method,
                path,
                outcome,
                (time.monotonic() - started) * 1000,
                attempt,
                attempts,
            )

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        error: ProviderError
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        try:
            # A client per call: a pooled client is bound to the event loop that opened its
            # connections, and this provider is shared across loops.
            async with httpx.AsyncClient(
                base_url=self._base_url,
                timeout=self._timeout,
                transport=self._transport,
                verify=self._ssl_context,
            ) as client:
                call = client.request(method, path, params=params, json=body, headers=headers)
                return await asyncio.wait_for(call, self._deadline)
        # asyncio.TimeoutError, not the builtin: they differ on Python 3.10, which we support.
        except (httpx.TimeoutException, asyncio.TimeoutError) as exc:
            error = UpstreamTimeout(
                f"AKool did not answer within {self._read_timeout:g} seconds; try again shortly."
            )
            error.__cause__ = exc
            raise _Retryable(error) from exc
        except httpx.DecodingError as exc:
            error = UpstreamProtocolError("AKool's answer could not be decoded.")
            raise error from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            # Refused, reset or dropped connections: the next attempt may well get through.
            error = UpstreamUnavailable("AKool could not be reached; try again shortly.")
            error.__cause__ = exc
            raise _Retryable(error) from exc
        except httpx.RequestError as exc:
            # Proxy or URL scheme trouble: a configuration problem that retrying won't fix.
            raise UpstreamUnavailable(
                "AKool could not be reached (connection setup failed)."
            ) from exc

    def _interpret(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        body = _json_object(response.content)
        code = _numeric_code(body)
        # A JSON code says more than the HTTP status, so it wins even on a 4xx or 5xx; and a
        # refusal is an answer, never worth retrying.
        if code is not None and code != SUCCESS:
            raise UpstreamRefused(self._refusal_message(code, body), upstream_code=code)
        if status >= 500 or status == 429:
            raise _Retryable(ProviderError(f"AKool failed with HTTP {status}; try again shortly."))
        if not 200 <= status < 300:
            raise ProviderError(f"AKool answered with an unexpected HTTP {status}.")
        if body is None:
            raise UpstreamProtocolError("AKool's answer was not a JSON object.")
        if code is None:
            raise UpstreamProtocolError("AKool's answer carried no result code.")
        return body

    def _refusal_message(self, code: int, body: dict[str, Any] | None) -> str:
        msg = body.get("msg") if body else None
        text = self._redact(msg.strip()[:MAX_MSG_CHARS]) if isinstance(msg, str) else ""
        if text:
            return f"AKool refused the request: {text} (code {code})"
        return f"AKool refused the request (code {code})"

    def _redact(self, text: str) -> str:
        # Messages reach people and logs; should an upstream ever echo a credential, hide it.
        for secret in (self._api_key, self._client_secret, self._token):
            if secret:
                text = text.replace(secret, "[redacted]")
        return text


# -- parsing helpers (module level: they need no state) -------------------------------------


def _json_object(content: bytes) -> dict[str, Any] | None:
    if not content.strip():
        return None
    try:
        parsed = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _numeric_code(body: dict[str, Any] | None) -> int | None:
    code = body.get("code") if body else None
    # bool is an int in Python, but `true` is no result code.
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, float) and code.is_integer():
        return int(code)
    return None


def _data_object(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    if not isinstance(data, dict):
        raise UpstreamProtocolError("AKool's answer carried no data.")
    return data


def _result_list(answer: dict[str, Any]) -> list[Any]:
    """The items of one list page: `data.result` as documented, `data.list` or a bare list.

    The session list's field names are undocumented, so a page with a single list under
    another name is accepted too; guessing "empty" for a page that has items would make the
    reaper believe no session is live.
    """
    data = answer.get("data")
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("result", "list"):
            if isinstance(data.get(key), list):
                return data[key]
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
        # An empty page may come without its list, but not one that counts items.
        if not lists and not data.get("count") and not data.get("total"):
            return []
    raise UpstreamProtocolError("AKool's list answer carried no list.")


def _session_key(item: dict[str, Any]) -> str:
    return _text(item.get("_id", item.get("id")))


def _parse_session(data: dict[str, Any]) -> UpstreamSession:
    session_id = _session_key(data)
    if not session_id:
        raise UpstreamProtocolError("AKool's session answer carried no session id.")
    status = data.get("status", 1)
    if isinstance(status, str) and re.fullmatch(r"\s*[0-9]{1,3}\s*", status):
        status = int(status)  # ASCII digits only: "²".isdigit() is true, int("²") fails
    if not isinstance(status, int) or isinstance(status, bool):
        # A wrong guess here would make us treat an ended session as live or the reverse.
        raise UpstreamProtocolError("AKool's session answer carried no valid status.")
    return UpstreamSession(
        id=session_id,
        status=status,
        rtc=_parse_rtc(data),
        created_at=_parse_created_at(data),
        raw=data,
    )


def _parse_created_at(data: dict[str, Any]) -> datetime | None:
    """The session's creation time (aware, UTC) from the first key that holds a readable one,
    else None: a wrong guess only costs the reaper a match, so this never raises."""
    for key in CREATED_AT_KEYS:
        moment = _parse_moment(data.get(key))
        if moment is not None:
            return moment
    return None


def _parse_moment(value: Any) -> datetime | None:
    """Unix seconds or milliseconds (numbers or numeric strings) or ISO-8601 (naive = UTC)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = float(text)
            except ValueError:
                # Python 3.10's fromisoformat does not read "Z" (3.11's does).
                if text[-1:] in ("Z", "z"):
                    text = text[:-1] + "+00:00"
                moment = datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
                return _plausible(moment.astimezone(timezone.utc))
        if not isinstance(value, int | float) or value != value:  # NaN is no time
            return None
        seconds = value / 1000 if value > MILLISECONDS_ABOVE else value
        return _plausible(datetime.fromtimestamp(seconds, tz=timezone.utc))
    except (ValueError, OverflowError, OSError):
        return None


def _plausible(moment: datetime) -> datetime | None:
    return moment if PLAUSIBLE_YEARS[0] <= moment.year < PLAUSIBLE_YEARS[1] else None


def _parse_rtc(data: dict[str, Any]) -> RtcCredentials | None:
    credentials = data.get("credentials")
    if not isinstance(credentials, dict):
        return None
    app_id = _text(credentials.get("agora_app_id"))
    channel = _text(credentials.get("agora_channel"))
    token = _text(credentials.get("agora_token"))
    uid = credentials.get("agora_uid")
    if not (app_id and channel and token) or uid in (None, "") or isinstance(uid, bool):
        return None
    if not isinstance(uid, int | str):
        uid = str(uid)
    return RtcCredentials(provider="agora", app_id=app_id, channel=channel, token=token, uid=uid)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _flag(value: Any, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)
