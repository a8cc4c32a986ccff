"""One authenticated request to AKool's open API, its retries, and the reading of its answer.

Every AKool answer is `{"code", "msg", "data"}` and only `code == 1000` is success, whatever
the HTTP status says, so each answer is read in one place (`AkoolHttp._interpret`) and turned
into either a body or one of base.py's errors. No credential reaches a message, repr or log
line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
import weakref
from typing import Any

import httpx

from sessions import redaction
from sessions.operations import metrics
from sessions.providers.base import (
    ProviderError,
    UpstreamProtocolError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("avatarsite.akool")

AUTH_PATH = "/api/open/v3/getToken"

# OS entropy: nothing (a test's random.seed(), identical seeds in forked workers) can make
# the jitter of several processes line up again.
_JITTER = random.SystemRandom()

SUCCESS = 1000
TOKEN_INVALID = 1101
# AKool's `msg` is shown to people; a runaway one should not flood a page or a log line.
MAX_MSG_CHARS = 300


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix (network, timeout, 5xx/429).

    It carries the error to raise when no attempt is left, so the retry loop stays the only
    place that decides whether to try again.
    """

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


class AkoolHttp:
    """AKool's API at one base URL, authenticated by API key or by client id/secret."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        client_id: str,
        client_secret: str,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
        backoff: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client_id = client_id
        self._client_secret = client_secret
        # httpx's read timeout bounds each read, not the whole answer; the total deadline
        # also stops an upstream that trickles a byte at a time from holding a call forever.
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.deadline = connect_timeout + 2 * read_timeout
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

    @property
    def auth(self) -> str:
        """How calls authenticate, named without the credential itself."""
        return "api_key" if self._api_key else "client_id" if self._client_id else "none"

    def __repr__(self) -> str:
        # Spelled out so that no credential ever shows up in a repr, a debugger or a log.
        return f"<AkoolHttp {self.base_url} auth={self.auth}>"

    async def call(
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
            metrics.upstream_call(path, started, failed=outcome != "ok")
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
            # connections, and this object is shared across loops.
            async with httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self._timeout,
                transport=self._transport,
                verify=self._ssl_context,
            ) as client:
                call = client.request(method, path, params=params, json=body, headers=headers)
                return await asyncio.wait_for(call, self.deadline)
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
        # Redact first, then cut: a key across the cut must not leave its prefix behind.
        text = self._redact(msg.strip(), MAX_MSG_CHARS) if isinstance(msg, str) else ""
        if text:
            return f"AKool refused the request: {text} (code {code})"
        return f"AKool refused the request (code {code})"

    def _redact(self, text: str, limit: int) -> str:
        # Messages reach people and logs; should an upstream ever echo a credential, hide it.
        secrets = (self._api_key, self._client_secret, self._token)
        return redaction.redact_and_cut(text, secrets, limit)


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
