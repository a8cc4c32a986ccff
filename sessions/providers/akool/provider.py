"""AkoolProvider: base.Provider's calls (sessions and the catalog) on AKool's open API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from sessions.providers.akool import knowledge
from sessions.providers.akool.http import AkoolHttp
from sessions.providers.akool.parsing import (
    avatar_key,
    data_object,
    parse_avatar,
    parse_languages,
    parse_rtc,
    parse_session,
    parse_voice,
    result_list,
    session_key,
    session_network,
    voice_key,
)
from sessions.providers.base import (
    NETWORKS,
    CatalogAvatar,
    CatalogKnowledge,
    CatalogLanguage,
    CatalogVoice,
    KnowledgeRequest,
    ProviderError,
    SessionRequest,
    UpstreamProtocolError,
    UpstreamSession,
)

logger = logging.getLogger("avatarsite.akool")

SESSION_CREATE_PATH = "/api/open/v4/liveAvatar/session/create"
SESSION_CLOSE_PATH = "/api/open/v4/liveAvatar/session/close"
SESSION_DETAIL_PATH = "/api/open/v4/liveAvatar/session/detail"
SESSION_LIST_PATH = "/api/open/v4/liveAvatar/session/list"
AVATAR_LIST_PATH = "/api/open/v4/liveAvatar/avatar/list"
VOICE_LIST_PATH = "/api/open/v4/voice/list"
LANGUAGE_LIST_PATH = "/api/open/v3/language/list"

# AKool's lists accept at most 100 items a page.
PAGE_SIZE = 100
# A bound on pagination, so an upstream that never returns a short page cannot keep us
# looping: 50 pages of 100 is far more than any account's avatars or live sessions.
MAX_PAGES = 50


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
        self._http = AkoolHttp(
            base_url=base_url,
            api_key=api_key,
            client_id=client_id,
            client_secret=client_secret,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        # The longest one request can last: a create we gave up on made nothing after it.
        self.request_deadline = self._http.deadline

    def __repr__(self) -> str:
        # Spelled out so that no credential ever shows up in a repr, a debugger or a log.
        return f"<AkoolProvider {self._http.base_url} auth={self._http.auth}>"

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
            "voice_url": request.voice_url,
            "stream_type": request.stream_type,
        }
        # AKool reads an empty string as a value (e.g. an empty voice_id), so leave them out.
        body.update({key: value for key, value in optional.items() if value})
        # Never retried: a create that timed out may still have started (and billed) a
        # session; the reaper reconciles such orphans with the upstream list instead.
        answer = await self._http.call("POST", SESSION_CREATE_PATH, body=body, idempotent=False)
        data = data_object(answer)
        session = parse_session(data, request.stream_type)
        problem = _unusable(data, request.stream_type)
        if problem:
            # A session we cannot join still runs and bills until its duration ends.
            await self._close_quietly(session.id)
            raise UpstreamProtocolError(problem)
        return session

    async def close_session(self, upstream_id: str) -> None:
        # AKool's schema and demo send `id`, its examples and LiveKit plugin `session_id`.
        body = {"id": upstream_id, "session_id": upstream_id}
        await self._http.call("POST", SESSION_CLOSE_PATH, body=body, idempotent=True)

    async def session_detail(self, upstream_id: str) -> UpstreamSession:
        answer = await self._http.call(
            "GET", SESSION_DETAIL_PATH, params={"id": upstream_id}, idempotent=True
        )
        return parse_session(data_object(answer))

    async def list_sessions(self, status: int | None = None) -> list[UpstreamSession]:
        params: dict[str, Any] = {} if status is None else {"status": status}
        items = await self._paged(SESSION_LIST_PATH, params, session_key)
        sessions = []
        for item in items:
            try:
                sessions.append(parse_session(item))
            except UpstreamProtocolError as exc:
                # One garbled entry must not hide the others from the reconciliation.
                logger.warning("AKool listed a session we cannot read: %s", exc.message)
        return sessions

    # -- catalog ----------------------------------------------------------------------------

    async def list_avatars(self) -> list[CatalogAvatar]:
        items = await self._paged(AVATAR_LIST_PATH, {}, avatar_key)
        return [parse_avatar(item) for item in items]

    async def list_voices(self) -> list[CatalogVoice]:
        # support_stream=1: only voices the live avatar can speak; type=2: AKool's own voices.
        params = {"support_stream": 1, "type": 2}
        items = await self._paged(VOICE_LIST_PATH, params, voice_key)
        return [parse_voice(item) for item in items]

    async def list_languages(self) -> list[CatalogLanguage]:
        answer = await self._http.call("GET", LANGUAGE_LIST_PATH, idempotent=True)
        return parse_languages(answer)

    # -- knowledge bases --------------------------------------------------------------------

    async def list_knowledge(self) -> list[CatalogKnowledge]:
        # `data.knowledge_list[]`: the page's one list, as result_list reads it.
        items = await self._paged(knowledge.KNOWLEDGE_LIST_PATH, {}, knowledge.knowledge_key)
        return [knowledge.parse_knowledge(item) for item in items]

    async def create_knowledge(self, request: KnowledgeRequest) -> str:
        # Never retried: a create that timed out may have made the knowledge base.
        answer = await self._http.call(
            "POST",
            knowledge.KNOWLEDGE_CREATE_PATH,
            body=knowledge.create_body(request),
            idempotent=False,
        )
        return knowledge.created_id(answer)

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
            answer = await self._http.call(
                "GET", path, params={**params, "page": page, "size": PAGE_SIZE}, idempotent=True
            )
            batch = [item for item in result_list(answer) if isinstance(item, dict)]
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


def _unusable(data: dict[str, Any], asked: str) -> str:
    """Why a create answer cannot be joined on the network asked for ("" when it can)."""
    network = session_network(data, asked)
    if network not in NETWORKS:
        return f"AKool created the session on a network we do not know ({network[:40]!r})."
    if network != asked:
        return (
            f"AKool created the session on {NETWORKS[network]}, not on the"
            f" {NETWORKS.get(asked, asked)} it was asked for."
        )
    if parse_rtc(data, network) is None:
        return (
            f"AKool created the session but sent no usable {NETWORKS[network]}"
            " credentials to join it."
        )
    return ""
