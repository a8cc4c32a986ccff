"""The one interface every avatar provider implements, and the errors it raises.

The rest of the app only ever talks to a provider through these types, so the
sandbox and AKool stay interchangeable and tests can fake exactly one seam.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol


class ProviderError(Exception):
    """An upstream failure, carried to the user with a fitting HTTP status.

    `code` is our snake_case error code, `message` is for a person (AKool's own
    `msg` is included when there was one), `status` is the HTTP status the API
    answers with: 502 for a refusal or a broken answer, 503 when the upstream
    cannot be reached, 504 when it did not answer in time.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "upstream_error",
        status: int = 502,
        upstream_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.upstream_code = upstream_code


class UpstreamRefused(ProviderError):
    """The upstream answered with a non-success `code` (AKool: anything but 1000)."""

    def __init__(self, message: str, *, upstream_code: int | None = None) -> None:
        code = "upstream_auth_failed" if upstream_code in (1101, 1102, 1200) else "upstream_refused"
        super().__init__(message, code=code, status=502, upstream_code=upstream_code)


class UpstreamProtocolError(ProviderError):
    """The upstream's answer was not what its protocol promises (bad JSON, no code...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="upstream_bad_response", status=502)


class UpstreamUnavailable(ProviderError):
    """The upstream could not be reached (connection refused, DNS, reset)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="upstream_unavailable", status=503)


class UpstreamTimeout(ProviderError):
    """The upstream did not answer within our timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="upstream_timeout", status=504)


# The RTC networks AKool streams on (`stream_type`), with the names people know them by.
NETWORKS = {"agora": "Agora", "livekit": "LiveKit", "trtc": "TRTC"}


@dataclass(frozen=True)
class AgoraRtc:
    """Agora's join fields (AKool's `agora_*` credentials)."""

    provider: ClassVar[str] = "agora"
    app_id: str
    channel: str
    token: str
    uid: int | str


@dataclass(frozen=True)
class LiveKitRtc:
    """LiveKit's join fields: the page joins `url` with `token`; `avatar_identity` is the
    participant that is the avatar (AKool's `livekit_server_identity`)."""

    provider: ClassVar[str] = "livekit"
    url: str
    token: str
    room: str = ""
    identity: str = ""
    avatar_identity: str = ""


@dataclass(frozen=True)
class TrtcRtc:
    """TRTC's join fields (AKool's `trtc_sdk_*` or `trtc_*` credentials)."""

    provider: ClassVar[str] = "trtc"
    app_id: int | str
    room: int | str
    user_id: str
    user_sig: str


@dataclass(frozen=True)
class SandboxRtc:
    """The sandbox avatar's socket; `network` is the one whose limits and page it plays."""

    provider: ClassVar[str] = "sandbox"
    channel: str
    token: str
    uid: int
    network: str


# What the browser needs to join the avatar's data stream (and nothing more), per network:
# `rtc_dict` gives the page's `rtc` (DESIGN.md "Transports").
RtcCredentials = AgoraRtc | LiveKitRtc | TrtcRtc | SandboxRtc


def rtc_dict(rtc: RtcCredentials | None) -> dict[str, Any]:
    return {} if rtc is None else {"provider": rtc.provider, **asdict(rtc)}


@dataclass(frozen=True)
class UpstreamSession:
    id: str
    # AKool's numeric status: 1 queueing, 2 processing (live), 3 completed, 4 failed.
    status: int
    rtc: RtcCredentials | None = None
    # When the upstream made the session (aware, UTC), if its answer said so: the reaper
    # matches unknown live sessions to creates of ours whose answer never came by it.
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_live(self) -> bool:
        return self.status in (1, 2)


@dataclass(frozen=True)
class CatalogAvatar:
    avatar_id: str
    name: str
    thumbnail_url: str = ""
    voice_id: str = ""
    gender: str = ""
    available: bool = True


@dataclass(frozen=True)
class CatalogVoice:
    voice_id: str
    name: str
    language: str = ""
    gender: str = ""
    preview_url: str = ""


@dataclass(frozen=True)
class CatalogLanguage:
    code: str
    name: str


@dataclass(frozen=True)
class CatalogKnowledge:
    """A knowledge base as the upstream lists it (AKool's `knowledge_id` for sessions)."""

    knowledge_id: str
    name: str
    prologue: str = ""  # the avatar's opening line
    prompt: str = ""  # its instructions
    doc_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnowledgeRequest:
    """A knowledge base to create upstream: a name, an opening line, instructions and the
    URLs of its documents."""

    name: str
    prologue: str = ""
    prompt: str = ""
    doc_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionRequest:
    """What we ask the upstream for when creating a session."""

    avatar_id: str
    duration: int
    voice_id: str = ""
    language: str = ""
    mode: int = 2
    background_url: str = ""
    knowledge_id: str = ""
    voice_params: dict[str, Any] = field(default_factory=dict)
    voice_url: str = ""
    stream_type: str = "agora"  # one of NETWORKS


class Provider(Protocol):
    name: str

    async def create_session(self, request: SessionRequest) -> UpstreamSession: ...

    async def close_session(self, upstream_id: str) -> None: ...

    async def session_detail(self, upstream_id: str) -> UpstreamSession: ...

    async def list_sessions(self, status: int | None = None) -> list[UpstreamSession]: ...

    async def list_avatars(self) -> list[CatalogAvatar]: ...

    async def list_voices(self) -> list[CatalogVoice]: ...

    async def list_languages(self) -> list[CatalogLanguage]: ...

    async def list_knowledge(self) -> list[CatalogKnowledge]: ...

    async def create_knowledge(self, request: KnowledgeRequest) -> str:
        """Create a knowledge base upstream; its id (never retried: not idempotent)."""
        ...
